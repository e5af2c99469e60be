"""Locating and loading the JSON Schema of the port-discovery annotation.

The schema is a shipped file (``eppconf.resources``): ``schemas/`` of a source checkout,
``eppconf/schemas/`` of an installed wheel.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from eppconf.resources import resource

SCHEMA_FILE = "port-discovery.schema.json"


def schemas_dir() -> Path:
    """The folder holding the schema and its test vectors; FileNotFoundError names both places."""
    return resource(f"schemas/{SCHEMA_FILE}").parent


@cache
def load_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a parsed port-discovery annotation value."""
    return json.loads((schemas_dir() / SCHEMA_FILE).read_text(encoding="utf-8"))
