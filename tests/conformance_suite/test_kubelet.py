"""The harness kubelet's pod creation, with plain objects standing in for the API and the fakes."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from kubernetes import client

from conformance.harness import kubelet as kubelet_module
from conformance.harness.kubelet import AddressPool, Kubelet


class RecordingCore:
    """CoreV1Api stand-in: refuses the first ``refusals`` creations as admission would."""

    def __init__(self, *, refusals: int, body: str) -> None:
        self.refusals = refusals
        self.body = body
        self.created: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str, Any]] = []

    def create_namespaced_pod(self, namespace: str, manifest: dict[str, Any]) -> None:
        if self.refusals:
            self.refusals -= 1
            raise _forbidden(self.body)
        self.created.append(manifest)

    def patch_namespaced_pod_status(self, name: str, namespace: str, body: Any) -> None:
        self.calls.append(("status", name, body))

    def patch_namespaced_pod(self, name: str, namespace: str, body: Any) -> None:
        self.calls.append(("patch", name, body))

    def delete_namespaced_pod(self, name: str, namespace: str, **_options: Any) -> None:
        self.calls.append(("delete", name, None))


def _forbidden(body: str) -> client.ApiException:
    error = client.ApiException(status=403, reason="Forbidden")
    error.body = body
    return error


class NoServers:
    def serve(self, address: str, port: int, config: Any) -> object:
        return object()

    def close(self, port: Any) -> None:
        pass


def kubelet_with(core: RecordingCore) -> Kubelet:
    addresses = AddressPool(ipaddress.IPv4Network("127.19.0.0/16"))
    kubelet = Kubelet(client.ApiClient(), namespace="ns", runtime=NoServers(), addresses=addresses,
                      server_config=None)
    kubelet._core = core  # type: ignore[assignment]
    return kubelet


def test_pod_creation_waits_for_the_namespace_service_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kubelet_module.time, "sleep", lambda _seconds: None)
    core = RecordingCore(refusals=2, body='pods "p" is forbidden: error looking up serviceaccount ns/default')
    kubelet_with(core).create_pod("p", ports=[8000], labels={})
    assert [manifest["metadata"]["name"] for manifest in core.created] == ["p"]


def test_pods_name_a_scheduler_nobody_serves_and_say_so() -> None:
    """On a real cluster (``--cluster existing``) no scheduler binds them, so no kubelet runs them."""
    core = RecordingCore(refusals=0, body="")
    kubelet_with(core).create_pod("p", ports=[8000], labels={}, annotations={"a": "b"})
    (manifest,) = core.created
    assert manifest["spec"]["schedulerName"] == "eppconf.dev/no-scheduler"
    assert "nodeName" not in manifest["spec"]
    annotations = manifest["metadata"]["annotations"]
    assert annotations["a"] == "b" and "never scheduled" in annotations["eppconf.dev/virtual-pod"]


def test_other_refusals_are_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kubelet_module.time, "sleep", lambda _seconds: None)
    core = RecordingCore(refusals=1, body='pods "p" is forbidden: User "x" cannot create resource "pods"')
    with pytest.raises(client.ApiException):
        kubelet_with(core).create_pod("p", ports=[8000], labels={})
    assert core.created == []


def test_a_pod_without_ip_publishes_its_address_later() -> None:
    core = RecordingCore(refusals=0, body="")
    kubelet = kubelet_with(core)
    pod = kubelet.create_pod("p", ports=[8000], labels={}, with_ip=False)
    (_, _, created_status), = core.calls
    assert "podIP" not in created_status["status"] and created_status["status"]["hostIP"] == pod.ip
    kubelet.publish_ip("p")
    assert core.calls[-1] == ("status", "p", [{"op": "add", "path": "/status/podIP", "value": pod.ip},
                                              {"op": "add", "path": "/status/podIPs", "value": [{"ip": pod.ip}]}])


def test_a_moved_pod_serves_its_new_ip_and_the_old_servers_stay_probed() -> None:
    core = RecordingCore(refusals=0, body="")
    kubelet = kubelet_with(core)
    pod = kubelet.create_pod("p", ports=[8000, 8001], labels={})
    old_ip = pod.ip
    kubelet.move_pod("p")
    assert pod.ip != old_ip and pod.ports == (8000, 8001)
    assert core.calls[-1][2][0] == {"op": "add", "path": "/status/podIP", "value": pod.ip}
    assert {served.endpoint for served in kubelet.served_ports()} == {
        f"{ip}:{port}" for ip in (old_ip, pod.ip) for port in (8000, 8001)}
    kubelet.clear_ip("p")
    assert core.calls[-1] == ("status", "p", [{"op": "remove", "path": "/status/podIP"},
                                              {"op": "remove", "path": "/status/podIPs"}])


def test_a_terminating_pod_is_held_by_a_finalizer_until_close() -> None:
    core = RecordingCore(refusals=0, body="")
    kubelet = kubelet_with(core)
    kubelet.create_pod("p", ports=[8000], labels={})
    kubelet.terminate_pod("p")
    assert core.calls[-2:] == [("patch", "p", {"metadata": {"finalizers": [kubelet_module.HOLD_FINALIZER]}}),
                               ("delete", "p", None)]
    kubelet.close()
    assert core.calls[-1] == ("patch", "p", {"metadata": {"finalizers": None}})
