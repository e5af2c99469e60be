"""The fake launcher: the FMA launcher's HTTP API over fake vLLM children served by a ``FakeRuntime``.

``PUT /v2/vllm/instances/{id}`` (or ``POST /v2/vllm/instances``) takes ``{"options": "--model M --port N
...", "env_vars": {...}}`` as FMA does, plus two fields of this fake: ``inferencePool`` and
``attributes``, which go into the pod's port-discovery annotation for that child.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from fakes.launcher.annotator import AnnotatorError, ChildPort, PodAnnotator
from fakes.modelserver.config import ConfigError, PortConfig
from fakes.modelserver.runtime import FakePort, FakeRuntime

#: Seconds a launcher waits for a Kubernetes patch before it answers 500.
PATCH_TIMEOUT = 30.0


class OptionsError(ValueError):
    """An instance's ``options`` string cannot be read."""


class _OptionsParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise OptionsError(message)


def _options_parser() -> argparse.ArgumentParser:
    parser = _OptionsParser(prog="options", add_help=False)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", default="fake-model")
    parser.add_argument("--served-model-name", nargs="+", default=None)
    parser.add_argument("--lora-modules", nargs="+", default=[])
    parser.add_argument("--max-loras", type=int, default=1)
    return parser


def child_config(options: str) -> tuple[int, PortConfig]:
    """The port and ``PortConfig`` of a vLLM command line; options a fake does not model are ignored."""
    try:
        args, _ = _options_parser().parse_known_args(shlex.split(options))
    except ValueError as error:
        raise OptionsError(f"options {options!r}: {error}") from None
    loras = tuple(module.partition("=")[0] for module in args.lora_modules)
    try:
        config = PortConfig(models=tuple(args.served_model_name or (args.model,)), lora_adapters=loras,
                            max_loras=args.max_loras)
    except ConfigError as error:
        raise OptionsError(f"options {options!r}: {error}") from None
    return args.port, config


@dataclass
class Instance:
    """One child server."""

    instance_id: str
    options: str
    env_vars: dict[str, str]
    port: FakePort
    child: ChildPort

    def status(self) -> dict[str, Any]:
        return {"status": "running", "instance_id": self.instance_id, "pid": os.getpid(),
                "port": self.port.port, "sleeping": self.port.is_sleeping(),
                "inferencePool": self.child.inference_pool, "attributes": self.child.attributes}


