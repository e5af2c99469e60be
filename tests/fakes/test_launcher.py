"""The fake launcher: FMA's instance API, children on their own ports, the pod annotation kept true."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fake_helpers import http, scrape
from kubernetes import client

from eppconf.controlplane import ControlPlane, reserve_port
from eppconf.portdiscovery import PORT_DISCOVERY_ANNOTATION, parse_port_discovery
from fakes import FakeRuntime
from fakes.launcher.annotator import PodAnnotator
from fakes.launcher.app import FakeLauncher

HOST = "127.0.0.13"


@pytest.fixture
def launcher(runtime: FakeRuntime) -> Iterator[FakeLauncher]:
    fake = FakeLauncher(runtime, host=HOST, port=0, default_pool="pool-a")
    fake.start()
    yield fake
    fake.stop()


def _put(launcher: FakeLauncher, instance_id: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    status, answer = http("PUT", f"{launcher.base_url}/v2/vllm/instances/{instance_id}", body)
    return status, json.loads(answer)


def test_children_start_and_stop_on_their_ports(launcher: FakeLauncher) -> None:
    first, second = [reserve_port(HOST) for _ in range(2)]
    status, answer = _put(launcher, "a", {"options": f"--model org/m1 --port {first} --served-model-name m1"})
    assert status == 201 and answer["status"] == "started" and answer["instance_id"] == "a"
    assert _put(launcher, "b", {"options": f"--model m2 --port {second} --enable-sleep-mode"})[0] == 201
    assert scrape(f"http://{HOST}:{first}")["vllm:num_requests_running"][0][0] == {"model_name": "m1"}
    listing = json.loads(http("GET", f"{launcher.base_url}/v2/vllm/instances?detail=False")[1])
    assert listing == {"instance_ids": ["a", "b"], "count": 2}
    assert _put(launcher, "a", {"options": f"--port {first}"})[0] == 409
    status, body = http("DELETE", f"{launcher.base_url}/v2/vllm/instances/a")
    assert status == 200 and json.loads(body)["status"] == "terminated"
    assert http("GET", f"http://{HOST}:{second}/health")[0] == 200
    with pytest.raises(OSError):
        http("GET", f"http://{HOST}:{first}/health", timeout=1)
    assert http("GET", f"{launcher.base_url}/v2/vllm/instances/a")[0] == 404


def test_sleep_and_wake_per_child(launcher: FakeLauncher) -> None:
    port = reserve_port(HOST)
    _put(launcher, "c", {"options": f"--port {port}"})
    assert http("POST", f"{launcher.base_url}/v2/vllm/instances/c/sleep?level=1")[0] == 200
    assert json.loads(http("GET", f"http://{HOST}:{port}/is_sleeping")[1]) == {"is_sleeping": True}
    assert json.loads(http("GET", f"{launcher.base_url}/v2/vllm/instances/c")[1])["sleeping"] is True
    assert http("POST", f"{launcher.base_url}/v2/vllm/instances/c/wake_up")[0] == 200
    assert json.loads(http("GET", f"http://{HOST}:{port}/is_sleeping")[1]) == {"is_sleeping": False}


@pytest.mark.parametrize(("body", "says"), [
    ({"options": "--model m"}, "--port"),
    ({"options": "--port nope"}, "invalid int value"),
    ({"env_vars": {}}, "'options' string"),
    ({"options": "--port 1", "attributes": {"role": 1}}, "attributes must be an object of strings"),
])
def test_bad_instance_requests_are_400(launcher: FakeLauncher, body: dict[str, object], says: str) -> None:
    status, answer = _put(launcher, "bad", body)
    assert status == 400 and says in str(answer["detail"])
    assert json.loads(http("GET", f"{launcher.base_url}/v2/vllm/instances?detail=False")[1])["count"] == 0


def test_child_port_in_use_is_500_and_not_kept(launcher: FakeLauncher, runtime: FakeRuntime) -> None:
    taken = runtime.serve(HOST, 0)
    status, answer = _put(launcher, "d", {"options": f"--port {taken.port}"})
    assert status == 500 and "already in use" in str(answer["detail"])
    assert http("GET", f"{launcher.base_url}/v2/vllm/instances/d")[0] == 404


@pytest.mark.slow
def test_annotation_follows_children(control_plane: ControlPlane, admin_api: client.ApiClient,
                                     runtime: FakeRuntime) -> None:
    core = client.CoreV1Api(admin_api)
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="launcher-1", namespace="default"),
                       spec=client.V1PodSpec(containers=[client.V1Container(name="l", image="fake")]))
    core.create_namespaced_pod("default", pod)
    annotator = PodAnnotator.connect(pod_name="launcher-1", namespace="default",
                                     kubeconfig=control_plane.admin_kubeconfig)
    launcher = FakeLauncher(runtime, host=HOST, port=0, default_pool="pool-a", annotator=annotator)
    try:
        launcher.start()
        assert annotator.read() == "[]"
        first, second = sorted([reserve_port(HOST) for _ in range(2)])
        _put(launcher, "x", {"options": f"--port {second}", "inferencePool": "pool-b",
                             "attributes": {"role": "decode"}})
        _put(launcher, "y", {"options": f"--port {first}"})
        entries = parse_port_discovery(annotator.read() or "")
        assert [(e.inference_pool, e.number, e.attributes) for e in entries] == [
            ("pool-a", first, {}), ("pool-b", second, {"role": "decode"})]
        http("DELETE", f"{launcher.base_url}/v2/vllm/instances/y")
        pod_now = core.read_namespaced_pod("launcher-1", "default")
        assert json.loads(pod_now.metadata.annotations[PORT_DISCOVERY_ANNOTATION]) == [
            {"inferencePool": "pool-b", "number": second, "attributes": {"role": "decode"}}]
    finally:
        launcher.stop()
        annotator.close()
        core.delete_namespaced_pod("launcher-1", "default", grace_period_seconds=0)
