"""The in-cluster topology's objects, rendered from the YAML in ``conformance/manifests/incluster/``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conformance import manifests

AGENT_PORT = 3128
"""The agent's proxy port (manifests/incluster/agent.yaml)."""
POD_CONTROL_PORT = 9999
"""The pod-control port of a model-server pod (manifests/incluster/model-server-pod.yaml)."""
AGENT_POD = "eppconf-agent"


@dataclass(frozen=True)
class EppPodPorts:
    """The ports of the EPP's container (manifests/incluster/epp.yaml)."""

    grpc: int = 9002
    grpc_health: int = 9003
    metrics: int = 9090


EPP_PORTS = EppPodPorts()


def agent_pod(*, namespace: str, image: str) -> dict[str, Any]:
    """The agent pod, ``eppconf agent`` from the fakes' ``image``."""
    (body,) = manifests.load("incluster/agent.yaml")
    body["metadata"]["namespace"] = namespace
    body["spec"]["containers"][0]["image"] = image
    return body


def model_server_pod(*, name: str, namespace: str, image: str, labels: Mapping[str, str],
                     annotations: Mapping[str, str], serving: Iterable[int], decoys: Iterable[int],
                     ready: bool) -> dict[str, Any]:
    """A pod running ``eppconf fake-server`` on ``serving``, decoys on ``decoys``, Ready if ``ready``."""
    serving, decoys = sorted(set(serving)), sorted(set(decoys) - set(serving))
    if POD_CONTROL_PORT in (*serving, *decoys):
        raise ValueError(f"pod {name}: port {POD_CONTROL_PORT} is the pod-control port of in-cluster pods")
    (body,) = manifests.load("incluster/model-server-pod.yaml")
    body["metadata"].update(name=name, namespace=namespace, labels=dict(labels), annotations=dict(annotations))
    container = body["spec"]["containers"][0]
    container["image"] = image
    container["args"] += ["--pod-name", f"pod {name}"]
    if serving:
        container["args"] += ["--ports", _ports(serving)]
    if decoys:
        container["args"] += ["--decoy-ports", _ports(decoys)]
    if not ready:
        container["args"].append("--not-ready")
    container["ports"] = [{"containerPort": port} for port in serving]
    return body


def epp_objects(*, name: str, namespace: str, image: str, args: Sequence[str],
                health_service: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The EPP's ServiceAccount, its ClusterRoleBinding (named after ``namespace`` too, as it is
    cluster-wide) and its Deployment, all called ``name``."""
    account, binding, deployment = manifests.load("incluster/epp.yaml")
    account["metadata"].update(name=name, namespace=namespace)
    binding["metadata"]["name"] = f"{namespace}-{name}"
    binding["metadata"]["labels"]["eppconf.dev/namespace"] = namespace
    binding["subjects"][0].update(name=name, namespace=namespace)
    deployment["metadata"].update(name=name, namespace=namespace)
    deployment["spec"]["selector"]["matchLabels"]["eppconf.dev/epp"] = name
    template = deployment["spec"]["template"]
    template["metadata"]["labels"]["eppconf.dev/epp"] = name
    template["spec"]["serviceAccountName"] = name
    container = template["spec"]["containers"][0]
    container.update(image=image, args=list(args))
    container["readinessProbe"]["grpc"]["service"] = health_service
    return account, binding, deployment


def epp_role() -> dict[str, Any]:
    """The ClusterRole every EPP under test is bound to (manifests/rbac.yaml)."""
    role, _ = manifests.load("rbac.yaml")
    return role


def _ports(ports: Sequence[int]) -> str:
    return ",".join(map(str, ports))
