"""The reference EPP's HTTP port: Prometheus ``/metrics`` and the ``/debug/endpoints`` JSON view.

``/metrics`` carries GIE's pool gauges computed at scrape time: ``inference_pool_ready_pods{name}``
(the number of endpoints) and ``inference_pool_per_pod_queue_size{name,model_server_pod}`` (the
waiting requests of each endpoint, named like ``pod-rank-0``). ``/debug/endpoints`` lists the pool,
whether it has synced, every endpoint with its last scraped load, and the datastore's problems.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from eppconf.refepp.picker import Candidate, Load
from eppconf.refepp.state import EndpointState


class PoolCollector(Collector):
    """GIE's pool gauges, read from the state at each scrape."""

    def __init__(self, state: EndpointState) -> None:
        self._state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self._state.pool_name
        candidates = self._state.candidates()
        ready = GaugeMetricFamily("inference_pool_ready_pods",
                                  "The number of ready pods in the inference server pool.", labels=["name"])
        ready.add_metric([pool], len(candidates))
        queue = GaugeMetricFamily("inference_pool_per_pod_queue_size",
                                  "The total number of requests pending in the model server queue for each "
                                  "underlying pod.", labels=["name", "model_server_pod"])
        loads = self._state.loads
        for candidate in candidates:
            load = loads.get(candidate.address)
            if load is not None:
                queue.add_metric([pool, candidate.name], load.waiting)
        yield ready
        yield queue


def _jsonable(value: Any) -> Any:
    """A datastore problem (dataclass, pydantic model or anything else) as JSON data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {key: _jsonable(item) for key, item in dataclasses.asdict(value).items()}
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def debug_view(state: EndpointState, *, now: float) -> dict[str, Any]:
    """The ``/debug/endpoints`` document."""
    loads = state.loads
    return {
        "pool": {"name": state.pool_name, "namespace": state.pool_namespace},
        "synced": state.synced,
        "endpoints": [_endpoint_view(candidate, loads.get(candidate.address), now=now)
                      for candidate in sorted(state.candidates(), key=lambda c: c.name)],
        "problems": _jsonable(list(state.problems())),
    }


def _endpoint_view(candidate: Candidate, load: Load | None, *, now: float) -> dict[str, Any]:
    metrics = None if load is None else {
        "waiting": load.waiting, "running": load.running, "kv_cache": load.kv_cache,
        "age_seconds": round(now - load.scraped_at, 3), "fresh": load.is_fresh(now),
    }
    return {"name": candidate.name, "pod": candidate.pod_name, "address": candidate.address,
            "ip": candidate.ip, "port": candidate.port, "labels": dict(candidate.labels),
            "metrics": metrics}


class MetricsServer:
    """``/metrics`` and ``/debug/endpoints`` on one port, served from a background thread."""

    def __init__(self, state: EndpointState, *, host: str, port: int) -> None:
        registry = CollectorRegistry()
        registry.register(PoolCollector(state))
        self._server = ThreadingHTTPServer((host, port), _handler(state, registry))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()


def _handler(state: EndpointState, registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server name)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), "text/plain; version=0.0.4; charset=utf-8")
            elif path == "/debug/endpoints":
                body = json.dumps(debug_view(state, now=time.monotonic()), indent=2).encode()
                self._send(200, body, "application/json")
            else:
                self._send(404, b"not found: try /metrics or /debug/endpoints\n", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server signature)
            """Requests are not logged; scrapes would flood the log."""

    return Handler
