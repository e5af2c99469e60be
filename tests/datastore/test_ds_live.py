"""Objects as a real kube-apiserver returns them: manifests -> datastore, and ``eppconf validate --namespace``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from eppconf.cli import main
from eppconf.controlplane import ControlPlane
from eppconf.datastore import compute_endpoints, pod_from_manifest, pool_from_manifest
from eppconf.portdiscovery import PORT_DISCOVERY_ANNOTATION

pytestmark = pytest.mark.slow
GROUP, VERSION = "inference.networking.k8s.io", "v1"


def create_pod(api: client.ApiClient, namespace: str, name: str, ip: str, annotations: dict[str, str]) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": name, "labels": {"app": "model"}, "annotations": annotations},
        "spec": {"containers": [{"name": "server", "image": "example.invalid/model:1"}]}})
    core.patch_namespaced_pod_status(name, namespace, {"status": {
        "podIP": ip, "podIPs": [{"ip": ip}], "conditions": [{"type": "Ready", "status": "True"}]}})


def raw(response: Any) -> Any:
    return json.loads(response.data)


def test_manifests_from_api_server(admin_api: client.ApiClient, namespace: str) -> None:
    custom = client.CustomObjectsApi(admin_api)
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "inferencepools", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "InferencePool", "metadata": {"name": "pool"},
        "spec": {"selector": {"matchLabels": {"app": "model"}}, "targetPorts": [{"number": 8000}],
                 "endpointPickerRef": {"name": "epp", "port": {"number": 9002}}}})
    value = json.dumps([{"inferencePool": "pool", "number": 8001, "attributes": {"llm-d.ai/role": "decode"}},
                        {"inferencePool": "other", "number": 8002}])
    create_pod(admin_api, namespace, "launcher", "127.0.0.2", {PORT_DISCOVERY_ANNOTATION: value})
    create_pod(admin_api, namespace, "plain", "127.0.0.3", {})

    pool = pool_from_manifest(raw(custom.get_namespaced_custom_object(
        GROUP, VERSION, namespace, "inferencepools", "pool", _preload_content=False)))
    pods = raw(client.CoreV1Api(admin_api).list_namespaced_pod(namespace, _preload_content=False))["items"]
    endpoints = compute_endpoints(pool, [pod_from_manifest(item) for item in pods])
    assert {(ep.name, ep.address, ep.labels.get("llm-d.ai/role")) for ep in endpoints.values()} == {
        ("launcher-port-8001", "127.0.0.2:8001", "decode"), ("plain-rank-0", "127.0.0.3:8000", None)}


def test_validate_live_namespace(admin_api: client.ApiClient, namespace: str, control_plane: ControlPlane,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    create_pod(admin_api, namespace, "good", "127.0.0.2",
               {PORT_DISCOVERY_ANNOTATION: '[{"inferencePool":"pool","number":8000}]'})
    create_pod(admin_api, namespace, "bad", "127.0.0.3",
               {PORT_DISCOVERY_ANNOTATION: '[{"inferencePool":"pool","number":8000},'
                                           '{"inferencePool":"pool","number":8000}]'})
    code = main(["validate", "--namespace", namespace, "--kubeconfig", str(control_plane.admin_kubeconfig),
                 "--output", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and (report["checked"], report["invalid"]) == (2, 1)
    (bad,) = [r for r in report["results"] if not r["valid"]]
    assert bad["pod"] == f"{namespace}/bad"
    assert bad["problems"] == [{"entry": 1, "field": "number",
                                "message": "port 8000 is already declared for pool 'pool' by entry 0"}]
