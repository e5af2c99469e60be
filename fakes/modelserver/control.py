"""The ``FakeControl`` protocol and ``ControlClient``, which offers it over a port's HTTP control API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Protocol

from fakes.modelserver.app import CONTROL_PREFIX
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
    """``FakeControl`` over HTTP for a fake port at ``base_url`` (e.g. ``http://127.0.0.5:8000``)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            error.close()
            raise ControlError(f"{method} {self.base_url}{path} answered {error.code}: {detail}") from None
        except OSError as error:
            raise ControlError(f"{method} {self.base_url}{path} failed: {error}") from None
        return json.loads(payload) if payload else None

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
