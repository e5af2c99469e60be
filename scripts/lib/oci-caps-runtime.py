#!/usr/bin/python3
"""An OCI runtime in front of ``runc`` for hosts whose capability bounding set is incomplete.

``docker run --privileged`` asks for every capability the engine knows; when this process's
bounding set lacks one (a VM without CAP_SYS_RESOURCE, say), runc fails with "unable to apply
caps: operation not permitted". Registered as dockerd's default runtime, this program removes
every capability missing from its own bounding set from the container's ``config.json``
(``create``, ``run``) or from the ``--process`` spec (``exec``), then executes the real runc
with the unchanged arguments. The real runc is ``$EPPCONF_RUNC`` or the first other ``runc``
on ``PATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

#: Linux capability names by bit number (linux/capability.h).
CAPABILITIES = (
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
    "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
    "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
    "SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
    "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF "
    "CHECKPOINT_RESTORE"
).split()
#: runc's global options that take a value (they precede the command).
GLOBAL_OPTIONS_WITH_VALUE = {"--log", "--log-format", "--root", "--criu", "--rootless"}
#: The spec file each rewritten command reads: (option names, default relative to the bundle).
SPEC_OPTIONS = {"create": ("--bundle", "-b"), "run": ("--bundle", "-b"), "exec": ("--process", "-p")}


def missing_capabilities(status: str) -> set[str]:
    """``CAP_*`` names whose bit is clear in the ``CapBnd`` line of a /proc status text."""
    line = next(line for line in status.splitlines() if line.startswith("CapBnd:"))
    mask = int(line.split()[1], 16)
    return {f"CAP_{name}" for bit, name in enumerate(CAPABILITIES) if not mask >> bit & 1}


def command_and_options(args: list[str]) -> tuple[str | None, list[str]]:
    """runc's command (the first argument that is not a global option) and what follows it."""
    index = 0
    while index < len(args):
        arg = args[index]
        if not arg.startswith("-"):
            return arg, args[index + 1 :]
        index += 2 if arg in GLOBAL_OPTIONS_WITH_VALUE else 1
    return None, []


def option_value(options: list[str], names: tuple[str, ...]) -> str | None:
    """The value of the first of NAMES in OPTIONS (``--name value`` or ``--name=value``)."""
    for index, arg in enumerate(options):
        for name in names:
            if arg == name and index + 1 < len(options):
                return options[index + 1]
            if arg.startswith(name + "="):
                return arg[len(name) + 1 :]
    return None


def spec_file(command: str | None, options: list[str]) -> Path | None:
    """The JSON file whose capabilities must be trimmed before runc reads it, if any."""
    if command not in SPEC_OPTIONS:
        return None
    value = option_value(options, SPEC_OPTIONS[command])
    if command == "exec":
        return Path(value) if value else None
    return Path(value or ".") / "config.json"


def trim(capabilities: dict[str, list[str]], missing: set[str]) -> bool:
    """Remove MISSING from every capability set; True when something was removed."""
    changed = False
    for key, names in capabilities.items():
        kept = [name for name in names if name not in missing]
        changed |= kept != names
        capabilities[key] = kept
    return changed


def rewrite(path: Path, missing: set[str]) -> None:
    """Trim the capabilities of the spec in PATH (a bundle config or an exec process spec)."""
    spec = json.loads(path.read_text())
    process = spec.get("process", spec)
    if trim(process.get("capabilities") or {}, missing):
        path.write_text(json.dumps(spec))


def real_runc() -> str:
    """The runc this program stands in front of."""
    explicit = os.environ.get("EPPCONF_RUNC")
    if explicit:
        return explicit
    me = Path(__file__).resolve()
    for directory in os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin").split(":"):
        candidate = shutil.which("runc", path=directory)
        if candidate and Path(candidate).resolve() != me:
            return candidate
    sys.exit("oci-caps-runtime: no runc found on PATH (set EPPCONF_RUNC)")


def main() -> None:
    args = sys.argv[1:]
    path = spec_file(*command_and_options(args))
    if path is not None and path.is_file():
        rewrite(path, missing_capabilities(Path("/proc/self/status").read_text()))
    runc = real_runc()
    os.execv(runc, [runc, *args])


if __name__ == "__main__":
    main()
