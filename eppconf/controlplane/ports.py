"""Free loopback ports and address blocks that parallel runs never hand out twice.

The kernel picks a free port; a claim file under the system temp directory then keeps
every other eppconf process (pytest-xdist workers included) from taking the same port
before its owner has bound it. Address blocks (a ``127.N.0.0/16`` each, for fake pods) are
claimed the same way, for as long as the claiming process lives.
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
#: Second octets of the ``127.N.0.0/16`` blocks handed out for fake pods (127.0.x stays free).
BLOCK_OCTETS = range(20, 255)


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
        if not claim.name.isdigit():  # address blocks live as long as their holder
            continue
        try:
            if claim.stat().st_mtime < oldest:
                claim.unlink()
        except FileNotFoundError:  # pruned by another process meanwhile
            continue


def _claim(port: int) -> bool:
    return _claim_path(CLAIM_DIR / str(port))


def _claim_path(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as claim:
        claim.write(str(os.getpid()))
    return True


def reserve_address_block() -> ipaddress.IPv4Network:
    """A ``127.N.0.0/16`` that no other live process holds, claimed until this process exits.

    A claim whose process is gone is taken over, so a killed run never locks a block for good.
    """
    CLAIM_DIR.mkdir(exist_ok=True)
    for octet in BLOCK_OCTETS:
        path = CLAIM_DIR / f"block-127.{octet}"
        if _claim_path(path) or (_holder_gone(path) and _take_over(path)):
            return ipaddress.IPv4Network(f"127.{octet}.0.0/16")
    raise RuntimeError(f"reserve_address_block: every 127.N.0.0/16 block is held by a live process"
                       f" (claims in {CLAIM_DIR})")


def release_address_block(block: ipaddress.IPv4Network) -> None:
    """Give back a block this process claimed with :func:`reserve_address_block`."""
    path = CLAIM_DIR / f"block-{block.network_address.exploded.rsplit('.', 2)[0]}"
    if path.exists() and path.read_text().strip() == str(os.getpid()):
        path.unlink(missing_ok=True)


def _holder_gone(path: Path) -> bool:
    try:
        pid = int(path.read_text().strip() or "0")
    except (OSError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _take_over(path: Path) -> bool:
    """Replace a dead holder's claim; of two processes racing for it, one wins."""
    stale = path.with_name(f"{path.name}.stale-{os.getpid()}")
    try:
        path.rename(stale)
    except FileNotFoundError:
        return False
    stale.unlink(missing_ok=True)
    return _claim_path(path)
