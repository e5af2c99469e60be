"""Files the project ships beside its code: schemas, build scripts, the specification.

A source checkout holds them at the top level (``schemas/``, ``scripts/``, ``docs/spec.md``); an
installed wheel holds the same paths under the ``eppconf`` package (see the wheel's
``force-include`` in ``pyproject.toml``).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
ROOTS = (_PACKAGE_DIR, _PACKAGE_DIR.parent)
"""Where shipped files are looked for: the installed package first, then the source checkout."""


def resource(relative: str) -> Path:
    """The shipped file or folder at ``relative`` (e.g. ``scripts/build-gie-epp.sh``).

    ``FileNotFoundError`` names every place looked in.
    """
    for root in ROOTS:
        candidate = root / relative
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{relative} not found in {' or '.join(str(root) for root in ROOTS)}")
