"""``DeploymentEpp``: the EPP under test as a Deployment of its image, reached through the agent.

Each start creates a ServiceAccount bound to the ``eppconf-epp`` ClusterRole (what local mode
grants its EPP identity) and a one-replica Deployment of ``--epp-image`` whose arguments are the
template with its placeholders filled for a pod: fixed container ports, ``{bind_address}``
``0.0.0.0`` (the agent reaches the EPP on its pod IP), ``{python}`` ``python3``. There is no
kubeconfig: the EPP uses its service account (in-cluster config), so a template with
``{kubeconfig}`` is refused. Readiness is the gRPC health check of ``ProcessEpp``, through the
agent; an exit shows as a restart or a terminated container, reported with its last output.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client

from conformance.harness.epp import EppPorts, health_answers, placeholder_values
from conformance.harness.incluster.agentpod import AgentPod
from conformance.harness.incluster.pods import describe, log_tail, problem_of
from conformance.harness.incluster.render import EPP_PORTS, epp_objects, epp_role
from conformance.harness.incluster.tunnel import ConnectRelay
from conformance.implementations import EXT_PROC_HEALTH_SERVICE, fill_command
from eppconf.controlplane import ProcessStartError
from fakes import TunnelError, open_tunnel

PYTHON_IN_POD = "python3"
"""What ``{python}`` stands for: the interpreter on the image's PATH."""
BIND_ADDRESS_IN_POD = "0.0.0.0"
"""What ``{bind_address}`` stands for: every interface of the pod."""
POD_START_ALLOWANCE = 90.0
"""Seconds added to the EPP's start timeout for scheduling and starting its container: while a
test beside it starts a hundred pods, the node takes a minute to start one more."""
POLL_INTERVAL = 0.2


class InClusterTemplateError(ValueError):
    """An argument template that cannot run in a pod."""


def check_pod_template(template: str) -> None:
    """``InClusterTemplateError`` when ``template`` names ``{kubeconfig}``: a pod uses its service account."""
    if "{kubeconfig}" in template:
        raise InClusterTemplateError(
            f"the template {template!r} names {{kubeconfig}}, which the in-cluster topology does not fill:"
            " the EPP runs as a pod with a service account (in-cluster config); leave the flag out")


def pod_args(template: str, *, pool: str, namespace: str) -> list[str]:
    """The EPP container's arguments for one start."""
    check_pod_template(template)
    ports = EppPorts(grpc=EPP_PORTS.grpc, grpc_health=EPP_PORTS.grpc_health, metrics=EPP_PORTS.metrics)
    values = placeholder_values(pool=pool, namespace=namespace, ports=ports, kubeconfig="", python=PYTHON_IN_POD,
                                bind_address=BIND_ADDRESS_IN_POD)
    return fill_command(template, values)


@dataclass
class DeploymentEppInstance:
    """A running EPP Deployment: its pod, the relay to its ext_proc port, and how to remove it."""

    core: client.CoreV1Api
    apps: client.AppsV1Api
    rbac: client.RbacAuthorizationV1Api
    agent: AgentPod
    namespace: str
    name: str
    pod: str
    relay: ConnectRelay
    tls: bool | None
    restarts_at_start: int
    """Its container's restarts when it first served: a container the kubelet had to start twice
    (on a loaded node runc may fail to start one) has not exited under test."""
    grpc_target: str = ""
    """The relay's loopback address."""

    def __post_init__(self) -> None:
        self.grpc_target = self.relay.address

    def exit_status(self) -> str | None:
        """``None`` while its container runs unrestarted and the agent is reachable; otherwise how it
        ended, with its last output."""
        try:
            self.agent.check()
        except TunnelError as error:
            return f"cannot be reached any more: {error}"
        try:
            pod = self.core.read_namespaced_pod(self.pod, self.namespace)
        except client.ApiException as error:
            return f"pod {self.namespace}/{self.pod} cannot be read ({error.status} {error.reason})"
        for status in pod.status.container_statuses or []:
            restarted = status.restart_count > self.restarts_at_start
            ended = status.state.terminated if status.state else None
            if restarted and status.last_state:
                ended = ended or status.last_state.terminated
            if restarted or ended is not None:
                how = f"exited with code {ended.exit_code} ({ended.reason})" if ended else "restarted"
                return (f"{how}, restarted {status.restart_count - self.restarts_at_start} time(s) under test"
                        f" (pod {self.namespace}/{self.pod}){log_tail(self.core, pod, previous=restarted)}")
        return None

    def stop(self) -> None:
        """Close the relay; delete the Deployment, its ServiceAccount and its ClusterRoleBinding."""
        self.relay.close()
        remove_epp(self.apps, self.core, self.rbac, namespace=self.namespace, name=self.name)


