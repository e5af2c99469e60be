"""``eppconf fake-server --pod-control-port``: readiness for a probe, ports and decoys opened at runtime."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fake_helpers import http

from eppconf.controlplane import reserve_port
from fakes import ControlError, FakeServerProcess, PodControlClient

HOST = "127.0.0.13"


@pytest.fixture
def pod() -> tuple[FakeServerProcess, PodControlClient, list[int]]:
    served, decoy, later, control = (reserve_port(HOST) for _ in range(4))
    process = FakeServerProcess([served], host=HOST, args=[
        "--decoy-ports", str(decoy), "--pod-control-port", str(control), "--not-ready", "--pod-name", "pod p"])
    with process:
        yield process, PodControlClient(f"http://{HOST}:{control}"), [served, decoy, later]


def test_readiness_starts_as_asked_and_flips(pod: tuple[FakeServerProcess, PodControlClient, list[int]]) -> None:
    _, control, _ = pod
    assert http("GET", f"{control.base_url}/ready")[0] == 503
    control.set_ready(True)
    assert http("GET", f"{control.base_url}/ready")[0] == 200
    control.set_ready(False)
    assert http("GET", f"{control.base_url}/ready")[0] == 503


def test_a_decoy_fails_inference_with_502_naming_the_pod(
        pod: tuple[FakeServerProcess, PodControlClient, list[int]]) -> None:
    _, control, (served, decoy, _) = pod
    body = {"model": "fake-model", "prompt": "hi", "max_tokens": 1}
    assert http("POST", f"http://{HOST}:{served}/v1/completions", body)[0] == 200
    status, answer = http("POST", f"http://{HOST}:{decoy}/v1/completions", body)
    assert status == 502 and f"nothing of pod p listens on port {decoy}".encode() in answer
    assert control.ports() == {"serving": [served], "decoys": [decoy]}


def test_ports_open_at_runtime_and_replace_decoys(pod: tuple[FakeServerProcess, PodControlClient, list[int]]) -> None:
    _, control, (served, decoy, later) = pod
    assert control.open_ports(serve=[decoy], close=[later]) == {"serving": sorted([served, decoy]),
                                                                "decoys": [later]}
    body = {"model": "fake-model", "prompt": "hi", "max_tokens": 1}
    assert http("POST", f"http://{HOST}:{decoy}/v1/completions", body)[0] == 200
    assert http("POST", f"http://{HOST}:{later}/v1/completions", body)[0] == 502
    assert control.open_ports(serve=[served]) == {"serving": sorted([served, decoy]), "decoys": [later]}


def test_bad_requests_are_refused_with_the_reason(pod: tuple[FakeServerProcess, PodControlClient, list[int]]) -> None:
    _, control, _ = pod
    assert http("PUT", f"{control.base_url}/ready", {"ready": "yes"}) == (
        400, b'PUT /ready needs {"ready": true|false}, got {\'ready\': \'yes\'}')
    status, body = http("PUT", f"{control.base_url}/ports", {"serve": [0]})
    assert status == 400 and b"'serve' must be a list of ports" in body
    with pytest.raises(ControlError, match="answered 400"):
        control.open_ports(close=[70000])


@pytest.mark.parametrize(("args", "message"), [
    ([], "--ports is required without --pod-control-port"),
    (["--ports", "8000", "--decoy-ports", "8001"], "--decoy-ports needs --pod-control-port"),
    (["--ports", "8000", "--not-ready"], "--not-ready needs --pod-control-port"),
])
def test_pod_flags_without_a_pod_control_port_are_usage_errors(args: list[str], message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "eppconf", "fake-server", *args], capture_output=True,
                            text=True, timeout=30)
    assert (result.returncode, result.stderr.strip()) == (2, f"eppconf fake-server: error: {message}")
