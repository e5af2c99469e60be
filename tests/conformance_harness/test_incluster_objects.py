"""The in-cluster topology's objects, rendered and created on the local control plane (no kubelet runs
there, so no pod starts): what each object says, the EPP's service account's rights, and the clear
errors of starts that cannot finish and of operations only virtual pods allow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from conformance.harness.incluster.agentpod import AgentPod
from conformance.harness.incluster.deployment import DeploymentEpp, DeploymentEppInstance, pod_args
from conformance.harness.incluster.kubelet import ClusterKubelet, VirtualPodsOnly
from conformance.harness.incluster.pods import PodError, problem_of, wait_for_pod
from conformance.harness.incluster.render import agent_pod, epp_objects, epp_role, model_server_pod
from conformance.harness.incluster.tunnel import ConnectRelay
from conformance.implementations import REFERENCE
from eppconf.controlplane import ProcessStartError

FAKES = "eppconf.local/fakes:test"
EPP = "eppconf.local/reference-epp:test"


@pytest.fixture
def rbac(admin_api: client.ApiClient) -> Iterator[client.RbacAuthorizationV1Api]:
    api = client.RbacAuthorizationV1Api(admin_api)
    try:
        api.create_cluster_role(epp_role())
    except client.ApiException as error:
        if error.status != 409:
            raise
    yield api


def test_the_agent_pod_runs_the_agent_from_the_fakes_image(admin_api: client.ApiClient, namespace: str) -> None:
    pod = client.CoreV1Api(admin_api).create_namespaced_pod(namespace, agent_pod(namespace=namespace, image=FAKES))
    (container,) = pod.spec.containers
    assert (container.image, container.args) == (FAKES, ["agent", "--port", "3128"])
    assert container.readiness_probe.tcp_socket.port == 3128
    assert pod.spec.scheduler_name == "default-scheduler"


def test_a_model_server_pod_serves_its_ports_with_decoys_and_a_readiness_probe(admin_api: client.ApiClient,
                                                                              namespace: str) -> None:
    body = model_server_pod(name="p", namespace=namespace, image=FAKES, labels={"eppconf.dev/pool": "pool"},
                            annotations={"a": "b"}, serving=[8001, 8000], decoys=[8002, 8000], ready=False)
    pod = client.CoreV1Api(admin_api).create_namespaced_pod(namespace, body)
    (container,) = pod.spec.containers
    assert container.image == FAKES
    assert container.args == ["fake-server", "--host", "0.0.0.0", "--pod-control-port", "9999", "--pod-name",
                              "pod p", "--ports", "8000,8001", "--decoy-ports", "8002", "--not-ready"]
    assert [port.container_port for port in container.ports] == [8000, 8001]
    probe = container.readiness_probe
    assert (probe.http_get.path, probe.http_get.port, probe.period_seconds) == ("/ready", 9999, 1)
    assert (pod.metadata.labels, pod.metadata.annotations) == ({"eppconf.dev/pool": "pool"}, {"a": "b"})


def test_a_model_server_pod_cannot_serve_the_pod_control_port() -> None:
    with pytest.raises(ValueError, match="port 9999 is the pod-control port"):
        model_server_pod(name="p", namespace="n", image=FAKES, labels={}, annotations={}, serving=[9999],
                         decoys=[], ready=True)


def test_the_epp_runs_as_its_service_account_bound_to_the_epp_role(admin_api: client.ApiClient, namespace: str,
                                                                    rbac: client.RbacAuthorizationV1Api) -> None:
    args = pod_args(REFERENCE.args_template(), pool="pool", namespace=namespace)
    account, binding, deployment = epp_objects(name="epp-pool", namespace=namespace, image=EPP, args=args,
                                               health_service="svc")
    client.CoreV1Api(admin_api).create_namespaced_service_account(namespace, account)
    rbac.create_cluster_role_binding(binding)
    try:
        created = client.AppsV1Api(admin_api).create_namespaced_deployment(namespace, deployment)
        spec = created.spec.template.spec
        (container,) = spec.containers
        assert (spec.service_account_name, container.image) == ("epp-pool", EPP)
        assert container.args == ["--pool-name", "pool", "--pool-namespace", namespace, "--grpc-port", "9002",
                                  "--grpc-health-port", "9003", "--metrics-port", "9090", "--bind-address", "0.0.0.0"]
        assert (container.readiness_probe.grpc.port, container.readiness_probe.grpc.service) == (9003, "svc")
        user = f"system:serviceaccount:{namespace}:epp-pool"
        for verb, group, resource, where in [("watch", "", "pods", namespace),
                                             ("list", "inference.networking.k8s.io", "inferencepools", namespace),
                                             ("list", "", "pods", "elsewhere")]:
            assert _allowed(admin_api, user, verb, group, resource, where), (verb, resource, where)
        assert not _allowed(admin_api, user, "delete", "", "pods", namespace)
    finally:
        rbac.delete_cluster_role_binding(f"{namespace}-epp-pool")


def _allowed(api: client.ApiClient, user: str, verb: str, group: str, resource: str, namespace: str) -> bool:
    review = client.AuthorizationV1Api(api).create_subject_access_review({
        "spec": {"user": user, "groups": ["system:serviceaccounts"],
                 "resourceAttributes": {"verb": verb, "group": group, "resource": resource,
                                        "namespace": namespace}}})
    return bool(review.status.allowed)


def test_a_template_naming_the_kubeconfig_cannot_run_in_a_pod() -> None:
    with pytest.raises(ValueError, match=r"names \{kubeconfig\}, which the in-cluster topology does not fill"):
        pod_args("--kubeconfig {kubeconfig}", pool="p", namespace="n")


def test_an_epp_that_never_gets_a_pod_fails_its_start_and_leaves_nothing(
        admin_api: client.ApiClient, namespace: str, rbac: client.RbacAuthorizationV1Api, tmp_path: Path) -> None:
    agent = AgentPod(admin_api, kubeconfig=tmp_path / "unused", image=FAKES, log_dir=tmp_path)
    launcher = DeploymentEpp(EPP, REFERENCE.args_template(), api=admin_api, agent=agent, startup_timeout=0.5,
                             start_allowance=0)
    with pytest.raises(ProcessStartError, match=rf"Deployment {namespace}/epp-pool, image {EPP}\): not serving"
                                                r" within 0.5s \(no pod yet\)"):
        launcher.start(pool="pool", namespace=namespace, kubeconfig=tmp_path / "unused")
    assert client.AppsV1Api(admin_api).list_namespaced_deployment(namespace).items == []
    assert [a.metadata.name for a in client.CoreV1Api(admin_api).list_namespaced_service_account(namespace).items
            if a.metadata.name == "epp-pool"] == []
    assert not [b for b in rbac.list_cluster_role_binding().items if b.metadata.name == f"{namespace}-epp-pool"]


def test_a_pod_no_kubelet_runs_fails_its_start_with_its_state(admin_api: client.ApiClient, namespace: str) -> None:
    kubelet = ClusterKubelet(admin_api, namespace=namespace, image=FAKES, proxy_url="http://127.0.0.1:1",
                             start_timeout=0.5)
    with pytest.raises(PodError, match=rf"pod {namespace}/p: waiting until it runs with an IP: not there after"
                                       r" 0.5s \(phase Pending, IP none, Ready False\)"):
        kubelet.create_pod("p", ports=[8000], labels={})


def test_a_pod_deleted_while_awaited_says_who_disrupted_it(admin_api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(admin_api)
    pod = core.create_namespaced_pod(namespace, {"metadata": {"name": "p"},
                                                 "spec": {"containers": [{"name": "c", "image": FAKES}]}})
    core.patch_namespaced_pod_status("p", namespace, {"status": {"conditions": [{
        "type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
        "message": "Taint manager: deleting due to NoExecute taint"}]}})
    core.create_namespaced_event(namespace, {
        "metadata": {"name": "p.eviction"}, "reason": "TaintManagerEviction", "message": "Marking for deletion Pod p",
        "source": {"component": "taint-eviction-controller"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": namespace, "uid": pod.metadata.uid}})
    seen = []

    def deleted_once_seen(found: client.V1Pod) -> bool:
        if not seen:
            seen.append(found)
            core.delete_namespaced_pod("p", namespace, grace_period_seconds=0)
        return False

    with pytest.raises(PodError, match=rf"pod {namespace}/p: deleted while waiting until it runs; disrupted"
                                       r" \(DeletionByTaintManager: Taint manager: deleting due to NoExecute taint\);"
                                       r" last seen: phase Pending, IP none, Ready False; event TaintManagerEviction"
                                       r" from taint-eviction-controller: Marking for deletion Pod p$"):
        wait_for_pod(core, namespace, "p", until=deleted_once_seen, what="it runs", timeout=30)


@pytest.mark.parametrize(("call", "what"), [
    (lambda k: k.create_pod("p", ports=[8000], labels={}, ip="10.0.0.1"), "a pod sharing another pod's IP"),
    (lambda k: k.create_pod("p", ports=[8000], labels={}, with_ip=False), "a pod without a pod IP"),
    (lambda k: k.move_pod("p"), r"changing a pod's IP \(move_pod\)"),
    (lambda k: k.clear_ip("p"), r"clearing a pod's IP \(clear_pod_ip\)"),
    (lambda k: k.publish_ip("p"), "publishing a pod IP"),
    (lambda k: k.terminate_pod("p"), "a deleted pod that keeps its Ready condition"),
    (lambda k: k.create_launcher_pod("p", ports=[8000], labels={}, api_port=8001), "a launcher pod"),
])
def test_what_only_virtual_pods_allow_is_a_clear_error(call: object, what: str) -> None:
    kubelet = ClusterKubelet(client.ApiClient(), namespace="n", image=FAKES, proxy_url="http://127.0.0.1:1")
    with pytest.raises(VirtualPodsOnly, match=f"{what}.* needs the harness kubelet of the virtual-pod topology;"
                                              ".*declare it in the catalogue"):
        call(kubelet)  # type: ignore[operator]


class _Pods:
    """A stand-in for CoreV1Api serving one pod whose container restarted ``restarts`` times."""

    def __init__(self, restarts: int, *, terminated: bool = False) -> None:
        ended = client.V1ContainerStateTerminated(exit_code=2, reason="Error")
        self.pod = client.V1Pod(metadata=client.V1ObjectMeta(name="epp-0", namespace="n"), status=client.V1PodStatus(
            container_statuses=[client.V1ContainerStatus(
                name="epp", image="i", image_id="", ready=not terminated, restart_count=restarts,
                state=client.V1ContainerState(terminated=ended if terminated else None),
                last_state=client.V1ContainerState(terminated=ended if restarts else None))]))

    def read_namespaced_pod(self, name: str, namespace: str) -> client.V1Pod:
        return self.pod

    def read_namespaced_pod_log(self, name: str, namespace: str, **_: object) -> str:
        return "panic: boom\n"


class _Agent:
    def check(self) -> None:
        return None


@pytest.mark.parametrize(("restarts", "at_start", "terminated", "status"), [
    (1, 1, False, None),
    (0, 0, False, None),
    (2, 1, False, "exited with code 2 (Error), restarted 1 time(s) under test (pod n/epp-0); last output:\npanic:"
                  " boom"),
    (0, 0, True, "exited with code 2 (Error), restarted 0 time(s) under test (pod n/epp-0); last output:\npanic:"
                 " boom"),
])
def test_an_epp_exit_counts_restarts_after_it_first_served(restarts: int, at_start: int, terminated: bool,
                                                           status: str | None) -> None:
    relay = ConnectRelay(("127.0.0.1", 1), "10.0.0.1:9002")
    try:
        instance = DeploymentEppInstance(_Pods(restarts, terminated=terminated), None, None, _Agent(), "n",  # type: ignore[arg-type]
                                         "epp", "epp-0", relay, True, at_start)
        assert instance.exit_status() == status
    finally:
        relay.close()


def _waiting_pod(reason: str, *, last_reason: str | None) -> client.V1Pod:
    last = client.V1ContainerState(terminated=client.V1ContainerStateTerminated(exit_code=128, reason=last_reason)
                                   if last_reason else None)
    return client.V1Pod(status=client.V1PodStatus(phase="Pending", container_statuses=[client.V1ContainerStatus(
        name="model-server", image="i", image_id="", ready=False, restart_count=1 if last_reason else 0,
        state=client.V1ContainerState(waiting=client.V1ContainerStateWaiting(reason=reason, message="m")),
        last_state=last)]))


def test_a_container_the_runtime_failed_to_start_is_waited_for_one_that_crashed_is_not() -> None:
    assert problem_of(_waiting_pod("CrashLoopBackOff", last_reason="StartError")) is None
    assert problem_of(_waiting_pod("RunContainerError", last_reason=None)) is None
    assert problem_of(_waiting_pod("CrashLoopBackOff", last_reason="Error")) == (
        "container model-server: CrashLoopBackOff: m")
    assert "kind load docker-image" in str(problem_of(_waiting_pod("ErrImageNeverPull", last_reason=None)))
