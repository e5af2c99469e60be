"""The local control plane against a real etcd and kube-apiserver: start, RBAC, pods, teardown."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from eppconf.controlplane import ControlPlane, ProcessStartError

pytestmark = pytest.mark.slow


def _namespace(admin_api: client.ApiClient, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(admin_api).create_namespace({"metadata": {"name": name}})
    return name


@pytest.fixture
def user_api(control_plane: ControlPlane) -> Iterator[Callable[[str], client.ApiClient]]:
    """Clients for users made with ``add_user``, closed after the test."""
    opened: list[client.ApiClient] = []

    def make(name: str) -> client.ApiClient:
        api = config.new_client_from_config(config_file=str(control_plane.add_user(name, ["eppconf:testers"])))
        opened.append(api)
        return api

    yield make
    for api in opened:
        api.close()


def _allow_pod_reading(admin_api: client.ApiClient, namespace: str, subject: dict[str, str]) -> None:
    # An own Role: aggregated ClusterRoles such as "view" stay empty without a controller-manager.
    rbac = client.RbacAuthorizationV1Api(admin_api)
    rbac.create_namespaced_role(namespace, {
        "metadata": {"name": "pod-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
    })
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "pod-readers"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", **subject}],
    })


def _eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except client.ApiException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_it_serves_the_pinned_version_on_loopback(control_plane: ControlPlane, admin_api: client.ApiClient) -> None:
    assert control_plane.server_url.startswith("https://127.0.0.1:")
    assert client.VersionApi(admin_api).get_code().git_version == "v1.36.3"
    assert control_plane.admin_kubeconfig.stat().st_mode & 0o077 == 0


def test_rbac_forbids_a_new_user_until_a_role_binding_allows(
    control_plane: ControlPlane, admin_api: client.ApiClient, user_api: Callable[[str], client.ApiClient]
) -> None:
    namespace = _namespace(admin_api, "rbac")
    pods = client.CoreV1Api(user_api("alice"))
    with pytest.raises(client.ApiException) as forbidden:
        pods.list_namespaced_pod(namespace)
    assert forbidden.value.status == 403
    assert 'User "alice" cannot list' in json.loads(forbidden.value.body)["message"]
    _allow_pod_reading(admin_api, namespace, {"kind": "User", "name": "alice"})
    assert _eventually(lambda: pods.list_namespaced_pod(namespace)).items == []
    with pytest.raises(client.ApiException) as still_forbidden:
        pods.list_namespaced_pod("default")
    assert still_forbidden.value.status == 403


def test_groups_of_a_user_are_honoured(
    admin_api: client.ApiClient, user_api: Callable[[str], client.ApiClient]
) -> None:
    namespace = _namespace(admin_api, "groups")
    _allow_pod_reading(admin_api, namespace, {"kind": "Group", "name": "eppconf:testers"})
    assert _eventually(lambda: client.CoreV1Api(user_api("bob")).list_namespaced_pod(namespace)).items == []


def test_a_pod_is_created_and_its_status_patched(admin_api: client.ApiClient) -> None:
    namespace = _namespace(admin_api, "pods")
    core = client.CoreV1Api(admin_api)
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "server", "labels": {"app": "vllm"}},
        "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai"}]},
    })
    core.patch_namespaced_pod_status("server", namespace, {"status": {
        "phase": "Running",
        "podIP": "127.0.0.7",
        "podIPs": [{"ip": "127.0.0.7"}],
        "conditions": [{"type": "Ready", "status": "True"}],
    }})
    pod = core.read_namespaced_pod("server", namespace)
    assert pod.status.pod_ip == "127.0.0.7"
    assert [(c.type, c.status) for c in pod.status.conditions] == [("Ready", "True")]


def test_add_user_refuses_a_bad_name(control_plane: ControlPlane) -> None:
    with pytest.raises(ValueError, match="not a usable user name"):
        control_plane.add_user("../etc", [])


def test_stop_removes_its_temp_dir_and_processes(control_plane: ControlPlane) -> None:
    plane = ControlPlane(bin_dir=control_plane.bin_dir)
    with plane:
        work_dir = plane.work_dir
        pids = [process.pid for process in plane.processes]
        assert work_dir is not None and (work_dir / "logs" / "kube-apiserver.log").exists()
    assert not work_dir.exists()
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)
    plane.stop()  # idempotent


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and text.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def test_a_partial_start_is_undone(control_plane: ControlPlane, tmp_path: Path) -> None:
    assert control_plane.bin_dir is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "etcd").symlink_to(control_plane.bin_dir / "etcd")
    broken = bin_dir / "kube-apiserver"
    broken.write_text("#!/bin/sh\necho 'flag provided but not defined' >&2\nexit 2\n")
    broken.chmod(0o755)
    plane = ControlPlane(bin_dir=bin_dir, work_dir=tmp_path / "work")
    with pytest.raises(ProcessStartError, match=r"kube-apiserver exited with code 2(.|\n)*flag provided"):
        plane.start()
    assert (tmp_path / "work" / "logs" / "etcd.log").exists()
    assert _processes_mentioning(str(tmp_path / "work")) == []
    assert (tmp_path / "work").exists()  # a given work dir is kept
    shutil.rmtree(tmp_path / "work")
