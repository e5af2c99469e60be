"""The Envoy ext_proc servicer of the reference EPP, on the wire exactly like GIE v1.5.0's EPP.

Wire contract (GIE v1.5.0 ``pkg/epp/handlers``, full-duplex streamed bodies):

- ``request_headers`` with ``end_of_stream``: no body follows; a random endpoint of the pool is
  chosen (no hint applied) and the headers response is sent at once; none: 500.
- ``request_headers`` otherwise: headers are kept, nothing is sent; ``x-request-id`` is generated
  when absent.
- ``request_body`` chunks are buffered, nothing is sent until ``end_of_stream``. Then the body must
  be a JSON object valid for the API named by ``:path`` (completions need ``prompt``, chat
  completions non-empty ``messages``, ...) with a string ``model``, else 400. The subset hint is read
  from that message's ``metadata_context.filter_metadata["envoy.lb.subset_hint"]
  ["x-gateway-destination-endpoint-subset"]``: absent (or not a list) means every endpoint, an empty
  list means none. No eligible endpoint: 503.
- The decision is two or more responses: a ``request_headers`` response whose common response
  clears the route cache and sets ``x-gateway-destination-endpoint: ip:port``, ``Content-Length``
  and every request header not owned by the protocol, with ``dynamic_metadata``
  ``{"envoy.lb": {"x-gateway-destination-endpoint": "ip:port"}}``; then the re-serialised body as
  ``request_body`` streamed responses of at most 62,000 bytes, the last with ``end_of_stream``.
- Errors are one ``immediate_response`` (status, body ``inference error: <Code> - <message>``)
  after which the stream ends.
- ``response_headers``: answered with ``x-went-into-resp-headers: true`` plus the response headers
  not owned by the protocol. ``response_body``: streamed back chunk by chunk when the response is
  ``text/event-stream``, otherwise buffered and sent back at ``end_of_stream``.
  ``response_trailers``: pending body, then an empty trailers response. ``request_trailers``:
  ignored.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc
from envoy.type.v3 import http_status_pb2
from google.protobuf import struct_pb2

from eppconf.refepp.picker import Candidate, SubsetHint, parse_subset_hint, pick
from eppconf.refepp.state import EndpointState

DESTINATION_KEY = "x-gateway-destination-endpoint"
DESTINATION_NAMESPACE = "envoy.lb"
SUBSET_NAMESPACE = "envoy.lb.subset_hint"
SUBSET_KEY = "x-gateway-destination-endpoint-subset"
REQUEST_ID_HEADER = "x-request-id"
BODY_CHUNK_LIMIT = 62000
_SYSTEM_HEADERS = frozenset({
    "x-gateway-inference-fairness-id", "x-gateway-inference-objective", "x-gateway-model-name-rewrite",
    SUBSET_KEY, DESTINATION_KEY, "x-gateway-destination-endpoint-served", "content-length",
})


def _non_empty_list(value: object) -> bool:
    return isinstance(value, list) and len(value) > 0


def _non_empty_prompt(value: object) -> bool:
    return value is not None and value != "" and value != []


#: path suffix -> (required field, its check, error message), in the order GIE's OpenAI parser tries them
_API_FIELDS: tuple[tuple[str, str, Callable[[object], bool], str], ...] = (
    ("/conversations", "items", _non_empty_list, "invalid conversations request: must have items field"),
    ("/responses", "input", lambda v: v is not None, "invalid responses request: must have input field"),
    ("/chat/completions", "messages", _non_empty_list,
     "invalid chat completions request: must have valid messages field"),
    ("/completions", "prompt", _non_empty_prompt, "invalid completions request: must have prompt field"),
    ("/embeddings", "input", lambda v: v is not None, "invalid embeddings request: must have input field"),
)
_DEFAULT_API = _API_FIELDS[3]


class RequestError(Exception):
    """A request the EPP answers with an immediate response (GIE's ``errcommon.Error``)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"inference error: {code} - {message}")
        self.status = status


def subset_hint(request: pb.ProcessingRequest) -> SubsetHint | None:
    """The gateway's subset hint in ``request``, or None when it sets none."""
    namespace = request.metadata_context.filter_metadata.get(SUBSET_NAMESPACE)
    if namespace is None or SUBSET_KEY not in namespace.fields:
        return None
    value = namespace.fields[SUBSET_KEY]
    if value.WhichOneof("kind") != "list_value":
        return None
    return parse_subset_hint(v.string_value if v.WhichOneof("kind") == "string_value" else None
                             for v in value.list_value.values)


def validate_body(body: bytes, path: str) -> dict[str, Any]:
    """The parsed OpenAI request body, or a 400 :class:`RequestError` saying what is wrong."""
    try:
        parsed = json.loads(body)
    except ValueError as error:
        raise RequestError(400, "BadRequest", f"error unmarshaling request bodyMap: {error}") from None
    if not isinstance(parsed, dict):
        raise RequestError(400, "BadRequest", "error unmarshaling request bodyMap: not a JSON object")
    _suffix, field, check, message = next((api for api in _API_FIELDS if path.endswith(api[0])), _DEFAULT_API)
    if not check(parsed.get(field)):
        raise RequestError(400, "BadRequest", message)
    if not isinstance(parsed.get("model"), str):
        raise RequestError(400, "BadRequest", "model not found in request body")
    return parsed


def _header_options(headers: dict[str, str]) -> list[base_pb2.HeaderValueOption]:
    return [base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=key, raw_value=value.encode()))
            for key, value in headers.items()]


