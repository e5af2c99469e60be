"""The gateway client: an Envoy ext_proc client that asks an EPP for an endpoint and forwards the request.

Wire contract, as Envoy plays it with GIE's EPP v1.5.0 (``processing_mode``: request and response
headers SEND, request and response bodies FULL_DUPLEX_STREAMED, as in GIE's own Envoy config), all on
one ``envoy.service.ext_proc.v3.ExternalProcessor/Process`` stream per HTTP request:

1. client -> EPP: ``request_headers`` (pseudo headers ``:method :path :authority :scheme``,
   ``content-type``, ``x-request-id`` and the caller's headers, values in ``raw_value``,
   ``end_of_stream`` false), then the body in ``request_body`` chunks of at most
   ``BODY_CHUNK_BYTES``, the last with ``end_of_stream`` true. Every message carries the same
   ``metadata_context``; the subset hint, when given, is
   ``filter_metadata["envoy.lb.subset_hint"]["x-gateway-destination-endpoint-subset"]``, a list of
   ``ip:port`` strings. GIE reads the metadata of the message that ends the body, so it must be on
   every message.
2. EPP -> client, once the body has ended: either one ``immediate_response`` (its HTTP status, e.g.
   503 nothing eligible, 429 shed, 400 bad body) which ends the exchange; or a ``request_headers``
   response whose header mutation sets ``x-gateway-destination-endpoint`` and whose
   ``dynamic_metadata["envoy.lb"]["x-gateway-destination-endpoint"]`` carries the same value
   (``ip:port`` or a comma-separated fallback list), followed by ``request_body`` responses with
   ``streamed_response`` chunks, the last with ``end_of_stream``: the body Envoy forwards.
3. The client forwards the request over HTTP to the first endpoint of the list (Envoy's
   ``ORIGINAL_DST`` cluster reading that header), with the headers the EPP set.
4. client -> EPP: ``response_headers`` (``:status``, ``content-type``), EPP answers with a
   ``response_headers`` response; then ``response_body`` with ``end_of_stream``, EPP answers with
   ``response_body`` streamed chunks (the body the client sees). Then the client half-closes.

TLS: upstream EPPs serve TLS with a self-signed certificate by default and Envoy accepts it without
verification. gRPC for Python cannot skip verification, so a TLS connection goes through a loopback
tunnel of this module that does the TLS handshake without verifying and relays plain bytes.
"""

from __future__ import annotations

import http.client
import json
import queue
import select
import socket
import ssl
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc
from google.protobuf import struct_pb2

from conformance.harness.relay import LoopbackRelay

SUBSET_HINT_NAMESPACE = "envoy.lb.subset_hint"
SUBSET_HINT_KEY = "x-gateway-destination-endpoint-subset"
DESTINATION_NAMESPACE = "envoy.lb"
DESTINATION_KEY = "x-gateway-destination-endpoint"
SERVED_BY_HEADER = "x-eppconf-served-by"
"""The header a fake model server adds to name the ``ip:port`` that answered."""
BODY_CHUNK_BYTES = 62_000
"""Largest request body chunk sent in one message (GIE's own limit for the chunks it sends back)."""
DEFAULT_PATH = "/v1/completions"
RECONNECT_BACKOFF = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
                     ("grpc.max_reconnect_backoff_ms", 500)]
"""Channel options: an EPP may report SERVING seconds before its ext_proc port listens (GIE's
lightweight EPP creates its TLS key first); gRPC's default backoff (1 s, growing to 120 s) would
make the first decision wait far longer than that."""


class GatewayError(RuntimeError):
    """The EPP could not be reached or broke the ext_proc protocol; the message says what and where."""


@dataclass(frozen=True)
class Decision:
    """What the EPP answered to one request.

    ``status`` is 200 when the EPP let the request through (then ``endpoints`` is the header's list
    and ``metadata_endpoints`` the dynamic metadata's list), otherwise the immediate response's status.
    """

    status: int
    request_id: str
    endpoints: tuple[str, ...] = ()
    metadata_endpoints: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    """The request headers Envoy forwards: the client's with the EPP's set on top, no pseudo headers,
    keys lower-cased."""
    removed_headers: tuple[str, ...] = ()
    body: bytes = b""
    """The request body the EPP handed back (what Envoy forwards); the immediate response's body otherwise."""

    @property
    def agree(self) -> bool:
        """Whether the header and the dynamic metadata name the same endpoints."""
        return self.endpoints == self.metadata_endpoints

    @property
    def routed(self) -> bool:
        """Whether the EPP picked at least one endpoint and said so consistently."""
        return self.status == 200 and bool(self.endpoints) and self.agree

    @property
    def endpoint(self) -> str | None:
        """The first (primary) endpoint picked, if the decision is routed."""
        return self.endpoints[0] if self.routed else None

    def describe(self) -> str:
        """One line for failure messages."""
        if self.status != 200:
            return f"immediate response {self.status}: {self.body.decode(errors='replace')[:200]}"
        if not self.agree:
            return (f"header {DESTINATION_KEY}={','.join(self.endpoints)!r} disagrees with dynamic metadata "
                    f"{DESTINATION_NAMESPACE}/{DESTINATION_KEY}={','.join(self.metadata_endpoints)!r}")
        if not self.endpoints:
            return f"no {DESTINATION_KEY} in the answer"
        return f"picked {','.join(self.endpoints)}"


