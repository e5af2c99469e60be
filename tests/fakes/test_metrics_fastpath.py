"""The /metrics fast path: kept-alive and pipelined scrapes, hand-over to aiohttp, failures, closing."""

from __future__ import annotations

import socket

from fakes import FakePort, FakeRuntime

HOST = "127.0.0.9"


def _connect(port: FakePort) -> socket.socket:
    connection = socket.create_connection((port.address, port.port), timeout=5)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def _request(path: str, *headers: str, method: str = "GET") -> bytes:
    return "\r\n".join([f"{method} {path} HTTP/1.1", f"Host: {HOST}", *headers, "", ""]).encode()


def _responses(connection: socket.socket, count: int) -> list[tuple[str, dict[str, str], bytes]]:
    """Read ``count`` responses (status line, lower-cased headers, body) with Content-Length bodies."""
    data, answers = b"", []
    while len(answers) < count:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            status, *lines = data[:end].decode().split("\r\n")
            headers = {name.strip().lower(): value.strip()
                       for name, _, value in (line.partition(":") for line in lines)}
            length = int(headers.get("content-length", "0"))
            if len(data) >= end + 4 + length:
                answers.append((status, headers, data[end + 4:end + 4 + length]))
                data = data[end + 4 + length:]
                continue
        chunk = connection.recv(65536)
        assert chunk, f"connection closed after {len(answers)} of {count} responses"
        data += chunk
    return answers


def test_kept_alive_and_pipelined_scrapes_are_answered_and_logged(runtime: FakeRuntime) -> None:
    port = runtime.serve(HOST, 0)
    with _connect(port) as connection:
        connection.sendall(_request("/metrics"))
        [(status, headers, first)] = _responses(connection, 1)
        port.set_metrics(waiting=7)
        connection.sendall(_request("/metrics") * 2)
        answers = _responses(connection, 2)
    assert status == "HTTP/1.1 200 OK" and headers["content-type"].startswith("text/plain")
    assert "date" in headers and "server" in headers
    assert b'vllm:num_requests_waiting{model_name="fake-model"} 0\n' in first
    assert all(b'vllm:num_requests_waiting{model_name="fake-model"} 7\n' in body for _, _, body in answers)
    assert [record.client for record in port.scrapes()] == ["127.0.0.1"] * 3


def test_fast_and_aiohttp_answers_have_the_same_body(runtime: FakeRuntime) -> None:
    port = runtime.serve(HOST, 0)
    port.set_metrics(running=2, kv_cache_usage=0.25)
    with _connect(port) as connection:
        # a query string leaves the fast path: aiohttp answers the same route
        connection.sendall(_request("/metrics") + _request("/metrics?format=text") + _request("/metrics"))
        bodies = [body for _, _, body in _responses(connection, 3)]
    assert bodies[0] == bodies[1] == bodies[2]
    assert len(port.scrapes()) == 3


def test_a_connection_is_handed_to_aiohttp_at_its_first_other_request(runtime: FakeRuntime) -> None:
    port = runtime.serve(HOST, 0)
    body = b'{"model": "fake-model", "prompt": "hi", "max_tokens": 2}'
    with _connect(port) as connection:
        connection.sendall(_request("/metrics"))
        _responses(connection, 1)
        # the hand-over happens in the middle of a split request
        completion = _request("/v1/completions", "Content-Type: application/json",
                              f"Content-Length: {len(body)}", method="POST") + body
        connection.sendall(completion[:10])
        connection.sendall(completion[10:] + _request("/metrics"))
        (status, _, answer), (metrics_status, _, _) = _responses(connection, 2)
    assert status == "HTTP/1.1 200 OK" and b'"text_completion"' in answer
    assert metrics_status == "HTTP/1.1 200 OK"
    assert len(port.requests()) == 1 and len(port.scrapes()) == 2


def test_an_injected_metrics_failure_applies_to_kept_alive_scrapes(runtime: FakeRuntime) -> None:
    port = runtime.serve(HOST, 0)
    with _connect(port) as connection:
        connection.sendall(_request("/metrics"))
        _responses(connection, 1)
        port.inject_failure(scope="metrics", status=503, count=1)
        connection.sendall(_request("/metrics") * 2)
        (failed, _, _), (answered, _, _) = _responses(connection, 2)
    assert failed.startswith("HTTP/1.1 503") and answered == "HTTP/1.1 200 OK"


def test_connection_close_is_honoured(runtime: FakeRuntime) -> None:
    port = runtime.serve(HOST, 0)
    with _connect(port) as connection:
        connection.sendall(_request("/metrics", "Connection: close"))
        [(_, headers, _)] = _responses(connection, 1)
        assert headers["connection"] == "close"
        assert connection.recv(1) == b""


def test_closing_a_port_closes_its_kept_alive_scrape_connections(runtime: FakeRuntime) -> None:
    port = runtime.serve(HOST, 0)
    with _connect(port) as connection:
        connection.sendall(_request("/metrics"))
        _responses(connection, 1)
        runtime.close(port)
        assert connection.recv(1) == b""