def _body_responses(body: bytes, *, end_of_stream: bool, field: str) -> list[pb.ProcessingResponse]:
    """``body`` in streamed chunks of at most 62,000 bytes (one empty chunk for an empty body)."""
    chunks = [body[i:i + BODY_CHUNK_LIMIT] for i in range(0, len(body), BODY_CHUNK_LIMIT)] or [b""]
    return [pb.ProcessingResponse(**{field: pb.BodyResponse(response=pb.CommonResponse(
        body_mutation=pb.BodyMutation(streamed_response=pb.StreamedBodyResponse(
            body=chunk, end_of_stream=end_of_stream and i == len(chunks) - 1))))})
        for i, chunk in enumerate(chunks)]


def immediate_response(error: RequestError) -> pb.ProcessingResponse:
    """The ext_proc answer that ends a request with ``error``'s status and message."""
    return pb.ProcessingResponse(immediate_response=pb.ImmediateResponse(
        status=http_status_pb2.HttpStatus(code=error.status), body=str(error).encode()))


class _Exchange:
    """One HTTP request's ext_proc stream: what has been received and what is still to send."""

    def __init__(self, servicer: ExtProcServicer) -> None:
        self._servicer = servicer
        self._request_headers: dict[str, str] = {}
        self._request_body = bytearray()
        self._response_headers_sent = False
        self._streaming = False
        self._response_body = bytearray()
        self._response_done = False

    def handle(self, request: pb.ProcessingRequest) -> list[pb.ProcessingResponse]:
        """The responses to send for ``request``; raises :class:`RequestError` to end the stream."""
        kind = request.WhichOneof("request")
        if kind == "request_headers":
            return self._on_request_headers(request.request_headers)
        if kind == "request_body":
            return self._on_request_body(request)
        if kind == "response_headers":
            return self._on_response_headers(request.response_headers)
        if kind == "response_body":
            return self._on_response_body(request.response_body)
        if kind == "response_trailers":
            return [*self._finish_response(end_of_stream=False),
                    pb.ProcessingResponse(response_trailers=pb.TrailersResponse())]
        return []

    def _on_request_headers(self, message: pb.HttpHeaders) -> list[pb.ProcessingResponse]:
        headers = {h.key: h.raw_value.decode(errors="replace") if h.raw_value else h.value
                   for h in message.headers.headers}
        if not any(key.lower() == REQUEST_ID_HEADER for key in headers):
            self._request_headers[REQUEST_ID_HEADER] = str(uuid.uuid4())
        if message.end_of_stream:
            target = self._servicer.random_endpoint()
            if target is None:
                raise RequestError(500, "Internal", "no pods available in datastore")
            return [self._headers_response(target.address, size=0)]
        self._request_headers.update(headers)
        return []

    def _on_request_body(self, request: pb.ProcessingRequest) -> list[pb.ProcessingResponse]:
        self._request_body += request.request_body.body
        if not request.request_body.end_of_stream:
            return []
        parsed = validate_body(bytes(self._request_body), self._request_headers.get(":path", "/v1/completions"))
        self._request_body.clear()
        target = self._servicer.choose(subset_hint(request))
        if target is None:
            raise RequestError(503, "ServiceUnavailable", "failed to find endpoint candidates for serving the request")
        body = json.dumps(parsed, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
        return [self._headers_response(target.address, size=len(body)),
                *_body_responses(body, end_of_stream=True, field="request_body")]

    def _headers_response(self, address: str, *, size: int) -> pb.ProcessingResponse:
        headers = {DESTINATION_KEY: address}
        if size > 0:
            headers["Content-Length"] = str(size)
        headers.update((k, v) for k, v in self._request_headers.items() if k.lower() not in _SYSTEM_HEADERS)
        metadata = struct_pb2.Struct()
        metadata.update({DESTINATION_NAMESPACE: {DESTINATION_KEY: address}})
        return pb.ProcessingResponse(
            request_headers=pb.HeadersResponse(response=pb.CommonResponse(
                clear_route_cache=True, header_mutation=pb.HeaderMutation(set_headers=_header_options(headers)))),
            dynamic_metadata=metadata)

    def _on_response_headers(self, message: pb.HttpHeaders) -> list[pb.ProcessingResponse]:
        headers = {"x-went-into-resp-headers": "true"}
        for header in message.headers.headers:
            value = header.raw_value.decode(errors="replace") if header.raw_value else header.value
            if header.key == "content-type" and "text/event-stream" in value:
                self._streaming = True
            if header.key.lower() not in _SYSTEM_HEADERS:
                headers[header.key] = value
        self._response_headers_sent = True
        return [pb.ProcessingResponse(response_headers=pb.HeadersResponse(response=pb.CommonResponse(
            header_mutation=pb.HeaderMutation(set_headers=_header_options(headers)))))]

    def _on_response_body(self, message: pb.HttpBody) -> list[pb.ProcessingResponse]:
        if self._streaming:
            self._response_done = self._response_done or message.end_of_stream
            if not self._response_headers_sent:
                return []
            return _body_responses(message.body, end_of_stream=message.end_of_stream, field="response_body")
        self._response_body += message.body
        return self._finish_response(end_of_stream=True) if message.end_of_stream else []

    def _finish_response(self, *, end_of_stream: bool) -> list[pb.ProcessingResponse]:
        if self._response_done:
            return []
        self._response_done = True
        if self._streaming or not self._response_headers_sent:
            return []
        body, self._response_body = bytes(self._response_body), bytearray()
        return _body_responses(body, end_of_stream=end_of_stream, field="response_body")


class ExtProcServicer(pb_grpc.ExternalProcessorServicer):
    """``envoy.service.ext_proc.v3.ExternalProcessor`` choosing endpoints from an :class:`EndpointState`."""

    def __init__(self, state: EndpointState, *, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._state = state
        self._rng = rng or random.Random()
        self._clock = clock

    def choose(self, hint: SubsetHint | None) -> Candidate | None:
        """The endpoint for one request given the gateway's hint."""
        state = self._state
        # A hint names few IPs: look those up instead of scanning the whole pool.
        candidates = (state.candidates() if hint is None else
                      state.at_ips([*hint.ips, *(a.rsplit(":", 1)[0].strip("[]") for a in hint.addresses)]))
        return pick(candidates, state.loads, hint=hint, now=self._clock(), rng=self._rng)

    def random_endpoint(self) -> Candidate | None:
        """Any endpoint of the pool (GIE's choice for requests without a body)."""
        candidates = self._state.candidates()
        return self._rng.choice(candidates) if candidates else None

    def Process(self, request_iterator: Iterator[pb.ProcessingRequest],  # noqa: N802 (gRPC name)
                context: grpc.ServicerContext) -> Iterator[pb.ProcessingResponse]:
        exchange = _Exchange(self)
        for request in request_iterator:
            try:
                responses = exchange.handle(request)
            except RequestError as error:
                yield immediate_response(error)
                return
            yield from responses