@dataclass(frozen=True)
class Delivery:
    """A request that went through the gateway: the decision, where it was forwarded and the answer."""

    decision: Decision
    endpoint: str | None
    """The ``ip:port`` the request was forwarded to; ``None`` when the EPP answered itself."""
    status: int
    """HTTP status the client got (the model server's, or the EPP's immediate response)."""
    served_by: str | None
    """The model server's ``x-eppconf-served-by`` header (fake servers only)."""
    body: bytes


def subset_metadata(subset: Sequence[str]) -> base_pb2.Metadata:
    """The ``metadata_context`` carrying the subset hint ``subset``."""
    hint = struct_pb2.Struct()
    hint[SUBSET_HINT_KEY] = list(subset)
    return base_pb2.Metadata(filter_metadata={SUBSET_HINT_NAMESPACE: hint})


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """``("10.0.0.1", 8000)`` from ``"10.0.0.1:8000"`` (``[v6]:port`` too); ``ValueError`` otherwise."""
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"endpoint {endpoint!r} is not ip:port")
    return host.strip("[]"), int(port)


class GatewayClient:
    """Plays Envoy in front of the EPP at ``target`` (``host:port`` of its ext_proc server).

    ``tls``: True or False, or None to find out (TLS first, without verification, as upstream EPPs
    serve self-signed certificates; plaintext if the handshake fails). ``timeout`` bounds one
    exchange with the EPP and one forwarded HTTP request, in seconds. ``proxy``: an HTTP proxy
    (``host``, ``port``) that forwarded requests go through in a CONNECT tunnel, for endpoints the
    client cannot reach itself.
    """

    def __init__(self, target: str, *, tls: bool | None = None, timeout: float = 10.0,
                 proxy: tuple[str, int] | None = None) -> None:
        self.target = target
        self.timeout = timeout
        self.proxy = proxy
        host, port = split_endpoint(target)
        self.tls = _speaks_tls(host, port, timeout=timeout) if tls is None else tls
        self._tunnel = _TlsTunnel(host, port) if self.tls else None
        channel_target = self._tunnel.address if self._tunnel else target
        self._channel = grpc.insecure_channel(channel_target, options=RECONNECT_BACKOFF)
        self._stub = pb_grpc.ExternalProcessorStub(self._channel)

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel and the TLS tunnel, if any."""
        self._channel.close()
        if self._tunnel is not None:
            self._tunnel.close()

    def decide(self, model: str, *, subset: Sequence[str] | None = None, prompt: str | None = None,
               headers: Mapping[str, str] | None = None, path: str = DEFAULT_PATH) -> Decision:
        """Ask the EPP where a completion request for ``model`` goes, without forwarding it.

        ``subset`` is the subset hint (None: no hint; empty: the empty hint). ``prompt`` defaults to a
        unique text, so no prefix-cache affinity steers the pick.
        """
        with _Exchange(self._stub, self.timeout, self.target) as exchange:
            return self._request_phase(exchange, model, subset=subset, prompt=prompt, headers=headers, path=path)

    def send(self, model: str, *, subset: Sequence[str] | None = None, prompt: str | None = None,
             headers: Mapping[str, str] | None = None, path: str = DEFAULT_PATH) -> Delivery:
        """Decide, forward the request to the picked endpoint as Envoy would, and report who served it."""
        with _Exchange(self._stub, self.timeout, self.target) as exchange:
            decision = self._request_phase(exchange, model, subset=subset, prompt=prompt, headers=headers,
                                           path=path)
            if decision.status != 200:
                return Delivery(decision, None, decision.status, None, decision.body)
            if not decision.routed:
                raise GatewayError(f"EPP at {self.target}: {decision.describe()}")
            endpoint = decision.endpoints[0]
            status, response_headers, body = self._forward(endpoint, decision, path=path)
            client_body = self._response_phase(exchange, status, response_headers, body)
        return Delivery(decision, endpoint, status, response_headers.get(SERVED_BY_HEADER), client_body)

    def _request_phase(self, exchange: _Exchange, model: str, *, subset: Sequence[str] | None,
                       prompt: str | None, headers: Mapping[str, str] | None, path: str) -> Decision:
        request_id = str(uuid.uuid4())
        body = json.dumps({"model": model, "prompt": prompt or f"eppconf probe {request_id}",
                           "max_tokens": 1}).encode()
        all_headers = {":method": "POST", ":path": path, ":authority": "gateway.eppconf.local",
                       ":scheme": "http", "content-type": "application/json",
                       "content-length": str(len(body)), "x-request-id": request_id}
        all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
        metadata = subset_metadata(subset) if subset is not None else None
        exchange.send(pb.ProcessingRequest(request_headers=_http_headers(all_headers), metadata_context=metadata))
        for start in range(0, len(body), BODY_CHUNK_BYTES):
            chunk = body[start:start + BODY_CHUNK_BYTES]
            last = start + BODY_CHUNK_BYTES >= len(body)
            exchange.send(pb.ProcessingRequest(request_body=pb.HttpBody(body=chunk, end_of_stream=last),
                                               metadata_context=metadata))

        first = exchange.receive("the request headers response")
        if first.HasField("immediate_response"):
            return _immediate(first.immediate_response, request_id)
        if not first.HasField("request_headers"):
            raise GatewayError(f"EPP at {self.target} answered the request with {_kind(first)}, "
                               "expected request_headers or immediate_response")
        mutation = first.request_headers.response.header_mutation
        set_headers = {option.header.key.lower(): _header_value(option.header) for option in mutation.set_headers}
        forwarded_body = self._request_body(exchange, body)
        if isinstance(forwarded_body, Decision):
            return forwarded_body
        return Decision(status=200, request_id=request_id,
                        endpoints=_endpoint_list(set_headers.get(DESTINATION_KEY, "")),
                        metadata_endpoints=_metadata_endpoints(first.dynamic_metadata),
                        headers={k: v for k, v in {**all_headers, **set_headers}.items() if not k.startswith(":")},
                        removed_headers=tuple(h.lower() for h in mutation.remove_headers),
                        body=forwarded_body)

    def _request_body(self, exchange: _Exchange, original: bytes) -> bytes | Decision:
        """Read the EPP's request body responses: the body to forward (or an immediate response)."""
        streamed = b""
        while True:
            reply = exchange.receive("the request body responses")
            if reply.HasField("immediate_response"):
                return _immediate(reply.immediate_response, "")
            if not reply.HasField("request_body"):
                raise GatewayError(f"EPP at {self.target} sent {_kind(reply)} before finishing the request body")
            mutation = reply.request_body.response.body_mutation
            kind = mutation.WhichOneof("mutation")
            if kind is None:
                return original
            if kind == "body":
                return mutation.body
            if kind == "clear_body":
                return b""
            streamed += mutation.streamed_response.body
            if mutation.streamed_response.end_of_stream:
                return streamed

    def _forward(self, endpoint: str, decision: Decision, *, path: str) -> tuple[int, dict[str, str], bytes]:
        """POST the request to ``endpoint`` with the headers the EPP set; (status, headers, body)."""
        host, port = split_endpoint(endpoint)
        headers = {k: v for k, v in decision.headers.items() if k not in decision.removed_headers}
        headers["content-length"] = str(len(decision.body))
        if self.proxy is None:
            connection = http.client.HTTPConnection(host, port, timeout=self.timeout)
        else:
            connection = http.client.HTTPConnection(*self.proxy, timeout=self.timeout)
            connection.set_tunnel(host, port)
        try:
            connection.request("POST", path, body=decision.body, headers=headers)
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        except OSError as error:
            raise GatewayError(f"forwarding to {endpoint} (picked by {self.target}) failed: {error}") from None
        finally:
            connection.close()

    def _response_phase(self, exchange: _Exchange, status: int, headers: Mapping[str, str], body: bytes) -> bytes:
        """Let the EPP see the model server's answer, as Envoy does; the body the client gets."""
        response_headers = {":status": str(status), "content-type": headers.get("content-type", "application/json")}
        exchange.send(pb.ProcessingRequest(response_headers=_http_headers(response_headers)))
        reply = exchange.receive("the response headers response")
        if not reply.HasField("response_headers"):
            raise GatewayError(f"EPP at {self.target} answered the response headers with {_kind(reply)}")
        exchange.send(pb.ProcessingRequest(response_body=pb.HttpBody(body=body, end_of_stream=True)))
        streamed = b""
        while True:
            reply = exchange.receive("the response body responses")
            if not reply.HasField("response_body"):
                raise GatewayError(f"EPP at {self.target} answered the response body with {_kind(reply)}")
            mutation = reply.response_body.response.body_mutation
            if mutation.WhichOneof("mutation") != "streamed_response":
                return body
            streamed += mutation.streamed_response.body
            if mutation.streamed_response.end_of_stream:
                return streamed


