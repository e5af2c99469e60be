"""Every rule of docs/spec.md is cited by at least one test or test vector."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_rule_is_cited() -> None:
    rules = re.findall(r"^\*\*(PD-\d+) ", (ROOT / "docs" / "spec.md").read_text(), flags=re.MULTILINE)
    assert rules == [f"PD-{n}" for n in range(1, len(rules) + 1)], "rule IDs are numbered in order"
    cited = "\n".join(path.read_text() for folder in ("tests/portdiscovery", "tests/datastore")
                      for path in (ROOT / folder).glob("test_*.py") if path.name != Path(__file__).name)
    cited += (ROOT / "schemas" / "vectors" / "port-discovery-invalid.json").read_text()
    cited += (ROOT / "schemas" / "vectors" / "port-discovery-valid.json").read_text()
    citations = {f"PD-{n}" for n in re.findall(r"(?:PD-|pd)(\d+)", cited)}
    assert [rule for rule in rules if rule not in citations] == []
