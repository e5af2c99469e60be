"""Reading Pods and InferencePools from Kubernetes JSON objects."""

from __future__ import annotations

from typing import Any

import pytest

from eppconf.datastore import ManifestError, PodInfo, PoolSpec, pod_from_manifest, pool_from_manifest


def pool_manifest(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool",
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {"app": "llm"}}, **spec}}


def test_pod_from_manifest() -> None:
    manifest = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "a", "namespace": "ns", "labels": {"app": "llm"},
                             "annotations": {"k": "v"}, "deletionTimestamp": "2026-01-01T00:00:00Z"},
                "status": {"podIP": "10.0.0.1",
                           "conditions": [{"type": "PodScheduled", "status": "True"},
                                          {"type": "Ready", "status": "True"}]}}
    assert pod_from_manifest(manifest) == PodInfo("a", "ns", {"app": "llm"}, {"k": "v"}, "10.0.0.1", True, True)


def test_pod_without_status_is_not_ready() -> None:
    pod = pod_from_manifest({"metadata": {"name": "a"}})
    assert (pod.namespace, pod.ready, pod.pod_ip, pod.deleting) == ("default", False, None, False)
    not_ready = pod_from_manifest({"metadata": {"name": "a"},
                                   "status": {"conditions": [{"type": "Ready", "status": "False"}]}})
    assert not not_ready.ready


def test_pool_from_manifest_with_and_without_target_ports() -> None:
    assert pool_from_manifest(pool_manifest(targetPorts=[{"number": 8000}, {"number": 8001}])) == \
        PoolSpec("p", "ns", {"app": "llm"}, (8000, 8001))
    assert pool_from_manifest(pool_manifest()).target_ports == ()


@pytest.mark.parametrize(("manifest", "message"), [
    ({"metadata": {}}, "Pod: name must be a non-empty string"),
    ({"metadata": {"name": "a", "labels": {"x": 1}}}, "Pod a: labels must map strings to strings"),
    ({"metadata": {"name": "a"}, "status": {"conditions": "Ready"}}, "Pod a: status.conditions must be a list"),
    ([], "Pod: must be an object"),
])
def test_bad_pod_manifests(manifest: Any, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        pod_from_manifest(manifest)


@pytest.mark.parametrize(("manifest", "message"), [
    (pool_manifest(targetPorts=[{"number": "8000"}]), r"spec.targetPorts\[0\].number must be an integer"),
    (pool_manifest(targetPorts=[{"number": 8000}, {"number": 8000}]), r"targetPorts\[1\] repeats port 8000"),
    (pool_manifest(targetPorts=[{"number": 0}]), r"targetPorts\[0\] must be a port"),
    ({**pool_manifest(), "spec": {"selector": {"matchLabels": {}}}}, "matchLabels must have at least one label"),
    ({**pool_manifest(), "apiVersion": "inference.networking.x-k8s.io/v1alpha2"}, "must be in group"),
    ({"metadata": {"name": "p"}}, "InferencePool p: spec must be an object"),
])
def test_bad_pool_manifests(manifest: dict[str, Any], message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        pool_from_manifest(manifest)
