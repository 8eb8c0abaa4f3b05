"""Where the upstream documents are, for the extra, stricter layer of tests.

The repository carries what its tests need (schemas under sandbox/, vectors in
tests/vectors/). Beside it, a developer or CI may have the folder of upstream documents
(Asana's and Atlassian's full API specifications, vectors made by other implementations):
``../shared`` next to the repository, or ``$BRIDGE_SHARED_DIR``. Tests marked ``upstream``
check against it; without it they are skipped with :data:`REASON` (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BRIDGE_SHARED_DIR") or ROOT.parent / "shared")
REASON = (f"upstream layer: no upstream documents at {SHARED} (put them beside the "
          "repository as ../shared or set BRIDGE_SHARED_DIR)")
VECTORS = ROOT / "tests" / "vectors"


def available() -> bool:
    return SHARED.is_dir()


def shared_json(*parts: str):
    return json.loads(SHARED.joinpath(*parts).read_text(encoding="utf-8"))


def vectors(name: str) -> dict:
    """The repository's own vectors (tests/vectors/NAME), with the test key filled in."""
    data = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    if "private_key_file" in data:
        data["private_key_pem"] = (VECTORS / data["private_key_file"]).read_text()
    return data
