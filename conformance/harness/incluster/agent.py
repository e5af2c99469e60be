"""``eppconf agent``: an HTTP forward proxy with CONNECT tunnels, run as a pod of the in-cluster topology.

Two kinds of request, both what a client configured with an HTTP proxy sends:

* ``CONNECT 10.244.0.9:9002 HTTP/1.1``: once connected it answers ``200 Connection established``
  and relays bytes both ways. The harness uses it for everything: gRPC to the EPP, forwarded
  inference requests, and the fakes' control APIs over kept-alive connections;
* absolute-form (``GET http://10.244.0.7:8000/_eppconf/scrapes HTTP/1.1``, what urllib's
  ``ProxyHandler`` and ``curl -x`` send, for a look at a pod by hand): the request goes to that
  address in origin form with ``Connection: close``, and the answer comes back as it is.

A target that is not ``host:port`` gets 400; one that cannot be reached gets 502 with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import sys
from urllib.parse import urlsplit

DEFAULT_PORT = 3128
"""Where the agent listens (the usual proxy port)."""
CONNECT_TIMEOUT = 5.0
"""Seconds the agent waits for a target to accept a connection."""
HEADER_LIMIT = 64 * 1024
"""Largest request head the agent reads."""
READY_LINE = '{"agent"'
"""Start of the line printed once the agent listens."""


class BadRequest(Exception):
    """A request the agent cannot relay; ``status`` is what it answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_target(authority: str) -> tuple[str, int]:
    """``("10.0.0.1", 8000)`` from ``10.0.0.1:8000`` (``[v6]:port`` too); ``BadRequest`` otherwise."""
    host, sep, port = authority.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadRequest(400, f"target {authority!r} is not host:port")
    return host, int(port)


def origin_form(method: str, url: str, version: str, headers: list[bytes]) -> tuple[str, int, bytes]:
    """Target and rewritten head of an absolute-form request: origin-form path, ``Connection: close``."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.netloc:
        raise BadRequest(400, f"{method} {url}: the agent relays http://host:port/... URLs and CONNECT only")
    host, port = parse_target(parts.netloc if parts.port else f"{parts.netloc}:80")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    kept = [line for line in headers
            if line.split(b":", 1)[0].strip().lower() not in (b"connection", b"proxy-connection", b"keep-alive")]
    head = b"\r\n".join([f"{method} {path} {version}".encode(), *kept, b"Connection: close", b"", b""])
    return host, port, head


class Agent:
    """The proxy server; ``start`` binds, ``serve_forever`` runs until cancelled."""

    def __init__(self, host: str = "0.0.0.0", port: int = DEFAULT_PORT) -> None:
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen; returns the port bound (``port`` 0 picks a free one)."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=HEADER_LIMIT)
        return int(self._server.sockets[0].getsockname()[1])

    async def serve_forever(self) -> None:
        assert self._server is not None, "start() first"
        async with self._server:
            await self._server.serve_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _no_delay(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        try:
            await self._relay(head, reader, writer)
        except BadRequest as error:
            await _answer(writer, error.status, str(error))
        except ConnectionError:
            pass
        finally:
            with contextlib.suppress(ConnectionError):
                writer.close()

    async def _relay(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line, *headers = head[:-4].split(b"\r\n")
        try:
            method, target, version = request_line.decode("latin-1").split(" ")
        except ValueError:
            raise BadRequest(400, f"malformed request line {request_line[:200]!r}") from None
        if method == "CONNECT":
            host, port = parse_target(target)
            upstream_reader, upstream_writer = await _open(host, port)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            host, port, rewritten = origin_form(method, target, version, headers)
            upstream_reader, upstream_writer = await _open(host, port)
            upstream_writer.write(rewritten)
        try:
            await asyncio.gather(_pump(reader, upstream_writer), _pump(upstream_reader, writer))
        finally:
            upstream_writer.close()


async def _open(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as error:
        reason = "timed out" if isinstance(error, TimeoutError) else (error.strerror or str(error))
        raise BadRequest(502, f"the agent cannot connect to {host}:{port}: {reason}") from None
    _no_delay(writer)
    return reader, writer


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy ``source`` to ``sink`` until ``source`` ends, then half-close ``sink``."""
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except (ConnectionError, OSError):
        sink.close()


async def _answer(writer: asyncio.StreamWriter, status: int, message: str) -> None:
    reason = {400: "Bad Request", 502: "Bad Gateway"}.get(status, "Error")
    body = (message + "\n").encode()
    writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                 "Connection: close\r\n\r\n".encode() + body)
    with contextlib.suppress(ConnectionError):
        await writer.drain()


def _no_delay(writer: asyncio.StreamWriter) -> None:
    # Small gRPC frames would otherwise wait for the peer's delayed ACK (40 ms on Linux).
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_main(Agent(args.host, args.port)))


async def _main(agent: Agent) -> int:
    try:
        port = await agent.start()
    except OSError as error:
        print(f"eppconf agent: error: cannot listen on {agent.host}:{agent.port}: {error.strerror}", file=sys.stderr)
        return 2
    print(json.dumps({"agent": agent.host, "port": port}), flush=True)
    task = asyncio.ensure_future(agent.serve_forever())
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return 0