class _Exchange:
    """One ``Process`` stream: messages go out through a queue, replies are read one by one."""

    def __init__(self, stub: pb_grpc.ExternalProcessorStub, timeout: float, target: str) -> None:
        self._outbox: queue.SimpleQueue[pb.ProcessingRequest | None] = queue.SimpleQueue()
        self._target = target
        # wait_for_ready: an EPP may report healthy a moment before its ext_proc port listens
        self._call = stub.Process(self._requests(), timeout=timeout, wait_for_ready=True)

    def __enter__(self) -> _Exchange:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._outbox.put(None)
        self._call.cancel()

    def _requests(self) -> Iterator[pb.ProcessingRequest]:
        while (message := self._outbox.get()) is not None:
            yield message

    def send(self, message: pb.ProcessingRequest) -> None:
        self._outbox.put(message)

    def receive(self, waiting_for: str) -> pb.ProcessingResponse:
        try:
            return next(self._call)
        except StopIteration:
            raise GatewayError(f"EPP at {self._target} ended the stream while the gateway waited for "
                               f"{waiting_for}") from None
        except grpc.RpcError as error:
            raise GatewayError(f"EPP at {self._target} failed while the gateway waited for {waiting_for}: "
                               f"{error.code().name}: {error.details()}") from None


def _http_headers(headers: Mapping[str, str]) -> pb.HttpHeaders:
    values = [base_pb2.HeaderValue(key=k, raw_value=v.encode()) for k, v in headers.items()]
    return pb.HttpHeaders(headers=base_pb2.HeaderMap(headers=values), end_of_stream=False)


