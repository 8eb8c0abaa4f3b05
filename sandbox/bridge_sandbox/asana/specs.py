"""Load the Asana schemas the simulator checks against, kept in this package.

``schemas/app_components.json`` and ``schemas/rest.json`` are subsets of Asana's official
OpenAPI files (github.com/Asana/openapi, ``defs/app_components_oas.yaml`` and
``defs/asana_oas.yaml``): the schemas the validator and the tests name, and what they
reference. Each file says which upstream file (and its sha256) it came from;
``scripts/extract-asana-schemas`` regenerates them. Nothing here reads outside the package.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

SCHEMAS = Path(__file__).resolve().parent / "schemas"

# The upstream file name (as the validator names a spec) -> the subset kept here.
FILES = {
    "app_components_oas.yaml": "app_components.json",
    "asana_oas.yaml": "rest.json",
}


@functools.lru_cache(maxsize=4)
def load_spec(name: str = "app_components_oas.yaml") -> dict:
    """``{"source", "components": {"schemas": {...}}}`` for one of :data:`FILES`."""
    if name not in FILES:
        raise KeyError(f"no Asana schemas kept for {name!r}; one of {sorted(FILES)}")
    return json.loads((SCHEMAS / FILES[name]).read_text(encoding="utf-8"))
