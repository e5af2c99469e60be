"""The gateway client and the endpoint observer against GIE's EPP v1.5.0 on the local control plane.

GIE's EPP was written elsewhere; observing exactly its targetPorts endpoints proves the observer
works on a real EPP (one that matches the subset hint on the IP only).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from conformance.harness.epp import ProcessEpp
from conformance.harness.gateway import GatewayClient
from conformance.harness.observer import EndpointObserver, ObserverSettings, ServedPort
from conformance.implementations import GIE_V1_5_0, ImplementationError
from eppconf.controlplane import ControlPlane, ensure_crds
from fakes import FakePort, FakeRuntime

pytestmark = pytest.mark.slow

POD_ADDRESSES = ("127.0.45.1", "127.0.45.2")
SERVED = (8000, 8001, 8002)
TARGET_PORTS = (8000, 8001)
EPP_USER = "eppconf-gie-epp"
EPP_RULES = [
    client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list", "watch"]),
    client.V1PolicyRule(api_groups=["inference.networking.k8s.io"], resources=["inferencepools"],
                        verbs=["get", "list", "watch"]),
]
"""All GIE's EPP needs in its namespace with ``--metrics-endpoint-auth=false``."""


@pytest.fixture
def gie_command() -> str:
    try:
        return GIE_V1_5_0.command_template()
    except ImplementationError as error:
        if os.environ.get("CI"):
            pytest.fail(str(error), pytrace=False)
        pytest.skip(str(error))


@pytest.fixture
def namespace(admin_api: client.ApiClient) -> Iterator[str]:
    ensure_crds(admin_api)
    core = client.CoreV1Api(admin_api)
    name = f"gie-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        account = client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="default"))
        core.create_namespaced_service_account(name, account)
        rbac = client.RbacAuthorizationV1Api(admin_api)
        rbac.create_namespaced_role(name, client.V1Role(metadata=client.V1ObjectMeta(name="epp"), rules=EPP_RULES))
        rbac.create_namespaced_role_binding(name, client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="epp"),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="epp"),
            subjects=[client.RbacV1Subject(api_group="rbac.authorization.k8s.io", kind="User", name=EPP_USER)]))
        yield name
    finally:
        core.delete_namespace(name)


def _create_pool_and_pods(api: client.ApiClient, namespace: str) -> None:
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        "inference.networking.k8s.io", "v1", namespace, "inferencepools",
        {"apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool", "metadata": {"name": "pool"},
         "spec": {"selector": {"matchLabels": {"app": "model"}},
                  "targetPorts": [{"number": port} for port in TARGET_PORTS],
                  "endpointPickerRef": {"name": "epp", "port": {"number": 9002}}}})
    core = client.CoreV1Api(api)
    for index, address in enumerate(POD_ADDRESSES):
        core.create_namespaced_pod(namespace, {
            "metadata": {"name": f"model-{index}", "labels": {"app": "model"}},
            "spec": {"containers": [{"name": "vllm", "image": "vllm"}]}})
        _set_ready(core, namespace, f"model-{index}", address, ready=True)


def _set_ready(core: client.CoreV1Api, namespace: str, name: str, address: str, *, ready: bool) -> None:
    core.patch_namespaced_pod_status(name, namespace, {"status": {
        "phase": "Running", "podIP": address, "podIPs": [{"ip": address}],
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}})


def test_observer_sees_gie_target_port_endpoints(control_plane: ControlPlane, admin_api: client.ApiClient,
                                                 namespace: str, gie_command: str, tmp_path: Path) -> None:
    _create_pool_and_pods(admin_api, namespace)
    kubeconfig = control_plane.add_user(EPP_USER)
    launcher = ProcessEpp(gie_command, log_dir=tmp_path, name="gie-epp", tls=GIE_V1_5_0.tls,
                          health_service=GIE_V1_5_0.health_service)
    with FakeRuntime() as runtime:
        ports: list[FakePort] = [runtime.serve(address, port) for address in POD_ADDRESSES for port in SERVED]
        epp = launcher.start(pool="pool", namespace=namespace, kubeconfig=kubeconfig)
        try:
            with GatewayClient(epp.grpc_target, tls=GIE_V1_5_0.tls) as gateway:
                assert gateway.tls
                observer = EndpointObserver(gateway, lambda: [ServedPort(p.address, p.port, p) for p in ports],
                                            settings=ObserverSettings(settle=1.0))
                every_target_port = {f"{a}:{p}" for a in POD_ADDRESSES for p in TARGET_PORTS}
                observer.eventually(every_target_port, timeout=30.0)
                assert observer.confirm_routing(f"{POD_ADDRESSES[1]}:{TARGET_PORTS[1]}").status == 200

                _set_ready(client.CoreV1Api(admin_api), namespace, "model-1", POD_ADDRESSES[1], ready=False)
                observer.eventually({f"{POD_ADDRESSES[0]}:{p}" for p in TARGET_PORTS}, timeout=30.0)
        finally:
            epp.stop()