def _header_value(header: base_pb2.HeaderValue) -> str:
    return header.raw_value.decode(errors="replace") if header.raw_value else header.value


def _endpoint_list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _metadata_endpoints(metadata: struct_pb2.Struct) -> tuple[str, ...]:
    namespace = metadata.fields.get(DESTINATION_NAMESPACE)
    if namespace is None or namespace.WhichOneof("kind") != "struct_value":
        return ()
    value = namespace.struct_value.fields.get(DESTINATION_KEY)
    if value is None or value.WhichOneof("kind") != "string_value":
        return ()
    return _endpoint_list(value.string_value)


def _immediate(response: pb.ImmediateResponse, request_id: str) -> Decision:
    return Decision(status=int(response.status.code), request_id=request_id, body=response.body)


def _kind(response: pb.ProcessingResponse) -> str:
    return response.WhichOneof("response") or "an empty response"


# TLS without verification -----------------------------------------------------------------------

def _client_tls_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])  # grpc-go servers refuse TLS clients that do not offer h2
    return context


def _speaks_tls(host: str, port: int, *, timeout: float) -> bool:
    """Whether ``host:port`` completes a TLS handshake; ``GatewayError`` if it cannot be reached
    within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            raw = socket.create_connection((host, port), timeout=timeout)
            break
        except OSError as error:
            if time.monotonic() >= deadline:
                raise GatewayError(f"cannot reach the EPP at {host}:{port}: {error}") from None
            time.sleep(0.05)
    try:
        with _client_tls_context().wrap_socket(raw, server_hostname=host):
            return True
    except (ssl.SSLError, ConnectionError, TimeoutError):
        return False
    finally:
        raw.close()


class _TlsTunnel(LoopbackRelay):
    """A loopback listener relaying each connection to ``host:port`` over unverified TLS.

    One thread per connection, which alone touches that connection's TLS socket.
    """

    thread_name = "eppconf-tls-relay"

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        super().__init__()

    def relay(self, downstream: socket.socket) -> None:
        try:
            raw = socket.create_connection(self._upstream, timeout=10.0)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            upstream = _client_tls_context().wrap_socket(raw, server_hostname=self._upstream[0])
        except OSError:
            downstream.close()
            return
        upstream.settimeout(None)
        with downstream, upstream:
            self._pump(downstream, upstream)

    def _pump(self, downstream: socket.socket, upstream: ssl.SSLSocket) -> None:
        while not self.stopping.is_set():
            readable, _, _ = select.select([downstream, upstream], [], [], 0.05)
            try:
                if (upstream in readable or upstream.pending()) and not self._relay_upstream(upstream, downstream):
                    return
                if downstream in readable:
                    data = downstream.recv(65536)
                    if not data:
                        return
                    upstream.sendall(data)
            except (OSError, ssl.SSLError):
                return

    @staticmethod
    def _relay_upstream(upstream: ssl.SSLSocket, downstream: socket.socket) -> bool:
        """Relay what the TLS side has decrypted; False once it closed.

        Reads without blocking: readable bytes may be a partial record or a session ticket, and a
        blocking read would stall the other direction.
        """
        upstream.setblocking(False)
        try:
            data = upstream.recv(65536)
        except ssl.SSLWantReadError:
            return True
        finally:
            upstream.setblocking(True)
        if not data:
            return False
        downstream.sendall(data)
        return True
