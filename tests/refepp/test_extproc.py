"""The ext_proc servicer over a real loopback gRPC connection: GIE v1.5.0's wire behaviour."""

from __future__ import annotations

import json
import time
from concurrent import futures

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as extproc_grpc
from google.protobuf import json_format
from refepp_helpers import Served

from eppconf.refepp.extproc import BODY_CHUNK_LIMIT, ExtProcServicer
from eppconf.refepp.picker import Candidate, Load
from eppconf.refepp.state import EndpointState
from eppconf.refepp.tls import self_signed_pair

A1 = Candidate("a-rank-0", "a", "127.0.0.11", 8000)
A2 = Candidate("a-rank-1", "a", "127.0.0.11", 8001)
B1 = Candidate("b-rank-0", "b", "127.0.0.12", 8000)
BODY = {"model": "m", "prompt": "hello", "max_tokens": 3}


def headers(path: str = "/v1/completions", *, end_of_stream: bool = False,
            extra: dict[str, str] | None = None) -> pb.ProcessingRequest:
    values = {":path": path, ":method": "POST", "content-type": "application/json", **(extra or {})}
    return pb.ProcessingRequest(request_headers=pb.HttpHeaders(
        headers=base_pb2.HeaderMap(headers=[base_pb2.HeaderValue(key=k, raw_value=v.encode())
                                            for k, v in values.items()]),
        end_of_stream=end_of_stream))


def body(data: bytes, *, end_of_stream: bool = True, hint: list[object] | None = None) -> pb.ProcessingRequest:
    request = pb.ProcessingRequest(request_body=pb.HttpBody(body=data, end_of_stream=end_of_stream))
    if hint is not None:
        request.metadata_context.filter_metadata["envoy.lb.subset_hint"].update(
            {"x-gateway-destination-endpoint-subset": hint})
    return request


def exchange(served: Served, *requests: pb.ProcessingRequest) -> list[pb.ProcessingResponse]:
    return list(served.extproc.Process(iter(requests), timeout=10))


def route(served: Served, *, hint: list[object] | None = None, payload: dict[str, object] = BODY,
          path: str = "/v1/completions") -> list[pb.ProcessingResponse]:
    return exchange(served, headers(path), body(json.dumps(payload).encode(), hint=hint))


def set_headers(response: pb.HeadersResponse) -> dict[str, str]:
    return {h.header.key: h.header.raw_value.decode() for h in response.response.header_mutation.set_headers}


def destination(responses: list[pb.ProcessingResponse]) -> str:
    """The endpoint of a routing decision, checked to agree between header and metadata."""
    first = responses[0]
    assert first.WhichOneof("response") == "request_headers", first
    header = set_headers(first.request_headers)["x-gateway-destination-endpoint"]
    metadata = json_format.MessageToDict(first.dynamic_metadata)
    assert metadata == {"envoy.lb": {"x-gateway-destination-endpoint": header}}
    return header


def immediate(responses: list[pb.ProcessingResponse]) -> tuple[int, str]:
    assert len(responses) == 1 and responses[0].WhichOneof("response") == "immediate_response", responses
    answer = responses[0].immediate_response
    return answer.status.code, answer.body.decode()


def fresh(waiting: float, kv: float = 0.0, running: float = 0.0) -> Load:
    return Load(waiting=waiting, kv_cache=kv, running=running, scraped_at=time.monotonic())


def publish(served: Served, *candidates: Candidate, loads: dict[Candidate, Load] | None = None) -> None:
    served.state.publish(candidates)
    for candidate, load in (loads or {}).items():
        served.state.record(candidate.address, load)


def test_decision_is_a_headers_response_then_the_body(served: Served) -> None:
    publish(served, A1, A2, B1, loads={A1: fresh(4), A2: fresh(1), B1: fresh(2)})
    responses = route(served)
    assert destination(responses) == A2.address
    assert [r.WhichOneof("response") for r in responses] == ["request_headers", "request_body"]
    common = responses[0].request_headers.response
    assert common.clear_route_cache
    sent = set_headers(responses[0].request_headers)
    streamed = responses[1].request_body.response.body_mutation.streamed_response
    assert streamed.end_of_stream and json.loads(streamed.body) == BODY
    assert sent["Content-Length"] == str(len(streamed.body))
    assert sent[":path"] == "/v1/completions" and sent["content-type"] == "application/json"
    assert sent["x-request-id"], "a request id is generated when the request has none"


