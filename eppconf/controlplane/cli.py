"""``eppconf control-plane up|down|env``: a detached local control plane for manual use.

``up`` starts etcd and kube-apiserver so that they outlive the command and records
them in ``<state-dir>/state.json``; ``env`` prints ``export KUBECONFIG=...``; ``down``
stops the recorded processes (by pid, after checking the pid still runs the recorded
binary) and removes the state dir.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from eppconf.controlplane.binaries import BIN_DIR_FLAG, BinariesNotFound, cache_root, find_binaries
from eppconf.controlplane.controlplane import ControlPlane, ControlPlaneError
from eppconf.controlplane.process import ProcessStartError, runs_executable, stop_detached

STATE_FILE = "state.json"


def default_state_dir() -> Path:
    """``<cache>/control-plane/state``."""
    return cache_root() / "control-plane" / "state"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the ``up``, ``down`` and ``env`` actions."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="start a detached control plane")
    up.add_argument(BIN_DIR_FLAG, type=Path, default=None, metavar="DIR",
                    help="directory with etcd and kube-apiserver (default: KUBEBUILDER_ASSETS, then the cache)")
    up.add_argument("--build", action="store_true",
                    help="build the binaries with Go when neither flag, variable nor cache provides them")
    actions.add_parser("down", help="stop the recorded control plane and remove its state")
    actions.add_parser("env", help="print the shell line exporting KUBECONFIG")
    for action in actions.choices.values():
        action.add_argument("--state-dir", type=Path, default=None, metavar="DIR",
                            help=f"where state, certificates and logs live (default: {default_state_dir()})")


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; 0 on success, 1 with a message on stderr otherwise."""
    state_dir = (args.state_dir or default_state_dir()).resolve()
    action = {"up": _up, "down": _down, "env": _env}[args.action]
    try:
        return action(args, state_dir)
    except (BinariesNotFound, ControlPlaneError, ProcessStartError, _StateError) as error:
        print(f"eppconf control-plane {args.action}: {error}", file=sys.stderr)
        return 1


class _StateError(RuntimeError):
    """The state dir does not allow the requested action."""


def _up(args: argparse.Namespace, state_dir: Path) -> int:
    if (state_dir / STATE_FILE).exists():
        raise _StateError(f"{state_dir} already records a control plane; run `eppconf control-plane down` first")
    if state_dir.exists() and any(state_dir.iterdir()):
        raise _StateError(f"{state_dir} is not empty; choose another --state-dir or run `down` to clear it")
    bin_dir = find_binaries(args.control_plane_bin_dir, build=args.build)
    plane = ControlPlane(bin_dir, work_dir=state_dir, detached=True)
    try:
        plane.start()
    except ProcessStartError as error:
        raise _StateError(f"{error}\n(logs kept in {state_dir / 'logs'}; `down` removes them)") from error
    state = {
        "server_url": plane.server_url,
        "kubeconfig": str(plane.admin_kubeconfig),
        "processes": [
            {"name": process.name, "pid": process.pid, "executable": process.argv[0]} for process in plane.processes
        ],
    }
    (state_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
    print(f"control plane up at {state['server_url']}")
    print(f"kubeconfig: {state['kubeconfig']}")
    print("use it with: eval \"$(eppconf control-plane env" + _state_flag(args) + ")\"")
    return 0


def _state_flag(args: argparse.Namespace) -> str:
    return f" --state-dir {args.state_dir}" if args.state_dir else ""


def _read_state(state_dir: Path) -> dict[str, Any]:
    path = state_dir / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise _StateError(f"no control plane recorded in {state_dir} (run `eppconf control-plane up`)") from None
    except ValueError as error:
        raise _StateError(f"{path}: not valid JSON ({error}); remove {state_dir} by hand") from error
    if not isinstance(state, dict) or not isinstance(state.get("processes"), list):
        raise _StateError(f"{path}: unexpected content; remove {state_dir} by hand")
    return state


def _down(args: argparse.Namespace, state_dir: Path) -> int:
    if not state_dir.exists():
        raise _StateError(f"no control plane recorded in {state_dir}")
    state = _read_state(state_dir) if (state_dir / STATE_FILE).exists() else {"processes": []}
    for process in reversed(state["processes"]):
        if stop_detached(int(process["pid"]), executable=str(process["executable"])):
            print(f"stopped {process['name']} (pid {process['pid']})")
    shutil.rmtree(state_dir)
    print(f"removed {state_dir}")
    return 0


def _env(args: argparse.Namespace, state_dir: Path) -> int:
    state = _read_state(state_dir)
    dead = [p["name"] for p in state["processes"] if not runs_executable(int(p["pid"]), str(p["executable"]))]
    if dead:
        raise _StateError(f"recorded {', '.join(dead)} no longer running; run `eppconf control-plane down`")
    print(f"export KUBECONFIG={state['kubeconfig']}")
    return 0
