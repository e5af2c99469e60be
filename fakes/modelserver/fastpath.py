"""A connection protocol that answers plain ``GET /metrics`` itself and hands anything else to aiohttp.

An EPP scrapes every endpoint's /metrics many times a second over kept-alive connections (GIE's
every 50 ms: thousands of requests a second for a few hundred ports, all on one loop); aiohttp's
per-request machinery costs several times what the answer does. A connection starts on the fast
path and stays there while it sends only bodiless HTTP/1.1 ``GET /metrics`` requests with no
metrics failure injected; at the first other request it becomes aiohttp's for good, with the bytes
it had not answered, so every other route, and /metrics with an injected failure, behave as before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from email.utils import formatdate

from aiohttp.http import SERVER_SOFTWARE

from fakes.modelserver.metrics import CONTENT_TYPE, MetricsRenderer
from fakes.modelserver.state import PortState

_REQUEST_LINE = b"GET /metrics HTTP/1.1"
#: Header names whose presence means the request is not a plain bodiless GET.
_DELEGATED_HEADERS = frozenset({b"transfer-encoding", b"expect", b"upgrade"})
#: Bytes of an unfinished request head after which aiohttp gets the connection (and judges it).
_MAX_HEAD = 8192


class _HttpDate:
    """The ``Date`` header value, formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def now(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second, self._value = second, formatdate(second, usegmt=True).encode()
        return self._value


_DATE = _HttpDate()


class MetricsFastPath(asyncio.Protocol):
    """One connection of a fake port: /metrics answered here, everything else by ``delegate()``'s protocol.

    ``connections`` holds the connections still on the fast path, for the port to close them.
    """

    def __init__(self, state: PortState, renderer: MetricsRenderer,
                 delegate: Callable[[], asyncio.Protocol], connections: set[MetricsFastPath]) -> None:
        self._state = state
        self._renderer = renderer
        self._delegate = delegate
        self._connections = connections
        self._transport: asyncio.Transport | None = None
        self._client = ""
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._client = str(peer[0]) if peer else ""
        self._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        self._transport = None

    def close(self) -> None:
        """Close the connection (the port is closing)."""
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._transport is not None and not self._transport.is_closing():
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > _MAX_HEAD:
                    self._hand_over()
                return
            close = self._plain_metrics_get(self._buffer[:end])
            if close is None or "metrics" in self._state.failures:
                self._hand_over()
                return
            self._buffer = self._buffer[end + 4:]
            self._answer(close)

    def eof_received(self) -> bool | None:
        return self._hand_over().eof_received() if self._buffer else None

    @staticmethod
    def _plain_metrics_get(head: bytes) -> bool | None:
        """For a bodiless HTTP/1.1 ``GET /metrics`` head, whether the client asked to close; else None."""
        request_line, *lines = head.split(b"\r\n")
        if request_line != _REQUEST_LINE:
            return None
        close = False
        for line in lines:
            name, colon, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if not colon or name in _DELEGATED_HEADERS or (name == b"content-length" and value != b"0"):
                return None
            if name == b"connection":
                close = value == b"close"
        return close

    def _answer(self, close: bool) -> None:
        self._state.log_scrape(self._client)
        body = self._renderer.body()
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: " + CONTENT_TYPE.encode()
                + b"\r\nContent-Length: " + str(len(body)).encode()
                + b"\r\nDate: " + _DATE.now() + b"\r\nServer: " + SERVER_SOFTWARE.encode()
                + (b"\r\nConnection: close" if close else b"") + b"\r\n\r\n")
        transport = self._transport
        assert transport is not None
        transport.write(head + body)
        if close:
            transport.close()

    def _hand_over(self) -> asyncio.Protocol:
        """Give the connection, and the bytes not answered yet, to a fresh delegate protocol."""
        transport = self._transport
        assert transport is not None
        self._connections.discard(self)
        self._transport = None
        protocol = self._delegate()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if self._buffer:
            protocol.data_received(self._buffer)
            self._buffer = b""
        return protocol