def test_request_id_is_kept_and_control_headers_are_not_echoed(served: Served) -> None:
    publish(served, A1)
    extra = {"x-request-id": "abc", "x-gateway-destination-endpoint-subset": "1.2.3.4", "content-length": "9"}
    responses = exchange(served, headers(extra=extra), body(json.dumps(BODY).encode()))
    sent = set_headers(responses[0].request_headers)
    assert sent["x-request-id"] == "abc"
    assert "x-gateway-destination-endpoint-subset" not in sent and "content-length" not in sent


def test_body_chunks_are_buffered_until_end_of_stream(served: Served) -> None:
    publish(served, B1)
    data = json.dumps(BODY).encode()
    responses = exchange(served, headers(), body(data[:5], end_of_stream=False), body(data[5:]))
    assert destination(responses) == B1.address


def test_large_bodies_go_back_in_chunks(served: Served) -> None:
    publish(served, A1)
    responses = route(served, payload={"model": "m", "prompt": "x" * (BODY_CHUNK_LIMIT + 100)})
    chunks = [r.request_body.response.body_mutation.streamed_response for r in responses[1:]]
    assert [len(c.body) for c in chunks][0] == BODY_CHUNK_LIMIT
    assert [c.end_of_stream for c in chunks] == [False, True]


def test_exact_hint_picks_that_port_even_if_busier(served: Served) -> None:
    publish(served, A1, A2, B1, loads={A1: fresh(9), A2: fresh(0), B1: fresh(0)})
    assert destination(route(served, hint=[A1.address])) == A1.address


def test_ip_hint_allows_every_port_of_the_ip(served: Served) -> None:
    publish(served, A1, A2, B1, loads={A1: fresh(9), A2: fresh(1), B1: fresh(0)})
    assert destination(route(served, hint=["127.0.0.11"])) == A2.address


def test_hint_from_the_body_message_and_non_strings_ignored(served: Served) -> None:
    publish(served, A1, B1)
    assert destination(route(served, hint=[7, B1.address])) == B1.address


def test_empty_hint_is_a_503(served: Served) -> None:
    publish(served, A1, B1)
    status, message = immediate(route(served, hint=[]))
    assert status == 503
    assert message == "inference error: ServiceUnavailable - failed to find endpoint candidates for serving the request"


def test_hint_matching_nothing_is_a_503(served: Served) -> None:
    publish(served, A1, B1)
    assert immediate(route(served, hint=["127.0.0.11:9999", "127.0.0.99"]))[0] == 503


def test_no_endpoints_is_a_503(served: Served) -> None:
    assert immediate(route(served))[0] == 503


def test_hint_that_is_not_a_list_is_ignored(served: Served) -> None:
    publish(served, A1)
    request = body(json.dumps(BODY).encode())
    request.metadata_context.filter_metadata["envoy.lb.subset_hint"].update(
        {"x-gateway-destination-endpoint-subset": "127.0.0.99:1"})
    assert destination(exchange(served, headers(), request)) == A1.address


def test_invalid_json_is_a_400(served: Served) -> None:
    publish(served, A1)
    status, message = immediate(exchange(served, headers(), body(b"{nope")))
    assert status == 400 and message.startswith("inference error: BadRequest - error unmarshaling request bodyMap")


def test_missing_model_is_a_400(served: Served) -> None:
    publish(served, A1)
    status, message = immediate(route(served, payload={"prompt": "hi"}))
    assert (status, message) == (400, "inference error: BadRequest - model not found in request body")


def test_chat_completions_need_messages(served: Served) -> None:
    publish(served, A1)
    status, message = immediate(route(served, payload={"model": "m", "messages": []}, path="/v1/chat/completions"))
    assert status == 400 and "messages" in message
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert destination(route(served, payload=chat, path="/v1/chat/completions")) == A1.address


