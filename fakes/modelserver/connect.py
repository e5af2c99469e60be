"""``open_tunnel``: a socket to ``host:port`` through an HTTP proxy's CONNECT (the in-cluster agent)."""

from __future__ import annotations

import socket

TUNNEL_TIMEOUT = 10.0
"""Seconds a CONNECT through the proxy may take."""


class TunnelError(OSError):
    """The proxy refused a CONNECT or could not be reached; the message says which and why."""


def open_tunnel(proxy: tuple[str, int], target: str, *, timeout: float = TUNNEL_TIMEOUT) -> socket.socket:
    """A socket connected through the proxy at ``proxy`` to ``target`` (``host:port``), blocking
    with ``timeout``; ``TunnelError`` with the proxy's answer when it refuses."""
    try:
        sock = socket.create_connection(proxy, timeout=timeout)
    except OSError as error:
        raise TunnelError(f"cannot reach the proxy at {proxy[0]}:{proxy[1]}: {error}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head = _read_head(sock)
    except OSError as error:
        sock.close()
        raise TunnelError(f"CONNECT {target} through {proxy[0]}:{proxy[1]} failed: {error}") from None
    status_line, _, rest = head.partition(b"\r\n")
    if status_line.split(b" ")[1:2] != [b"200"]:
        sock.close()
        detail = rest.partition(b"\r\n\r\n")[2].decode(errors="replace").strip()
        raise TunnelError(f"CONNECT {target}: the proxy answered {status_line.decode(errors='replace')}"
                          + (f": {detail}" if detail else ""))
    return sock


def _read_head(sock: socket.socket) -> bytes:
    """The answer's head, and for an error its (short) body; nothing past the head of a 200."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1)  # byte by byte: what follows a 200 head belongs to the tunnel
        if not chunk:
            break
        data += chunk
    if not data.startswith(b"HTTP/1.1 200"):
        sock.settimeout(1.0)
        try:
            while chunk := sock.recv(4096):
                data += chunk
        except OSError:
            pass
    return data
