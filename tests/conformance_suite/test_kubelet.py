"""The harness kubelet's pod creation, with plain objects standing in for the API and the fakes."""

from __future__ import annotations

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

    def create_namespaced_pod(self, namespace: str, manifest: dict[str, Any]) -> None:
        if self.refusals:
            self.refusals -= 1
            raise _forbidden(self.body)
        self.created.append(manifest)

    def patch_namespaced_pod_status(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        pass


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
    kubelet = Kubelet(client.ApiClient(), namespace="ns", runtime=NoServers(), addresses=AddressPool(),
                      server_config=None)
    kubelet._core = core  # type: ignore[assignment]
    return kubelet


def test_pod_creation_waits_for_the_namespace_service_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kubelet_module.time, "sleep", lambda _seconds: None)
    core = RecordingCore(refusals=2, body='pods "p" is forbidden: error looking up serviceaccount ns/default')
    kubelet_with(core).create_pod("p", ports=[8000], labels={})
    assert [manifest["metadata"]["name"] for manifest in core.created] == ["p"]


def test_other_refusals_are_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kubelet_module.time, "sleep", lambda _seconds: None)
    core = RecordingCore(refusals=1, body='pods "p" is forbidden: User "x" cannot create resource "pods"')
    with pytest.raises(client.ApiException):
        kubelet_with(core).create_pod("p", ports=[8000], labels={})
    assert core.created == []
