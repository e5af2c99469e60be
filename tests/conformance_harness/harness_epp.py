"""A tiny in-test EPP: an ext_proc server (plain or TLS) routing from an endpoint set the test controls.

It speaks the wire contract of ``conformance.harness.gateway`` the way GIE's EPP does: answers only
once the body has ended, header plus ``envoy.lb`` metadata, the body back as streamed chunks, then the
response phase. It scrapes ``/metrics`` of its routed endpoints every ``scrape_interval`` seconds and
picks the candidate with the fewest waiting requests.
"""

from __future__ import annotations

import datetime
import re
import statistics
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc
from envoy.type.v3 import http_status_pb2
from google.protobuf import json_format, struct_pb2

from conformance.harness.gateway import (
    DESTINATION_KEY,
    DESTINATION_NAMESPACE,
    SUBSET_HINT_KEY,
    SUBSET_HINT_NAMESPACE,
    GatewayClient,
    split_endpoint,
)

_WAITING = re.compile(r"^vllm:num_requests_waiting(?:\{[^}]*\})? ([0-9.eE+-]+)$", re.MULTILINE)


@dataclass
class RoutingState:
    """What the test controls and what the EPP saw."""

    routed: set[str] = field(default_factory=set)
    ip_only: bool = False
    """Match the subset hint on the IP only, as GIE v1.5.0 does."""
    fail_when_none_eligible: bool = False
    """Fail the stream (INTERNAL) instead of answering 503 when nothing is eligible, as GIE's
    lightweight EPP v1.6.0 does."""
    metadata_override: str | None = None
    """Put this in ``envoy.lb`` instead of the pick, to make header and metadata disagree."""
    hints: list[list[str] | None] = field(default_factory=list)
    waiting: dict[str, float] = field(default_factory=dict)
    broken_streams: int = 0
    """Fail this many of the next ext_proc streams (UNAVAILABLE) instead of answering them."""


