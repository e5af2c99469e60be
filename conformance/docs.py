"""The generated parts of docs/conformance.md: the options table and the catalogue table.

``python -m conformance.docs`` rewrites them in place from ``conformance.options`` and the
registry (``conformance.suite.SUITE``); ``--check`` only says whether they are current (exit 1 if
not). Each part sits between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path

from conformance.catalogue import Registry
from conformance.harness.settings import ObserverSettings
from conformance.options import CONFIG_FLAG, FLAGS, option_key, shown_default

DOC = Path(__file__).resolve().parents[1] / "docs" / "conformance.md"
"""The document in a source checkout."""


def options_table() -> str:
    """One row per flag, then the options file and the observer's keys."""
    rows = ["| flag | options-file key | default | meaning |", "| --- | --- | --- | --- |"]
    for option, flag in FLAGS.items():
        repeat = " (repeatable, comma-separated)" if flag.many else ""
        default = shown_default(option)
        rows.append(f"| `{_cell(f'{flag.name} {flag.metavar}'.strip())}`{repeat} | `{option_key(option)}` |"
                    f" {f'`{default}`' if default else '-'} | {_cell(flag.help)} |")
    observer = ", ".join(f"`{option_key(f.name)}` ({f.default:g})" if isinstance(f.default, float)
                         else f"`{option_key(f.name)}` ({f.default})" for f in fields(ObserverSettings))
    rows.append(f"| - | `observer.KEY` | see meaning | endpoint observer timing (conformance/harness/settings.py):"
                f" {observer} |")
    rows.append(f"| `{CONFIG_FLAG} FILE` | - | - | YAML file of the keys above (nested: `implementation:`,"
                " `observer:`); flags override it |")
    return "\n".join(rows)


def catalogue_table(registry: Registry) -> str:
    """One row per catalogue test, in run order."""
    rows = ["| test | features | spec rules | checks | faults it catches |", "| --- | --- | --- | --- | --- |"]
    for test in registry:
        name = (f"`{test.name}`" + (" (provisional)" if test.provisional else "")
                + (" (virtual pods only)" if test.virtual_pods_only else ""))
        rows.append(f"| {name} | {', '.join(sorted(test.features))} | {', '.join(test.rules)} |"
                    f" {_cell(test.description)} | {', '.join(f'`{fault}`' for fault in test.faults)} |")
    return "\n".join(rows)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _parts() -> dict[str, Callable[[], str]]:
    from conformance.suite import SUITE

    return {"options": options_table, "catalogue": lambda: catalogue_table(SUITE)}


def _filled_with(content: str) -> Callable[[re.Match[str]], str]:
    """A ``re.sub`` replacement keeping a block's two marker lines around ``content``."""
    return lambda match: f"{match.group(1)}{content}\n{match.group(2)}"


def render(text: str) -> str:
    """``text`` with every generated part replaced by its current content."""
    for name, make in _parts().items():
        pattern = re.compile(rf"(<!-- generated: {name} -->\n).*?(<!-- end: {name} -->)", re.DOTALL)
        if not pattern.search(text):
            raise ValueError(f"no '<!-- generated: {name} -->' ... '<!-- end: {name} -->' block")
        text = pattern.sub(_filled_with(make()), text)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.docs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the document is stale; write nothing")
    parser.add_argument("path", nargs="?", type=Path, default=DOC, help=f"the document (default: {DOC})")
    args = parser.parse_args(argv)
    current = args.path.read_text(encoding="utf-8")
    fresh = render(current)
    if args.check:
        if fresh != current:
            print(f"{args.path} is stale; run: python -m conformance.docs", file=sys.stderr)
            return 1
        return 0
    args.path.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
