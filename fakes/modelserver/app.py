"""The aiohttp application of one fake vLLM port: OpenAI inference, /metrics, sleep mode, control API.

Inference and model-listing answers follow vLLM and llm-d-inference-sim (OpenAI-shaped bodies with
``usage``, SSE streaming ending in ``data: [DONE]``, errors as ``{"error": {message, type, param,
code}}``). The control API for tests lives under ``CONTROL_PREFIX``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from fakes.modelserver.config import PortConfig
from fakes.modelserver.metrics import CONTENT_TYPE, MetricsRenderer
from fakes.modelserver.state import Failure, HeldTooLong, MetricOverrides, PortState, RequestRecord

CONTROL_PREFIX = "/_eppconf"
SERVED_BY_HEADER = "x-eppconf-served-by"
STATE_KEY = web.AppKey("state", PortState)
RENDERER_KEY = web.AppKey("renderer", MetricsRenderer)
_ERROR_TYPES = {400: "BadRequestError", 401: "AuthenticationError", 403: "PermissionDeniedError",
                404: "NotFoundError", 422: "UnprocessableEntityError", 429: "RateLimitError"}
_WORDS = ("the", "fake", "model", "server", "answers", "every", "request", "with", "these", "words")


class BadRequest(Exception):
    """A client error to answer with an OpenAI-style error body."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A compact JSON answer, as vLLM and the simulator write them."""
    return web.json_response(data, status=status, headers=headers, dumps=_compact)


def _compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def error_response(status: int, message: str) -> web.Response:
    """An OpenAI-style error, shaped as llm-d-inference-sim shapes it."""
    kind = _ERROR_TYPES.get(status, "InternalServerError" if status >= 500 else "APIConnectionError")
    return _json({"error": {"message": message, "type": kind, "param": None, "code": status}},
                             status=status)


@dataclass(frozen=True)
class Completion:
    """A validated inference request."""

    chat: bool
    model: str
    lora: str | None
    prompt_tokens: int
    output_tokens: int
    finish_reason: str
    stream: bool
    include_usage: bool


def make_app(state: PortState) -> web.Application:
    """The application serving one port."""
    app = web.Application(client_max_size=16 * 1024**2)
    app[STATE_KEY] = state
    metrics = app[RENDERER_KEY] = MetricsRenderer(state)
    handlers = _Handlers(state, metrics)
    app.router.add_get("/health", handlers.health)
    app.router.add_get("/v1/models", handlers.models)
    app.router.add_post("/v1/completions", handlers.completions)
    app.router.add_post("/v1/chat/completions", handlers.chat_completions)
    app.router.add_get("/metrics", handlers.metrics)
    app.router.add_post("/sleep", handlers.sleep)
    app.router.add_post("/wake_up", handlers.wake_up)
    app.router.add_get("/is_sleeping", handlers.is_sleeping)
    app.router.add_get(f"{CONTROL_PREFIX}/config", handlers.control_config)
    app.router.add_get(f"{CONTROL_PREFIX}/scrapes", handlers.control_scrapes)
    app.router.add_get(f"{CONTROL_PREFIX}/requests", handlers.control_requests)
    app.router.add_delete(f"{CONTROL_PREFIX}/logs", handlers.control_reset_logs)
    app.router.add_get(f"{CONTROL_PREFIX}/metrics", handlers.control_get_metrics)
    app.router.add_put(f"{CONTROL_PREFIX}/metrics", handlers.control_set_metrics)
    app.router.add_delete(f"{CONTROL_PREFIX}/metrics", handlers.control_clear_metrics)
    app.router.add_put(f"{CONTROL_PREFIX}/failures/{{scope}}", handlers.control_inject_failure)
    app.router.add_delete(f"{CONTROL_PREFIX}/failures", handlers.control_clear_failures)
    return app


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"Failed to read and parse request body, {error}") from None


def _client(request: web.Request) -> str:
    return request.remote or ""


