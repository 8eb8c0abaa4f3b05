"""Locate and load the shared Asana specs in place (they are never copied into the repo).

The ``shared`` folder sits beside the repository root (``/work/shared`` next to
``/work/main``; CI places a copy the same way). ``BRIDGE_SHARED_DIR`` overrides it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import yaml


def shared_dir() -> Path:
    override = os.environ.get("BRIDGE_SHARED_DIR")
    if override:
        return Path(override)
    import bridge

    return Path(bridge.__file__).resolve().parents[1].parent / "shared"


def spec_path(name: str) -> Path:
    return shared_dir() / "specs" / "asana" / name


@functools.lru_cache(maxsize=4)
def load_spec(name: str = "app_components_oas.yaml") -> dict:
    path = spec_path(name)
    if not path.is_file():
        raise FileNotFoundError(
            f"Asana spec not found at {path}; set BRIDGE_SHARED_DIR to the shared folder"
        )
    with path.open("rb") as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
