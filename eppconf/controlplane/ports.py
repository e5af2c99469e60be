"""Free loopback ports that parallel test workers never hand out twice.

The kernel picks a free port; a claim file under the system temp directory then keeps
every other eppconf process (pytest-xdist workers included) from taking the same port
before its owner has bound it.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
import time
from pathlib import Path

#: Seconds a claim stays valid: long enough for its owner to bind the port.
CLAIM_TTL = 300.0
#: Where claims live; shared by every process of this user on the machine.
CLAIM_DIR = Path(tempfile.gettempdir()) / "eppconf-port-claims"
_ATTEMPTS = 200


def reserve_port(host: str = "127.0.0.1") -> int:
    """A free TCP port on loopback address ``host``, claimed for :data:`CLAIM_TTL` seconds."""
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"reserve_port: {host} is not a loopback address")
    CLAIM_DIR.mkdir(exist_ok=True)
    _prune_expired()
    for _ in range(_ATTEMPTS):
        port = _kernel_free_port(host)
        if _claim(port):
            return port
    raise RuntimeError(f"reserve_port: no unclaimed free port on {host} after {_ATTEMPTS} attempts")


def _kernel_free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _prune_expired() -> None:
    oldest = time.time() - CLAIM_TTL
    for claim in CLAIM_DIR.iterdir():
        try:
            if claim.stat().st_mtime < oldest:
                claim.unlink()
        except FileNotFoundError:  # pruned by another process meanwhile
            continue


def _claim(port: int) -> bool:
    path = CLAIM_DIR / str(port)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as claim:
        claim.write(str(os.getpid()))
    return True
