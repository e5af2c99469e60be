"""vLLM sleep mode per port: held inference, answers that keep coming, wake-up, hold timeout."""

from __future__ import annotations

import json

from fake_helpers import Background, eventually, http, value

from fakes import FakeRuntime, PortConfig


def test_sleep_holds_inference_until_wake(runtime: FakeRuntime) -> None:
    port, other = runtime.serve("127.0.0.10", 0), runtime.serve("127.0.0.10", 0)
    assert http("POST", f"{port.base_url}/sleep?level=2") == (200, b"")
    assert json.loads(http("GET", f"{port.base_url}/is_sleeping")[1]) == {"is_sleeping": True}
    assert other.is_sleeping() is False, "sleep is per port"
    background = Background()
    background.post(f"{port.base_url}/v1/completions", {"model": "fake-model", "prompt": "x"})
    eventually(lambda: value(port.base_url, "vllm:num_requests_waiting") == 1)
    assert http("GET", f"{port.base_url}/health")[0] == 200
    assert http("GET", f"{port.base_url}/v1/models")[0] == 200
    assert background.results == [], "the request is held while asleep"
    assert http("POST", f"{port.base_url}/wake_up")[0] == 200
    [(status, _)] = background.join()
    assert status == 200
    assert port.is_sleeping() is False


def test_held_request_times_out_with_503(runtime: FakeRuntime) -> None:
    port = runtime.serve("127.0.0.10", 0, PortConfig(sleep_hold_timeout=0.2))
    port.sleep(level=1)
    status, body = http("POST", f"{port.base_url}/v1/completions", {"model": "fake-model", "prompt": "x"})
    assert status == 503 and json.loads(body)["error"]["type"] == "InternalServerError"
    assert value(port.base_url, "vllm:num_requests_waiting") == 0


def test_bad_sleep_level_is_400(runtime: FakeRuntime) -> None:
    port = runtime.serve("127.0.0.10", 0)
    status, body = http("POST", f"{port.base_url}/sleep?level=3")
    assert status == 400 and "level" in json.loads(body)["error"]["message"]
    assert port.is_sleeping() is False
