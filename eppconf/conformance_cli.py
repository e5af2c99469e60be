"""``eppconf conformance [pytest options]``: the conformance suite, as ``pytest conformance`` runs it.

Every option of ``pytest conformance`` works here too (``eppconf conformance --help`` lists them
in the group ``eppconf conformance``); the exit code is pytest's. This module lives outside the
``conformance`` package and does not import it: pytest rewrites the suite's asserts only in
modules it imports itself.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

SUITE_WORD = "conformance"
"""The package, and the word the plugin maps to it."""


def suite_argument(invocation_dir: Path) -> str:
    """What names the installed suite on pytest's command line run from ``invocation_dir``: the
    word ``conformance`` (the plugin maps it) unless that dir has another ``conformance``."""
    spec = importlib.util.find_spec(SUITE_WORD)  # finds the package without importing it
    assert spec is not None and spec.submodule_search_locations, "eppconf is installed without its suite"
    package = Path(spec.submodule_search_locations[0]).resolve()
    local = invocation_dir / SUITE_WORD
    return SUITE_WORD if not local.exists() or local.resolve() == package else str(package)


def run_argv(argv: Sequence[str]) -> int:
    """Run the suite with ``argv`` as pytest options."""
    import pytest

    return int(pytest.main([suite_argument(Path.cwd()), *argv]))
