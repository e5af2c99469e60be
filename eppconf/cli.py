"""The ``eppconf`` command: one entry point, one subcommand per component.

Each subcommand lives in the module of its component, which exposes
``configure(parser)`` to declare its arguments and ``run(args) -> int`` to act
(0 success, 1 something checked was wrong, 2 usage error); a pass-through subcommand
(``PASS_THROUGH``) hands the rest of the command line to ``run_argv``. Modules are imported
only when their subcommand is named, so ``eppconf validate`` does not pay for
gRPC or aiohttp.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from eppconf import __version__

#: subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("eppconf.portdiscovery.cli", "validate port-discovery annotations"),
    "fake-server": ("fakes.modelserver.cli", "run fake vLLM model servers on one or many ports"),
    "fake-launcher": ("fakes.launcher.cli", "run a fake FMA launcher"),
    "agent": ("conformance.harness.incluster.agent",
              "run the in-cluster agent: an HTTP forward proxy with CONNECT tunnels to pod IPs"),
    "reference-epp": ("eppconf.refepp.cli", "run the reference Endpoint Picker"),
    "control-plane": ("eppconf.controlplane.cli", "start, stop or describe a local control plane"),
    "build": ("eppconf.build", "build a Go program the suite runs (control plane, GIE's EPP, simulator)"),
    "conformance": ("eppconf.conformance_cli", "run the conformance suite: `pytest conformance` with the same options"),
}
PASS_THROUGH = frozenset({"conformance"})
"""Subcommands whose module takes the rest of the command line as is: ``run_argv(argv) -> int``."""


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The top-level parser; only the subcommand named in ``argv`` is configured."""
    parser = argparse.ArgumentParser(prog="eppconf", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"eppconf {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(_module=module_name)
        if name in argv and name not in PASS_THROUGH:
            importlib.import_module(module_name).configure(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in PASS_THROUGH:
        return int(importlib.import_module(SUBCOMMANDS[argv[0]][0]).run_argv(argv[1:]))
    args = build_parser(argv).parse_args(argv)
    return int(importlib.import_module(args._module).run(args))