class FakeLauncher:
    """Serves the launcher API on ``host:port`` from ``runtime``'s loop; children bind ``child_host``."""

    def __init__(self, runtime: FakeRuntime, *, host: str, port: int, child_host: str | None = None,
                 default_pool: str | None = None, annotator: PodAnnotator | None = None) -> None:
        self.runtime = runtime
        self.host = host
        self.port = port
        self.child_host = child_host or host
        self.default_pool = default_pool
        self.annotator = annotator
        self.instances: dict[str, Instance] = {}
        self._runner: web.AppRunner | None = None
        self._lock: asyncio.Lock | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Bind the API and write the (empty) annotation; ``OSError`` if the port is taken."""
        self.runtime.submit(self._start())

    def stop(self) -> None:
        """Stop every child, then the API."""
        self.runtime.submit(self._stop())

    async def _start(self) -> None:
        self._lock = asyncio.Lock()
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/v2/vllm/instances", self._list)
        app.router.add_post("/v2/vllm/instances", self._create_auto)
        app.router.add_delete("/v2/vllm/instances", self._delete_all)
        app.router.add_get("/v2/vllm/instances/{id}", self._get)
        app.router.add_put("/v2/vllm/instances/{id}", self._create_named)
        app.router.add_delete("/v2/vllm/instances/{id}", self._delete)
        app.router.add_post("/v2/vllm/instances/{id}/sleep", self._sleep)
        app.router.add_post("/v2/vllm/instances/{id}/wake_up", self._wake_up)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
            self.port = runner.addresses[0][1]
            await self._sync_annotation()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def _stop(self) -> None:
        for instance in list(self.instances.values()):
            await self.runtime.close_async(instance.port)
        self.instances.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _sync_annotation(self) -> None:
        if self.annotator is not None:
            children = [instance.child for instance in self.instances.values()]
            loop = asyncio.get_running_loop()
            await asyncio.wait_for(loop.run_in_executor(None, self.annotator.write, children), PATCH_TIMEOUT)

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "OK"})

    async def _list(self, request: web.Request) -> web.Response:
        if request.query.get("detail", "true").lower() == "false":
            return web.json_response({"instance_ids": list(self.instances), "count": len(self.instances)})
        statuses = [instance.status() for instance in self.instances.values()]
        return web.json_response({"total_instances": len(statuses), "running_instances": len(statuses),
                                  "instances": statuses})

    async def _get(self, request: web.Request) -> web.Response:
        return web.json_response(self._instance(request).status())

    def _instance(self, request: web.Request) -> Instance:
        instance_id = request.match_info["id"]
        if instance_id not in self.instances:
            raise _http_error(web.HTTPNotFound, f"Instance {instance_id} not found")
        return self.instances[instance_id]

    async def _create_auto(self, request: web.Request) -> web.Response:
        return await self._create(request, str(uuid.uuid4()))

    async def _create_named(self, request: web.Request) -> web.Response:
        return await self._create(request, request.match_info["id"])

    async def _create(self, request: web.Request, instance_id: str) -> web.Response:
        body = await _read_body(request)
        assert self._lock is not None
        async with self._lock:
            if instance_id in self.instances:
                raise _http_error(web.HTTPConflict, f"Instance {instance_id} already exists")
            port, config, child = self._child_from(body)
            try:
                fake = await self.runtime.serve_async(self.child_host, port, config)
            except OSError as error:
                raise _http_error(web.HTTPInternalServerError, error.strerror or str(error)) from None
            self.instances[instance_id] = Instance(instance_id, body["options"], body.get("env_vars") or {},
                                                   fake, child)
            try:
                await self._sync_annotation()
            except (AnnotatorError, TimeoutError) as error:
                await self._remove(instance_id)
                raise _http_error(web.HTTPInternalServerError, f"annotation not updated: {error}") from None
        return web.json_response({"status": "started", "instance_id": instance_id, "pid": os.getpid()},
                                 status=201)

    def _child_from(self, body: dict[str, Any]) -> tuple[int, PortConfig, ChildPort]:
        try:
            port, config = child_config(body["options"])
        except OptionsError as error:
            raise _http_error(web.HTTPBadRequest, str(error)) from None
        pool = body.get("inferencePool", self.default_pool)
        attributes = body.get("attributes") or {}
        if self.annotator is not None and not isinstance(pool, str):
            raise _http_error(web.HTTPBadRequest, "inferencePool is required: the body names none and the "
                                                  "launcher has no default pool")
        if not isinstance(attributes, dict) or not all(isinstance(v, str) for v in attributes.values()):
            raise _http_error(web.HTTPBadRequest, "attributes must be an object of strings")
        return port, config, ChildPort(pool or "", port, attributes)

    async def _remove(self, instance_id: str) -> Instance:
        instance = self.instances.pop(instance_id)
        await self.runtime.close_async(instance.port)
        return instance

    async def _delete(self, request: web.Request) -> web.Response:
        instance_id = self._instance(request).instance_id
        assert self._lock is not None
        async with self._lock:
            await self._remove(instance_id)
            await self._sync_or_500()
        return web.json_response({"status": "terminated", "instance_id": instance_id, "pid": os.getpid()})

    async def _delete_all(self, request: web.Request) -> web.Response:
        assert self._lock is not None
        async with self._lock:
            stopped = [await self._remove(instance_id) for instance_id in list(self.instances)]
            await self._sync_or_500()
        statuses = [{"status": "terminated", "instance_id": i.instance_id, "pid": os.getpid()} for i in stopped]
        return web.json_response({"status": "all_stopped", "stopped_instances": statuses,
                                  "total_stopped": len(statuses)})

    async def _sync_or_500(self) -> None:
        try:
            await self._sync_annotation()
        except (AnnotatorError, TimeoutError) as error:
            raise _http_error(web.HTTPInternalServerError, f"annotation not updated: {error}") from None

    async def _sleep(self, request: web.Request) -> web.Response:
        level = request.query.get("level", "1")
        if level not in ("1", "2"):
            raise _http_error(web.HTTPBadRequest, f"sleep level must be 1 or 2, got {level!r}")
        self._instance(request).port.sleep(int(level))
        return web.Response(status=200)

    async def _wake_up(self, request: web.Request) -> web.Response:
        self._instance(request).port.wake_up()
        return web.Response(status=200)


async def _read_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as error:
        raise _http_error(web.HTTPBadRequest, f"body is not JSON: {error}") from None
    if not isinstance(body, dict) or not isinstance(body.get("options"), str):
        raise _http_error(web.HTTPBadRequest, "body must be an object with an 'options' string")
    if not isinstance(body.get("env_vars") or {}, dict):
        raise _http_error(web.HTTPBadRequest, "env_vars must be an object")
    return body


def _http_error(kind: type[web.HTTPException], detail: str) -> web.HTTPException:
    """An error answered as FastAPI does (``{"detail": ...}``), like the FMA launcher."""
    return kind(text=json.dumps({"detail": detail}), content_type="application/json")
