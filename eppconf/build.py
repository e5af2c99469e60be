"""``eppconf build TARGET [ARGS...]``: build a Go program the suite runs, with the script shipped in eppconf.

The scripts (``scripts/build-*.sh`` of a checkout, ``eppconf/scripts/`` of a wheel) fetch the
sources through the Go module proxy, build them with Go and cache the result under
``$EPPCONF_CACHE`` (default ``~/.cache/eppconf``); progress goes to stderr, and the path built
is printed on the last line of stdout.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from eppconf.resources import resource

TARGETS: dict[str, tuple[str, str]] = {
    "control-plane": ("build-control-plane.sh", "etcd and kube-apiserver for the local control plane"),
    "gie-epp": ("build-gie-epp.sh", "GIE's EPP (ARGS: [VERSION [COMMAND]], default v1.5.0 epp)"),
    "inference-sim": ("build-inference-sim.sh", "llm-d-inference-sim, the reference vLLM simulator"),
}
"""Build target -> (script, what it builds)."""


def script(target: str) -> Path:
    """The shipped build script of ``target``."""
    return resource(f"scripts/{TARGETS[target][0]}")


def build_command(target: str, *args: str) -> str:
    """The command line a user types to build ``target``."""
    return " ".join(("eppconf", "build", target, *args))


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the target and the arguments passed on to its script."""
    parser.add_argument("target", choices=TARGETS, metavar="TARGET",
                        help="; ".join(f"{name}: {what}" for name, (_, what) in TARGETS.items()))
    parser.add_argument("script_args", nargs="*", metavar="ARGS", help="passed on to the build script")


def run(args: argparse.Namespace) -> int:
    """Run the target's script; its exit code is ours."""
    return subprocess.run(["bash", str(script(args.target)), *args.script_args], check=False).returncode
