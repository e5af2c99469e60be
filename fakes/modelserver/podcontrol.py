"""The pod-control port of ``eppconf fake-server`` running as a pod: readiness and ports at runtime.

A conformance pod runs one fake-server process; what the harness kubelet does to a virtual pod's
servers in process, the harness does to a real pod through this small HTTP API:

* ``GET /ready``: 200 while the pod is to be Ready, 503 otherwise (the pod's readiness probe);
* ``PUT /ready`` ``{"ready": bool}``: flip it;
* ``GET /ports``: ``{"serving": [...], "decoys": [...]}``;
* ``PUT /ports`` ``{"serve": [...], "close": [...]}``: start fake servers on ``serve`` (a decoy
  there goes first), put decoys on ``close``: fake servers whose every inference request fails
  with 502, so an EPP routing there is seen. A port served already is left as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from fakes.modelserver.config import PortConfig
from fakes.modelserver.runtime import FakePort, FakeRuntime

DECOY_STATUS = 502
"""What a decoy answers every inference request with."""


class PodPorts:
    """The servers and decoys of one pod's fake-server process, on ``host``."""

    def __init__(self, runtime: FakeRuntime, *, host: str, config: PortConfig, pod: str = "this pod") -> None:
        self._runtime = runtime
        self._host = host
        self._config = config
        self._pod = pod
        self.ready = True
        self.serving: dict[int, FakePort] = {}
        self.decoys: dict[int, FakePort] = {}

    async def serve(self, ports: Iterable[int], configs: dict[int, PortConfig] | None = None) -> None:
        """Serve each of ``ports`` not served yet, replacing a decoy there; ``configs`` may give a
        port a config of its own."""
        for port in sorted(set(ports) - set(self.serving)):
            decoy = self.decoys.pop(port, None)
            if decoy is not None:
                await self._runtime.close_async(decoy)
            config = (configs or {}).get(port, self._config)
            self.serving[port] = await self._runtime.serve_async(self._host, port, config)

    async def close(self, ports: Iterable[int]) -> None:
        """Put a decoy on each of ``ports`` that nothing answers on yet."""
        for port in sorted(set(ports) - set(self.serving) - set(self.decoys)):
            decoy = await self._runtime.serve_async(self._host, port, self._config)
            decoy.inject_failure(status=DECOY_STATUS, message=f"nothing of {self._pod} listens on port {port}")
            self.decoys[port] = decoy

    def describe(self) -> dict[str, list[int]]:
        return {"serving": sorted(self.serving), "decoys": sorted(self.decoys)}


def make_pod_control_app(ports: PodPorts) -> web.Application:
    """The pod-control application of ``ports``."""
    app = web.Application()

    async def get_ready(request: web.Request) -> web.Response:
        return web.json_response({"ready": ports.ready}, status=200 if ports.ready else 503)

    async def put_ready(request: web.Request) -> web.Response:
        body = await _body(request)
        ready = body.get("ready")
        if not isinstance(ready, bool):
            raise web.HTTPBadRequest(text=f"PUT /ready needs {{\"ready\": true|false}}, got {body!r}")
        ports.ready = ready
        return web.json_response({"ready": ready})

    async def get_ports(request: web.Request) -> web.Response:
        return web.json_response(ports.describe())

    async def put_ports(request: web.Request) -> web.Response:
        body = await _body(request)
        serve, close = _port_list(body, "serve"), _port_list(body, "close")
        try:
            await ports.serve(serve)
            await ports.close(close)
        except OSError as error:
            raise web.HTTPConflict(text=str(error)) from None
        return web.json_response(ports.describe())

    app.router.add_get("/ready", get_ready)
    app.router.add_put("/ready", put_ready)
    app.router.add_get("/ports", get_ports)
    app.router.add_put("/ports", put_ports)
    return app


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body is not JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=f"expected a JSON object, got {body!r}")
    return body


def _port_list(body: dict[str, Any], key: str) -> list[int]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(p, int) and 0 < p < 65536 for p in value):
        raise web.HTTPBadRequest(text=f"{key!r} must be a list of ports (1-65535), got {value!r}")
    return value


async def start_pod_control(ports: PodPorts, host: str, port: int) -> web.AppRunner:
    """Serve the pod-control API of ``ports`` on ``host:port`` (on the calling loop)."""
    runner = web.AppRunner(make_pod_control_app(ports), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
