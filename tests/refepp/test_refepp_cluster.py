"""The reference EPP as a process against a real kube-apiserver: /debug/endpoints converges."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kubernetes import client

from eppconf.controlplane import ControlPlane, ManagedProcess, reserve_port
from eppconf.portdiscovery import PORT_DISCOVERY_ANNOTATION

pytestmark = pytest.mark.slow

POOL = "pool-a"
CONVERGE_SECONDS = 30.0


@pytest.fixture
def pool(admin_api: client.ApiClient, namespace: str) -> str:
    """The pool the reference EPP serves, in the test's namespace."""
    client.CustomObjectsApi(admin_api).create_namespaced_custom_object(
        "inference.networking.k8s.io", "v1", namespace, "inferencepools",
        {"apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool", "metadata": {"name": POOL},
         "spec": {"selector": {"matchLabels": {"app": "model"}}, "targetPorts": [{"number": 8000}],
                  "endpointPickerRef": {"name": "epp", "port": {"number": 9002}}}})
    return POOL


def make_pod(api: client.ApiClient, namespace: str, name: str, ip: str, *, ports: list[int] | None) -> None:
    core = client.CoreV1Api(api)
    metadata: dict[str, Any] = {"name": name, "labels": {"app": "model"}}
    if ports is not None:
        metadata["annotations"] = {PORT_DISCOVERY_ANNOTATION: discovery(ports)}
    core.create_namespaced_pod(namespace, {"metadata": metadata, "spec": {
        "containers": [{"name": "server", "image": "example.invalid/model:1"}]}})
    core.patch_namespaced_pod_status(name, namespace, {"status": {
        "podIP": ip, "podIPs": [{"ip": ip}], "conditions": [{"type": "Ready", "status": "True"}]}})


def discovery(ports: list[int]) -> str:
    return json.dumps([{"inferencePool": POOL, "number": port} for port in ports])


@dataclass
class Epp:
    """A started reference EPP: its ports and its process (whose log explains a failure)."""

    ports: dict[str, int]
    process: ManagedProcess


@pytest.fixture
def start_epp(control_plane: ControlPlane, pool: str, tmp_path: Path) -> Iterator[Callable[..., Epp]]:
    started: list[ManagedProcess] = []

    def start(namespace: str, *faults: str) -> Epp:
        ports = {name: reserve_port() for name in ("grpc", "health", "metrics")}
        argv = [sys.executable, "-m", "eppconf", "reference-epp", "--pool-name", pool, "--pool-namespace", namespace,
                "--grpc-port", str(ports["grpc"]), "--grpc-health-port", str(ports["health"]),
                "--metrics-port", str(ports["metrics"]), "--secure-serving=false",
                "--kubeconfig", str(control_plane.admin_kubeconfig), "--refresh-metrics-interval", "200ms"]
        for fault in faults:
            argv += ["--fault", fault]
        process = ManagedProcess(f"refepp-{len(started)}", argv, log_dir=tmp_path,
                                 ready=f"http://127.0.0.1:{ports['metrics']}/debug/endpoints")
        started.append(process.start())
        return Epp(ports, process)

    try:
        yield start
    finally:
        for process in started:
            process.stop()


def debug(epp: Epp) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{epp.ports['metrics']}/debug/endpoints", timeout=5) as response:
        return dict(json.load(response))


def endpoints_converge(epp: Epp, expected: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + CONVERGE_SECONDS
    while True:
        view = debug(epp)
        seen = {endpoint["address"] for endpoint in view["endpoints"]}
        if seen == expected:
            return view
        if time.monotonic() > deadline:
            pytest.fail(f"/debug/endpoints shows {sorted(seen)}, expected {sorted(expected)}; "
                        f"EPP log:\n{epp.process.output_tail()}")
        time.sleep(0.1)


def readiness(epp: Epp) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{epp.ports['health']}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return int(stub.Check(health_pb2.HealthCheckRequest(service="readiness"), timeout=5).status)


def test_endpoints_follow_pods(admin_api: client.ApiClient, namespace: str,
                               start_epp: Callable[..., Epp]) -> None:
    make_pod(admin_api, namespace, "launcher", "127.0.0.21", ports=[8001, 8002])
    make_pod(admin_api, namespace, "plain", "127.0.0.22", ports=None)
    epp = start_epp(namespace)
    view = endpoints_converge(epp, {"127.0.0.21:8001", "127.0.0.21:8002", "127.0.0.22:8000"})
    assert view["synced"] and readiness(epp) == health_pb2.HealthCheckResponse.SERVING
    names = {endpoint["name"] for endpoint in view["endpoints"]}
    assert names == {"launcher-port-8001", "launcher-port-8002", "plain-rank-0"}

    core = client.CoreV1Api(admin_api)
    core.patch_namespaced_pod("launcher", namespace,
                              {"metadata": {"annotations": {PORT_DISCOVERY_ANNOTATION: discovery([8003])}}})
    core.delete_namespaced_pod("plain", namespace, grace_period_seconds=0)
    endpoints_converge(epp, {"127.0.0.21:8003"})

    core.patch_namespaced_pod("launcher", namespace,
                              {"metadata": {"annotations": {PORT_DISCOVERY_ANNOTATION: "not json"}}})
    view = endpoints_converge(epp, set())
    assert any("launcher" in json.dumps(problem) for problem in view["problems"])


def test_fault_changes_what_the_epp_sees(admin_api: client.ApiClient, namespace: str,
                                         start_epp: Callable[..., Epp]) -> None:
    make_pod(admin_api, namespace, "launcher", "127.0.0.23", ports=[8001])
    epp = start_epp(namespace, "ignore-port-discovery")
    endpoints_converge(epp, {"127.0.0.23:8000"})