def test_bodiless_request_goes_to_a_random_endpoint_at_once(served: Served) -> None:
    publish(served, A1, A2)
    responses = exchange(served, headers(end_of_stream=True), body(b"", hint=[]))
    assert destination(responses[:1]) in {A1.address, A2.address}
    assert "Content-Length" not in set_headers(responses[0].request_headers)


def test_bodiless_request_without_endpoints_is_a_500(served: Served) -> None:
    status, message = immediate(exchange(served, headers(end_of_stream=True)))
    assert (status, message) == (500, "inference error: Internal - no pods available in datastore")


def response_headers(content_type: str) -> pb.ProcessingRequest:
    return pb.ProcessingRequest(response_headers=pb.HttpHeaders(headers=base_pb2.HeaderMap(headers=[
        base_pb2.HeaderValue(key=":status", raw_value=b"200"),
        base_pb2.HeaderValue(key="content-type", raw_value=content_type.encode())])))


def response_body(data: bytes, *, end_of_stream: bool) -> pb.ProcessingRequest:
    return pb.ProcessingRequest(response_body=pb.HttpBody(body=data, end_of_stream=end_of_stream))


def streamed(response: pb.ProcessingResponse) -> tuple[bytes, bool]:
    chunk = response.response_body.response.body_mutation.streamed_response
    return chunk.body, chunk.end_of_stream


def test_buffered_response_goes_back_whole_at_end_of_stream(served: Served) -> None:
    publish(served, A1)
    responses = exchange(served, headers(), body(json.dumps(BODY).encode()), response_headers("application/json"),
                         response_body(b'{"a":', end_of_stream=False), response_body(b"1}", end_of_stream=True))
    kinds = [r.WhichOneof("response") for r in responses]
    assert kinds == ["request_headers", "request_body", "response_headers", "response_body"]
    assert set_headers(responses[2].response_headers) == {"x-went-into-resp-headers": "true", ":status": "200",
                                                          "content-type": "application/json"}
    assert streamed(responses[3]) == (b'{"a":1}', True)


def test_event_stream_response_goes_back_chunk_by_chunk(served: Served) -> None:
    publish(served, A1)
    responses = exchange(served, headers(), body(json.dumps(BODY).encode()), response_headers("text/event-stream"),
                         response_body(b"data: 1\n\n", end_of_stream=False),
                         response_body(b"data: [DONE]\n\n", end_of_stream=True))
    assert [streamed(r) for r in responses[3:]] == [(b"data: 1\n\n", False), (b"data: [DONE]\n\n", True)]


def test_response_trailers_flush_the_body_then_answer(served: Served) -> None:
    publish(served, A1)
    responses = exchange(served, headers(), body(json.dumps(BODY).encode()), response_headers("application/grpc"),
                         response_body(b"abc", end_of_stream=False),
                         pb.ProcessingRequest(response_trailers=pb.HttpTrailers()))
    assert streamed(responses[3]) == (b"abc", False)
    assert responses[4].WhichOneof("response") == "response_trailers"


def test_tls_with_the_self_signed_certificate() -> None:
    key, cert = self_signed_pair(["localhost", "127.0.0.1"])
    state = EndpointState(pool_name="pool", pool_namespace="ns")
    state.publish([A1])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    extproc_grpc.add_ExternalProcessorServicer_to_server(ExtProcServicer(state), server)
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
    server.start()
    channel = grpc.secure_channel(f"127.0.0.1:{port}", grpc.ssl_channel_credentials(root_certificates=cert))
    try:
        stub = extproc_grpc.ExternalProcessorStub(channel)
        responses = list(stub.Process(iter([headers(), body(json.dumps(BODY).encode())]), timeout=10))
        assert set_headers(responses[0].request_headers)["x-gateway-destination-endpoint"] == A1.address
    finally:
        channel.close()
        server.stop(grace=None).wait()


def test_ipv6_exact_hint(served: Served) -> None:
    v6 = Candidate("c-rank-0", "c", "fd00::1", 8000)
    publish(served, A1, v6, Candidate("c-rank-1", "c", "fd00::1", 8001), loads={A1: fresh(0), v6: fresh(5)})
    assert destination(route(served, hint=["[fd00::1]:8000"])) == "[fd00::1]:8000"
