"""ensure_crds and the suite's InferencePool CRD, against a real kube-apiserver."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from eppconf.controlplane import DEFAULT_CRD_DIR, ControlPlane, CrdError, CrdInstallForbidden, ensure_crds
from eppconf.controlplane.crds import load_crd_manifests

GROUP, VERSION, PLURAL = "inference.networking.k8s.io", "v1", "inferencepools"
GIE_MODULE = "sigs.k8s.io/gateway-api-inference-extension@v1.5.0"
UPSTREAM_CRD = "config/crd/bases/inference.networking.k8s.io_inferencepools.yaml"


def _pool(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InferencePool",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": "vllm"}},
            "endpointPickerRef": {"name": "epp", "port": {"number": 9002}},
            **spec,
        },
    }


def _renamed_crd(tmp_path: Path, group: str) -> Path:
    """Our manifest under another group and name, so installing it cannot disturb other tests."""
    (crd,) = load_crd_manifests(DEFAULT_CRD_DIR)
    crd = copy.deepcopy(crd)
    crd["spec"]["group"] = group
    crd["metadata"]["name"] = f"{crd['spec']['names']['plural']}.{group}"
    path = tmp_path / "crds" / "renamed.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(crd))
    return path


@pytest.fixture(scope="module")
def pools_api(admin_api: client.ApiClient) -> client.CustomObjectsApi:
    ensure_crds(admin_api)
    return client.CustomObjectsApi(admin_api)


@pytest.fixture
def namespace(admin_api: client.ApiClient) -> str:
    name = f"crd-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(admin_api).create_namespace({"metadata": {"name": name}})
    return name


@pytest.fixture
def nobody(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    """A client for a user no RBAC rule mentions."""
    api = config.new_client_from_config(config_file=str(control_plane.add_user("nobody", [])))
    yield api
    api.close()


def _rejection(error: pytest.ExceptionInfo[client.ApiException]) -> str:
    assert error.value.status == 422
    return str(json.loads(error.value.body)["message"])


@pytest.mark.slow
def test_a_pool_without_target_ports_is_accepted(pools_api: client.CustomObjectsApi, namespace: str) -> None:
    created = pools_api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _pool("no-ports"))
    assert "targetPorts" not in created["spec"]
    assert created["spec"]["endpointPickerRef"]["failureMode"] == "FailClose"
    assert created["spec"]["appProtocol"] == "http"


@pytest.mark.slow
def test_target_ports_are_limited_to_eight_unique_numbers(
    pools_api: client.CustomObjectsApi, namespace: str
) -> None:
    eight = [{"number": 8000 + i} for i in range(8)]
    pools_api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _pool("eight", targetPorts=eight))
    for name, ports, complaint in [
        ("nine", eight + [{"number": 9000}], "must have at most 8 items"),
        ("twice", [{"number": 8000}, {"number": 8000}], "port number must be unique"),
        ("zero", [{"number": 0}], "should be greater than or equal to 1"),
        ("empty", [], "should have at least 1 items"),
    ]:
        with pytest.raises(client.ApiException) as rejected:
            pools_api.create_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, _pool(name, targetPorts=ports)
            )
        assert "spec.targetPorts" in _rejection(rejected) and complaint in _rejection(rejected), name


@pytest.mark.slow
def test_selector_and_failure_mode_are_validated(pools_api: client.CustomObjectsApi, namespace: str) -> None:
    no_labels = _pool("no-labels")
    no_labels["spec"]["selector"]["matchLabels"] = {}
    bad_mode = _pool("bad-mode")
    bad_mode["spec"]["endpointPickerRef"]["failureMode"] = "FailSometimes"
    for body, field in [(no_labels, "spec.selector.matchLabels"), (bad_mode, "failureMode")]:
        with pytest.raises(client.ApiException) as rejected:
            pools_api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        assert field in _rejection(rejected)


@pytest.mark.slow
def test_status_is_a_subresource_keeping_parent_fields(
    pools_api: client.CustomObjectsApi, namespace: str
) -> None:
    pools_api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _pool("with-status"))
    parents = [{"parentRef": {"name": "gw"}, "conditions": [], "controllerName": "example.com/gw"}]
    pools_api.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, "with-status", {"status": {"parents": parents}}
    )
    defaulted = [{**parents[0], "parentRef": {"name": "gw", "group": "gateway.networking.k8s.io", "kind": "Gateway"}}]
    assert pools_api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "with-status")[
        "status"
    ] == {"parents": defaulted}
    with pytest.raises(client.ApiException) as rejected:
        pools_api.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, "with-status", {"status": {"parents": [{"controllerName": "gw"}]}})
    assert "parentRef" in _rejection(rejected) and "controllerName" in _rejection(rejected)


def _upstream_crd() -> Path:
    """GIE v1.5.0's InferencePool CRD in Go's module cache; skips when it is not there."""
    cache = os.environ.get("GOMODCACHE")
    if not cache:
        go = shutil.which("go")
        if go is None:
            pytest.skip("no GOMODCACHE and no go command: cannot find GIE's module")
        cache = subprocess.run([go, "env", "GOMODCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    path = Path(cache) / GIE_MODULE / UPSTREAM_CRD
    if not path.is_file():
        pytest.skip(f"{path} is missing: `make setup` downloads GIE v1.5.0 while building its EPP "
                    "(scripts/build-gie-epp.sh)")
    return path


def _comparable(node: Any) -> Any:
    """``node`` without descriptions, ``required`` lists sorted: what the API server enforces."""
    if isinstance(node, dict):
        return {key: sorted(value) if key == "required" else _comparable(value)
                for key, value in node.items() if key != "description"}
    if isinstance(node, list):
        return [_comparable(item) for item in node]
    return node


def test_crd_is_upstream_v1_apart_from_optional_target_ports() -> None:
    upstream = _comparable(yaml.safe_load(_upstream_crd().read_text())["spec"])
    (ours,) = load_crd_manifests(DEFAULT_CRD_DIR)
    spec = upstream["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert "targetPorts" in spec["required"]
    spec["required"].remove("targetPorts")
    assert _comparable(ours["spec"]) == upstream


@pytest.mark.slow
def test_a_missing_crd_is_installed_once(admin_api: client.ApiClient, tmp_path: Path) -> None:
    group = f"e{uuid.uuid4().hex[:6]}.eppconf.test"
    manifest = _renamed_crd(tmp_path, group)
    assert ensure_crds(admin_api, manifest.parent) == [f"inferencepools.{group}"]
    assert ensure_crds(admin_api, manifest) == []
    resources = client.CustomObjectsApi(admin_api).get_api_resources(group, VERSION).resources
    assert [resource.name for resource in resources if "/" not in resource.name] == ["inferencepools"]


@pytest.mark.slow
def test_a_user_who_may_not_read_crds_gets_a_clear_error(nobody: client.ApiClient) -> None:
    with pytest.raises(CrdInstallForbidden, match=r"not allowed to read CustomResourceDefinition "
                                                  r"inferencepools\.inference\.networking\.k8s\.io \(HTTP 403"):
        ensure_crds(nobody)


@pytest.mark.slow
def test_a_user_who_may_read_but_not_create_gets_a_clear_error(
    admin_api: client.ApiClient, control_plane: ControlPlane, tmp_path: Path
) -> None:
    rbac = client.RbacAuthorizationV1Api(admin_api)
    rbac.create_cluster_role({"metadata": {"name": "crd-reader"}, "rules": [
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["get"]}]})
    rbac.create_cluster_role_binding({
        "metadata": {"name": "reader-reads-crds"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "crd-reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "reader"}],
    })
    manifest = _renamed_crd(tmp_path, f"e{uuid.uuid4().hex[:6]}.eppconf.test")
    api = config.new_client_from_config(config_file=str(control_plane.add_user("reader", [])))
    try:
        with pytest.raises(CrdInstallForbidden, match=r"not allowed to create CustomResourceDefinition") as error:
            ensure_crds(api, manifest)
        assert str(manifest) in str(error.value)
    finally:
        api.close()


@pytest.mark.parametrize(("content", "complaint"), [
    ("kind: [unclosed", "not valid YAML"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "document 1: expected a named CustomResourceDefinition"),
])
def test_bad_manifests_are_named(tmp_path: Path, content: str, complaint: str) -> None:
    (tmp_path / "bad.yaml").write_text(content)
    with pytest.raises(CrdError, match=complaint) as error:
        load_crd_manifests(tmp_path)
    assert str(tmp_path / "bad.yaml") in str(error.value)


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CrdError, match="no CRD manifests"):
        load_crd_manifests(tmp_path)
