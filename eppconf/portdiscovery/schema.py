"""Locating and loading the JSON Schema of the port-discovery annotation.

The schema lives in the top-level ``schemas/`` folder of a source checkout and in
``eppconf/schemas/`` inside an installed wheel.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_FILE = "port-discovery.schema.json"
_CANDIDATES = (
    Path(__file__).resolve().parents[1] / "schemas",  # installed wheel: eppconf/schemas
    Path(__file__).resolve().parents[2] / "schemas",  # source checkout: <repo>/schemas
)


def schemas_dir() -> Path:
    """The folder holding the schema and its test vectors; FileNotFoundError names both places."""
    for candidate in _CANDIDATES:
        if (candidate / SCHEMA_FILE).is_file():
            return candidate
    raise FileNotFoundError(f"{SCHEMA_FILE} not found in {' or '.join(str(c) for c in _CANDIDATES)}")


@cache
def load_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a parsed port-discovery annotation value."""
    return json.loads((schemas_dir() / SCHEMA_FILE).read_text(encoding="utf-8"))
