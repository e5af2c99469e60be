"""The control API over HTTP (``ControlClient``) and in process (``FakePort``)."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from fake_helpers import http, scrape

from fakes import ControlClient, ControlError, FakeRuntime, PortConfig, PortInUseError


@pytest.fixture
def control(runtime: FakeRuntime) -> ControlClient:
    return ControlClient(runtime.serve("127.0.0.11", 0).base_url)


def test_request_log_keeps_gateway_headers(control: ControlClient) -> None:
    request_body = json.dumps({"model": "fake-model", "prompt": "x"}).encode()
    request = urllib.request.Request(f"{control.base_url}/v1/completions", data=request_body,
                                     headers={"x-gateway-destination-endpoint": "127.0.0.11:1"})
    before = time.time()
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
    [record] = control.requests()
    assert (record.method, record.path, record.model, record.client) == ("POST", "/v1/completions",
                                                                          "fake-model", "127.0.0.1")
    assert record.headers["x-gateway-destination-endpoint"] == "127.0.0.11:1"
    assert before <= record.time <= time.time()
    control.reset_logs()
    assert control.requests() == []


def test_metric_overrides_over_http(control: ControlClient) -> None:
    control.set_metrics(running=3)
    assert scrape(control.base_url)["vllm:num_requests_running"][0][1] == 3
    assert control.metrics()["overrides"] == {"waiting": None, "running": 3, "kv_cache_usage": None}
    control.clear_metrics()
    assert scrape(control.base_url)["vllm:num_requests_running"][0][1] == 0
    assert len(control.scrapes()) == 2


def test_injected_failures_count_down(control: ControlClient) -> None:
    control.inject_failure(status=429, count=2, message="shed")
    url, body = f"{control.base_url}/v1/completions", {"model": "fake-model", "prompt": "x"}
    answers = [http("POST", url, body) for _ in range(3)]
    assert [status for status, _ in answers] == [429, 429, 200]
    assert json.loads(answers[0][1])["error"] == {"message": "shed", "type": "RateLimitError",
                                                  "param": None, "code": 429}


def test_injected_latency_and_metrics_failure(control: ControlClient) -> None:
    control.inject_failure(scope="metrics", status=0, latency=0.2)
    start = time.monotonic()
    assert http("GET", f"{control.base_url}/metrics")[0] == 200
    assert time.monotonic() - start >= 0.2
    control.inject_failure(scope="metrics", status=503)
    assert http("GET", f"{control.base_url}/metrics")[0] == 503
    control.clear_failures()
    assert http("GET", f"{control.base_url}/metrics")[0] == 200


@pytest.mark.parametrize("call", [
    lambda c: c.set_metrics(kv_cache_usage=2),
    lambda c: c.set_metrics(waiting=-1),
    lambda c: c.inject_failure(status=200),
    lambda c: c.inject_failure(scope="everything"),
    lambda c: c.inject_failure(count=0),
])
def test_bad_control_requests_are_refused(control: ControlClient, call: object) -> None:
    with pytest.raises(ControlError, match="answered 400"):
        call(control)  # type: ignore[operator]


def test_sleep_over_http(control: ControlClient) -> None:
    control.sleep(level=1)
    assert control.is_sleeping()
    control.wake_up()
    assert not control.is_sleeping()


def test_unreachable_port_is_a_clear_error() -> None:
    with pytest.raises(ControlError, match="failed"):
        ControlClient("http://127.0.0.1:1", timeout=1).requests()


def test_port_in_use_is_refused_clearly(runtime: FakeRuntime) -> None:
    port = runtime.serve("127.0.0.11", 0)
    with pytest.raises(PortInUseError, match=f"127.0.0.11:{port.port} is already in use"):
        runtime.serve("127.0.0.11", port.port)


def test_closed_port_stops_answering(runtime: FakeRuntime) -> None:
    port = runtime.serve("127.0.0.11", 0, PortConfig())
    runtime.close(port)
    with pytest.raises(ControlError):
        ControlClient(port.base_url, timeout=1).requests()
    assert runtime.ports == []