class RoutingEpp(pb_grpc.ExternalProcessorServicer):
    """The ext_proc server; ``start()`` binds 127.0.0.1 and returns ``host:port``, ``stop()`` ends all."""

    def __init__(self, *, tls: bool = False, scrape_interval: float = 0.05) -> None:
        self.state = RoutingState()
        self.tls = tls
        self.target = ""
        self.scrape_interval = scrape_interval
        self._lock = threading.Lock()
        self._round_done = threading.Condition(self._lock)
        self._rounds = 0
        self._stop = threading.Event()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb_grpc.add_ExternalProcessorServicer_to_server(self, self._server)
        self._scraper = threading.Thread(target=self._scrape_loop, name="harness-epp-scraper", daemon=True)

    def start(self, port: int = 0) -> str:
        if self.tls:
            key, cert = _self_signed()
            port = self._server.add_secure_port(f"127.0.0.1:{port}", grpc.ssl_server_credentials([(key, cert)]))
        else:
            port = self._server.add_insecure_port(f"127.0.0.1:{port}")
        self._server.start()
        self._scraper.start()
        self.target = f"127.0.0.1:{port}"
        return self.target

    def stop(self) -> None:
        self._stop.set()
        if self._scraper.is_alive():
            self._scraper.join()
        self._server.stop(grace=None).wait()

    def set_routed(self, endpoints: set[str]) -> None:
        """Route to ``endpoints`` from now on."""
        with self._lock:
            self.state.routed = set(endpoints)

    def route(self, endpoints: set[str], *, timeout: float = 5.0) -> None:
        """Route to ``endpoints`` and return once a whole scrape round has covered them."""
        self.set_routed(endpoints)
        with self._round_done:
            target = self._rounds + 2  # the round under way may have started before the change
            if not self._round_done.wait_for(lambda: self._rounds >= target, timeout):
                raise TimeoutError(f"the in-test EPP did not scrape {sorted(endpoints)} within {timeout}s")

    # scraping ------------------------------------------------------------------------------------
    def _scrape_loop(self) -> None:
        while not self._stop.wait(self.scrape_interval):
            with self._lock:
                routed = sorted(self.state.routed)
            for endpoint in routed:
                waiting = _scrape_waiting(endpoint)
                with self._lock:
                    self.state.waiting[endpoint] = waiting
            with self._round_done:
                self._rounds += 1
                self._round_done.notify_all()

    # ext_proc ------------------------------------------------------------------------------------
    def Process(self, request_iterator: Iterator[pb.ProcessingRequest],
                context: grpc.ServicerContext) -> Iterator[pb.ProcessingResponse]:
        with self._lock:
            broken = self.state.broken_streams > 0
            self.state.broken_streams -= broken
        if broken:
            context.abort(grpc.StatusCode.UNAVAILABLE, "stream broken by the test")
        body = b""
        for message in request_iterator:
            kind = message.WhichOneof("request")
            if kind == "request_body":
                body += message.request_body.body
                if message.request_body.end_of_stream:
                    yield from self._decide(_hint(message), body, context)
            elif kind == "response_headers":
                yield pb.ProcessingResponse(response_headers=pb.HeadersResponse())
            elif kind == "response_body" and message.response_body.end_of_stream:
                body = _streamed(message.response_body.body)
                yield pb.ProcessingResponse(response_body=pb.BodyResponse(response=body))

    def _decide(self, hint: list[str] | None, body: bytes,
                context: grpc.ServicerContext) -> Iterator[pb.ProcessingResponse]:
        with self._lock:
            self.state.hints.append(hint)
            candidates = sorted(self._eligible(hint), key=lambda e: (self.state.waiting.get(e, float("inf")), e))
            metadata_value = self.state.metadata_override
            fail = self.state.fail_when_none_eligible
        if not candidates and fail:
            context.abort(grpc.StatusCode.INTERNAL, "no endpoints available")
        if not candidates:
            yield pb.ProcessingResponse(immediate_response=pb.ImmediateResponse(
                status=http_status_pb2.HttpStatus(code=http_status_pb2.ServiceUnavailable), body=b"no candidates"))
            return
        pick = candidates[0]
        header = base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=DESTINATION_KEY, raw_value=pick.encode()))
        metadata = struct_pb2.Struct()
        metadata.update({DESTINATION_NAMESPACE: {DESTINATION_KEY: metadata_value or pick}})
        yield pb.ProcessingResponse(
            request_headers=pb.HeadersResponse(response=pb.CommonResponse(
                clear_route_cache=True, header_mutation=pb.HeaderMutation(set_headers=[header]))),
            dynamic_metadata=metadata)
        yield pb.ProcessingResponse(request_body=pb.BodyResponse(response=_streamed(body)))

    def _eligible(self, hint: list[str] | None) -> list[str]:
        routed = self.state.routed
        if hint is None:
            return list(routed)
        if self.state.ip_only:
            addresses = {split_endpoint(e)[0] for e in hint}
            return [e for e in routed if split_endpoint(e)[0] in addresses]
        return [e for e in routed if e in hint]


def median_decision_seconds(gateway: GatewayClient, decisions: int = 21) -> float:
    """The median time of ``decisions`` decisions, after one that opens the stream."""
    gateway.decide("m")
    samples = []
    for _ in range(decisions):
        started = time.perf_counter()
        gateway.decide("m")
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _hint(message: pb.ProcessingRequest) -> list[str] | None:
    namespace = message.metadata_context.filter_metadata.get(SUBSET_HINT_NAMESPACE)
    if namespace is None:
        return None
    value = json_format.MessageToDict(namespace).get(SUBSET_HINT_KEY)
    return None if value is None else list(value)


def _streamed(body: bytes) -> pb.CommonResponse:
    return pb.CommonResponse(body_mutation=pb.BodyMutation(
        streamed_response=pb.StreamedBodyResponse(body=body, end_of_stream=True)))


def _scrape_waiting(endpoint: str) -> float:
    try:
        with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=1.0) as response:
            text = response.read().decode()
    except OSError:
        return float("inf")
    match = _WAITING.search(text)
    return float(match.group(1)) if match else float("inf")


def _self_signed() -> tuple[bytes, bytes]:
    """A key and a self-signed certificate with no name the client could verify, as GIE makes."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Inference Ext")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)