def remove_epp(apps: client.AppsV1Api, core: client.CoreV1Api, rbac: client.RbacAuthorizationV1Api, *,
               namespace: str, name: str) -> None:
    """Delete what ``DeploymentEpp.start`` creates; absent objects are fine."""
    for delete in (lambda: apps.delete_namespaced_deployment(name, namespace, grace_period_seconds=0,
                                                             propagation_policy="Background"),
                   lambda: core.delete_namespaced_service_account(name, namespace),
                   lambda: rbac.delete_cluster_role_binding(f"{namespace}-{name}")):
        try:
            delete()
        except client.ApiException as error:
            if error.status != 404:
                raise


class DeploymentEpp:
    """Starts an EPP as a Deployment of ``image`` from an argument template, reached through ``agent``.

    ``args`` follows the image's entrypoint, with the placeholders of ``--epp-command`` but
    ``{kubeconfig}``; readiness is ``ProcessEpp``'s gRPC health check, within ``startup_timeout``
    plus ``start_allowance`` (default ``POD_START_ALLOWANCE``).
    """

    def __init__(self, image: str, args: str, *, api: client.ApiClient, agent: AgentPod, name: str = "epp",
                 tls: bool | None = None, health_service: str = EXT_PROC_HEALTH_SERVICE,
                 startup_timeout: float = 30.0, start_allowance: float = POD_START_ALLOWANCE) -> None:
        check_pod_template(args)
        self.image = image
        self.args = args
        self.name = name
        self.tls = tls
        self.health_service = health_service
        self.startup_timeout = startup_timeout
        self.start_allowance = start_allowance
        self._agent = agent
        self._core = client.CoreV1Api(api)
        self._apps = client.AppsV1Api(api)
        self._rbac = client.RbacAuthorizationV1Api(api)
        self._role_checked = False

    def start(self, *, pool: str, namespace: str, kubeconfig: Path,
              wait_until_serving: bool = True) -> DeploymentEppInstance:
        """Create the EPP's objects and wait until it serves (see ``ProcessEpp.start``); a failed start
        removes them and raises ``ProcessStartError`` with the pod's state and last output.
        ``kubeconfig`` is not used: the EPP runs with its service account."""
        name = f"{self.name}-{pool}"[:50].rstrip("-")
        self._ensure_role()
        account, binding, deployment = epp_objects(name=name, namespace=namespace, image=self.image,
                                                   args=pod_args(self.args, pool=pool, namespace=namespace),
                                                   health_service=self.health_service)
        try:
            self._core.create_namespaced_service_account(namespace, account)
            self._rbac.create_cluster_role_binding(binding)
            self._apps.create_namespaced_deployment(namespace, deployment)
            return self._wait_serving(namespace, name, wait_until_serving)
        except BaseException:
            remove_epp(self._apps, self._core, self._rbac, namespace=namespace, name=name)
            raise

    def _wait_serving(self, namespace: str, name: str, wait_until_serving: bool) -> DeploymentEppInstance:
        timeout = self.startup_timeout + self.start_allowance
        deadline = time.monotonic() + timeout
        pod: client.V1Pod | None = None
        while True:
            pod = self._epp_pod(namespace, name) or pod
            if pod is not None and pod.status.pod_ip:
                if self._serves(pod.status.pod_ip, wait_until_serving):
                    serving = self._core.read_namespaced_pod(pod.metadata.name, namespace)
                    restarts = sum(status.restart_count for status in serving.status.container_statuses or [])
                    relay = self._agent.relay(f"{pod.status.pod_ip}:{EPP_PORTS.grpc}")
                    return DeploymentEppInstance(self._core, self._apps, self._rbac, self._agent, namespace, name,
                                                 pod.metadata.name, relay, self.tls, restarts)
            problem = problem_of(pod) if pod is not None else None
            if problem is not None or time.monotonic() > deadline:
                state = describe(pod) if pod is not None else "no pod yet"
                why = problem or f"not serving within {timeout:g}s ({state})"
                raise ProcessStartError(f"the EPP under test (Deployment {namespace}/{name}, image {self.image}):"
                                        f" {why}{log_tail(self._core, pod) if pod is not None else ''}")
            time.sleep(POLL_INTERVAL)

    def _epp_pod(self, namespace: str, name: str) -> client.V1Pod | None:
        pods = self._core.list_namespaced_pod(namespace, label_selector=f"eppconf.dev/epp={name}").items
        live = [pod for pod in pods if pod.metadata.deletion_timestamp is None]
        return live[0] if live else None

    def _serves(self, ip: str, wait_until_serving: bool) -> bool:
        """Whether the EPP at ``ip`` answers gRPC health (SERVING if asked) and accepts ext_proc connections."""
        with self._agent.relay(f"{ip}:{EPP_PORTS.grpc_health}") as health:
            if not health_answers(health.address, self.health_service, wait_until_serving):
                return False
        try:
            open_tunnel(self._agent.proxy, f"{ip}:{EPP_PORTS.grpc}").close()
        except TunnelError:
            return False
        return True

    def _ensure_role(self) -> None:
        """Create the ``eppconf-epp`` ClusterRole where the cluster lacks it (once per launcher)."""
        if self._role_checked:
            return
        try:
            self._rbac.create_cluster_role(epp_role())
        except client.ApiException as error:
            if error.status != 409:
                raise
        self._role_checked = True