def _guarded(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
             ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Turn ``BadRequest`` and ``ValueError`` from a handler into an OpenAI-style error answer."""
    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except BadRequest as error:
            return error_response(error.status, str(error))
        except ValueError as error:
            return error_response(400, str(error))
    return guarded


class _Handlers:
    """The route handlers of one port."""

    def __init__(self, state: PortState, metrics: MetricsRenderer) -> None:
        self.state = state
        self.config: PortConfig = state.config
        self.renderer = metrics
        self.completions = _guarded(self._completions)
        self.chat_completions = _guarded(self._chat_completions)
        self.sleep = _guarded(self._sleep)
        self.control_set_metrics = _guarded(self._control_set_metrics)
        self.control_inject_failure = _guarded(self._control_inject_failure)
        self.control_scrapes = _guarded(self._control_scrapes)

    # vLLM endpoints ---------------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def models(self, request: web.Request) -> web.Response:
        now, base = int(time.time()), self.config.models[0]
        data = [{"id": name, "object": "model", "created": now, "owned_by": "vllm", "root": base,
                 "parent": None, "max_model_len": self.config.max_model_len} for name in self.config.models]
        data += [{"id": name, "object": "model", "created": now, "owned_by": "vllm", "root": name,
                  "parent": base, "max_model_len": self.config.max_model_len} for name in self.config.lora_adapters]
        return _json({"object": "list", "data": data})

    async def metrics(self, request: web.Request) -> web.Response:
        self.state.log_scrape(_client(request))
        failure = self.state.failure_for("metrics")
        if failure is not None:
            await asyncio.sleep(failure.latency)
            if failure.status:
                return error_response(failure.status, failure.message)
        return web.Response(body=self.renderer.body(), headers={"Content-Type": CONTENT_TYPE})

    async def _sleep(self, request: web.Request) -> web.Response:
        level = request.query.get("level", "1")
        if level not in ("1", "2"):
            raise BadRequest(f"sleep level must be 1 or 2, got {level!r}")
        self.state.sleep(int(level))
        return web.Response(status=200)

    async def wake_up(self, request: web.Request) -> web.Response:
        self.state.wake_up()
        return web.Response(status=200)

    async def is_sleeping(self, request: web.Request) -> web.Response:
        return _json({"is_sleeping": self.state.is_sleeping})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._inference(request, chat=False)

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        return await self._inference(request, chat=True)

    async def _inference(self, request: web.Request, *, chat: bool) -> web.StreamResponse:
        try:
            body = await _json_body(request)
        except BadRequest:
            self._log_request(request, None)
            raise
        model = body.get("model") if isinstance(body, dict) else None
        self._log_request(request, model if isinstance(model, str) else None)
        failure = self.state.failure_for("inference")
        if failure is not None:
            await asyncio.sleep(failure.latency)
            if failure.status:
                return error_response(failure.status, failure.message)
        completion = self._validate(body, chat=chat)
        try:
            async with self.state.admitted(completion.lora) as slot:
                slot.hold_tokens(completion.prompt_tokens)
                if completion.stream:
                    return await self._stream(request, completion, slot)
                await asyncio.sleep(self._generation_time(completion.output_tokens))
                slot.hold_tokens(completion.prompt_tokens + completion.output_tokens)
                return _json(_full_body(completion), headers=self._served_headers())
        except HeldTooLong as error:
            return error_response(503, str(error))

    def _generation_time(self, tokens: int) -> float:
        return self.config.time_to_first_token + self.config.inter_token_latency * max(0, tokens - 1)

    def _served_headers(self) -> dict[str, str]:
        return {SERVED_BY_HEADER: self.state.served_by} if self.config.served_by_header else {}

    def _log_request(self, request: web.Request, model: str | None) -> None:
        self.state.log_request(RequestRecord(time.time(), request.method, request.path, model,
                                             _client(request),
                                             {k.lower(): v for k, v in request.headers.items()}))

    def _validate(self, body: Any, *, chat: bool) -> Completion:
        if not isinstance(body, dict):
            raise BadRequest("request body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str):
            raise BadRequest("'model' must be a string")
        if model not in self.config.models and model not in self.config.lora_adapters:
            raise BadRequest(f"The model `{model}` does not exist.", 404)
        prompt_tokens = _count_messages(body.get("messages")) if chat else _count_prompt(body.get("prompt"))
        limit = body.get("max_completion_tokens", body.get("max_tokens")) if chat else body.get("max_tokens")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise BadRequest(f"max_tokens must be a positive integer, got {limit!r}")
        output = self.config.output_tokens if limit is None else min(limit, self.config.output_tokens)
        stream = body.get("stream", False)
        options = body.get("stream_options") or {}
        if not isinstance(stream, bool) or not isinstance(options, dict):
            raise BadRequest("'stream' must be a boolean and 'stream_options' an object")
        return Completion(chat=chat, model=model, lora=model if model in self.config.lora_adapters else None,
                          prompt_tokens=prompt_tokens, output_tokens=output,
                          finish_reason="length" if output == limit else "stop",
                          stream=stream, include_usage=bool(options.get("include_usage")))

    async def _stream(self, request: web.Request, completion: Completion, slot: Any) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                               **self._served_headers()})
        await response.prepare(request)
        chunks = _StreamChunks(completion)
        if completion.chat:
            await _send(response, chunks.role())
        for index in range(completion.output_tokens):
            await asyncio.sleep(self.config.time_to_first_token if index == 0 else self.config.inter_token_latency)
            slot.hold_tokens(completion.prompt_tokens + index + 1)
            await _send(response, chunks.token(index))
        await _send(response, chunks.finish())
        if completion.include_usage:
            await _send(response, chunks.usage())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    # control API ------------------------------------------------------------------------------
    async def control_config(self, request: web.Request) -> web.Response:
        return _json({"served_by": self.state.served_by, "config": self.config.to_dict()})

    async def _control_scrapes(self, request: web.Request) -> web.Response:
        since = _since(request)
        return _json([r.to_dict() for r in self.state.scrapes_since(since)])

    async def control_requests(self, request: web.Request) -> web.Response:
        return _json([r.to_dict() for r in self.state.requests()])

    async def control_reset_logs(self, request: web.Request) -> web.Response:
        self.state.reset_logs()
        return web.Response(status=204)

    async def control_get_metrics(self, request: web.Request) -> web.Response:
        running, waiting, kv_cache_usage = self.state.metric_values()
        return _json({"waiting": waiting, "running": running, "kv_cache_usage": kv_cache_usage,
                      "overrides": _as_dict(self.state.overrides)})

    async def _control_set_metrics(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or set(body) - {"waiting", "running", "kv_cache_usage"}:
            raise BadRequest("body must be an object with keys among waiting, running, kv_cache_usage")
        self.state.overrides = MetricOverrides(**body)
        return await self.control_get_metrics(request)

    async def control_clear_metrics(self, request: web.Request) -> web.Response:
        self.state.overrides = MetricOverrides()
        return await self.control_get_metrics(request)

    async def _control_inject_failure(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or set(body) - {"status", "latency", "count", "message"}:
            raise BadRequest("body must be an object with keys among status, latency, count, message")
        self.state.inject_failure(request.match_info["scope"], Failure(**body))
        return web.Response(status=204)

    async def control_clear_failures(self, request: web.Request) -> web.Response:
        self.state.clear_failures()
        return web.Response(status=204)


def _since(request: web.Request) -> float:
    text = request.query.get("since", "0")
    try:
        return float(text)
    except ValueError:
        raise BadRequest(f"'since' must be a time in seconds, got {text!r}") from None


def _as_dict(overrides: MetricOverrides) -> dict[str, float | None]:
    return {"waiting": overrides.waiting, "running": overrides.running, "kv_cache_usage": overrides.kv_cache_usage}


def _count_prompt(prompt: Any) -> int:
    if isinstance(prompt, str):
        return len(prompt.split())
    if isinstance(prompt, list) and prompt and all(isinstance(p, int) for p in prompt):
        return len(prompt)
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return sum(len(p.split()) for p in prompt)
    raise BadRequest("'prompt' must be a string, a list of strings or a list of token ids")


def _count_messages(messages: Any) -> int:
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise BadRequest("'messages' must be a non-empty list of message objects")
    return sum(_count_content(m.get("content")) for m in messages)


def _count_content(content: Any) -> int:
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):
        return sum(len(part.get("text", "").split()) for part in content
                   if isinstance(part, dict) and isinstance(part.get("text", ""), str))
    return 0


def _text(tokens: int) -> str:
    return " ".join(_WORDS[i % len(_WORDS)] for i in range(tokens))


def _usage(completion: Completion) -> dict[str, Any]:
    return {"prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.output_tokens,
            "total_tokens": completion.prompt_tokens + completion.output_tokens,
            "prompt_tokens_details": {"cached_tokens": 0}}


def _full_body(completion: Completion) -> dict[str, Any]:
    text = _text(completion.output_tokens)
    if completion.chat:
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text},
                                  "logprobs": None, "finish_reason": completion.finish_reason}
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": completion.finish_reason}
    return {"id": _new_id(completion), "object": "chat.completion" if completion.chat else "text_completion",
            "created": int(time.time()), "model": completion.model, "choices": [choice], "usage": _usage(completion)}


def _new_id(completion: Completion) -> str:
    return f"{'chatcmpl' if completion.chat else 'cmpl'}-{uuid.uuid4().hex}"


class _StreamChunks:
    """The SSE chunks of one streamed response, in OpenAI's shapes."""

    def __init__(self, completion: Completion) -> None:
        self.completion = completion
        self.head = {"id": _new_id(completion),
                     "object": "chat.completion.chunk" if completion.chat else "text_completion",
                     "created": int(time.time()), "model": completion.model}

    def _chunk(self, choice_fields: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, **choice_fields, "logprobs": None, "finish_reason": finish_reason}
        return {**self.head, "choices": [choice]}

    def _piece(self, text: str) -> dict[str, Any]:
        return {"delta": {"content": text}} if self.completion.chat else {"text": text}

    def role(self) -> dict[str, Any]:
        return self._chunk({"delta": {"role": "assistant", "content": ""}})

    def token(self, index: int) -> dict[str, Any]:
        word = _WORDS[index % len(_WORDS)]
        return self._chunk(self._piece(word if index == 0 else f" {word}"))

    def finish(self) -> dict[str, Any]:
        return self._chunk(self._piece(""), self.completion.finish_reason)

    def usage(self) -> dict[str, Any]:
        return {**self.head, "choices": [], "usage": _usage(self.completion)}


async def _send(response: web.StreamResponse, chunk: dict[str, Any]) -> None:
    await response.write(f"data: {_compact(chunk)}\n\n".encode())
