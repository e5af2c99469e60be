"""The ``FakeControl`` protocol and ``ControlClient``, which offers it over a port's HTTP control API;
``PodControlClient`` for the pod-control API of a fake-server pod."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from typing import Any, Protocol

from fakes.modelserver.app import CONTROL_PREFIX
from fakes.modelserver.connect import TunnelError, open_tunnel
from fakes.modelserver.state import RequestRecord, ScrapeRecord


class ControlError(RuntimeError):
    """The control API refused a request or could not be reached; the message says which and why."""


class FakeControl(Protocol):
    """What a test can do to one fake port, in process (``FakePort``) or over HTTP (``ControlClient``)."""

    def set_metrics(self, *, waiting: float | None = None, running: float | None = None,
                    kv_cache_usage: float | None = None) -> None:
        """Override metric values; ``None`` follows the real in-flight requests."""

    def clear_metrics(self) -> None:
        """Drop every override."""

    def scrapes(self, *, since: float = 0.0) -> list[ScrapeRecord]:
        """The ``/metrics`` hits logged at or after ``since`` (``time.time()``), oldest first."""

    def requests(self) -> list[RequestRecord]:
        """The inference requests logged, oldest first."""

    def reset_logs(self) -> None:
        """Empty the request and scrape logs."""

    def sleep(self, level: int = 1) -> None:
        """Put the port to sleep as vLLM's ``POST /sleep?level=`` does."""

    def wake_up(self) -> None:
        """Wake the port as vLLM's ``POST /wake_up`` does."""

    def is_sleeping(self) -> bool:
        """vLLM's ``GET /is_sleeping``."""

    def inject_failure(self, *, scope: str = "inference", status: int = 500, latency: float = 0.0,
                       count: int | None = None, message: str = "injected failure") -> None:
        """Make the next ``count`` (all if ``None``) requests of ``scope`` (``inference`` or ``metrics``)
        wait ``latency`` seconds and then fail with ``status`` (0: answer normally after the delay)."""

    def clear_failures(self) -> None:
        """Remove every injected failure."""


class ControlClient:
    """``FakeControl`` over HTTP for a fake port at ``base_url`` (e.g. ``http://127.0.0.5:8000``).

    ``proxy`` (``http://host:port``): an HTTP proxy with CONNECT (the in-cluster agent); calls then go
    over one kept-alive connection in a CONNECT tunnel to the port (a new connection per call through
    a ``kubectl port-forward`` cost about 10 ms), opened again once when the port closed it. Without
    it, calls go straight to ``base_url`` and no environment proxy applies.
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0, proxy: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.proxy = proxy
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._tunnel: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        if self.proxy is not None:
            status, payload = self._through_tunnel(method, path, data)
            if status >= 400:
                raise ControlError(f"{method} {self.base_url}{path} answered {status}: "
                                   f"{payload.decode(errors='replace')}")
            return json.loads(payload) if payload else None
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            error.close()
            raise ControlError(f"{method} {self.base_url}{path} answered {error.code}: {detail}") from None
        except OSError as error:
            raise ControlError(f"{method} {self.base_url}{path} failed: {error}") from None
        return json.loads(payload) if payload else None

    def _through_tunnel(self, method: str, path: str, data: bytes | None) -> tuple[int, bytes]:
        """(status, body) of one call on the kept-alive tunnel; a connection the port closed while
        idle is opened again once (every control call may be repeated)."""
        with self._lock:
            for attempt in (1, 2):
                fresh = self._tunnel is None
                try:
                    connection = self._tunnel or self._open_tunnel()
                    connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
                    response = connection.getresponse()
                    return response.status, response.read()
                except OSError as error:
                    self.close()
                    if fresh or attempt == 2 or isinstance(error, TunnelError):
                        raise ControlError(f"{method} {self.base_url}{path} through {self.proxy} failed:"
                                           f" {error}") from None
        raise AssertionError("unreachable")

    def _open_tunnel(self) -> http.client.HTTPConnection:
        assert self.proxy is not None
        proxy, target = urllib.parse.urlsplit(self.proxy), urllib.parse.urlsplit(self.base_url)
        connection = http.client.HTTPConnection(target.hostname or "", target.port or 80, timeout=self.timeout)
        connection.sock = open_tunnel((proxy.hostname or "", proxy.port or 80), target.netloc, timeout=self.timeout)
        self._tunnel = connection
        return connection

    def close(self) -> None:
        """Close the kept-alive tunnel, if any (a later call opens another)."""
        if self._tunnel is not None:
            self._tunnel.close()
            self._tunnel = None

    def set_metrics(self, *, waiting: float | None = None, running: float | None = None,
                    kv_cache_usage: float | None = None) -> None:
        self._call("PUT", f"{CONTROL_PREFIX}/metrics",
                   {"waiting": waiting, "running": running, "kv_cache_usage": kv_cache_usage})

    def clear_metrics(self) -> None:
        self._call("DELETE", f"{CONTROL_PREFIX}/metrics")

    def metrics(self) -> dict[str, Any]:
        """The values /metrics reports now and the overrides in force."""
        return self._call("GET", f"{CONTROL_PREFIX}/metrics")

    def scrapes(self, *, since: float = 0.0) -> list[ScrapeRecord]:
        return [ScrapeRecord(**r) for r in self._call("GET", f"{CONTROL_PREFIX}/scrapes?since={since!r}")]

    def requests(self) -> list[RequestRecord]:
        return [RequestRecord(**r) for r in self._call("GET", f"{CONTROL_PREFIX}/requests")]

    def reset_logs(self) -> None:
        self._call("DELETE", f"{CONTROL_PREFIX}/logs")

    def sleep(self, level: int = 1) -> None:
        self._call("POST", f"/sleep?level={level}")

    def wake_up(self) -> None:
        self._call("POST", "/wake_up")

    def is_sleeping(self) -> bool:
        return bool(self._call("GET", "/is_sleeping")["is_sleeping"])

    def inject_failure(self, *, scope: str = "inference", status: int = 500, latency: float = 0.0,
                       count: int | None = None, message: str = "injected failure") -> None:
        self._call("PUT", f"{CONTROL_PREFIX}/failures/{scope}",
                   {"status": status, "latency": latency, "count": count, "message": message})

    def clear_failures(self) -> None:
        self._call("DELETE", f"{CONTROL_PREFIX}/failures")


class PodControlClient(ControlClient):
    """The pod-control API of a fake-server pod (``fakes/modelserver/podcontrol.py``) at ``base_url``
    (``http://POD_IP:POD_CONTROL_PORT``)."""

    def set_ready(self, ready: bool) -> None:
        """Make the pod's readiness probe pass (or fail)."""
        self._call("PUT", "/ready", {"ready": ready})

    def ports(self) -> dict[str, list[int]]:
        """``{"serving": [...], "decoys": [...]}``."""
        return self._call("GET", "/ports")

    def open_ports(self, *, serve: Iterable[int] = (), close: Iterable[int] = ()) -> dict[str, list[int]]:
        """Serve ``serve`` (replacing decoys there), put decoys on ``close``; the ports afterwards."""
        return self._call("PUT", "/ports", {"serve": sorted(serve), "close": sorted(close)})
