"""Keeps a pod's port-discovery annotation equal to the launcher's children, through the Kubernetes API."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from eppconf.portdiscovery import PORT_DISCOVERY_ANNOTATION


class AnnotatorError(RuntimeError):
    """The pod could not be read or patched; the message names the pod and the API's answer."""


@dataclass(frozen=True)
class ChildPort:
    """One child as the annotation lists it."""

    inference_pool: str
    number: int
    attributes: dict[str, str] = field(default_factory=dict)

    def to_entry(self) -> dict[str, object]:
        entry: dict[str, object] = {"inferencePool": self.inference_pool, "number": self.number}
        if self.attributes:
            entry["attributes"] = dict(self.attributes)
        return entry


def annotation_value(children: Iterable[ChildPort]) -> str:
    """The annotation value for ``children``: a JSON list ordered by port."""
    return json.dumps([c.to_entry() for c in sorted(children, key=lambda c: c.number)], separators=(",", ":"))


class PodAnnotator:
    """Writes the port-discovery annotation of pod ``namespace/pod_name``."""

    def __init__(self, api: client.CoreV1Api, *, pod_name: str, namespace: str) -> None:
        self.api = api
        self.pod_name = pod_name
        self.namespace = namespace

    @classmethod
    def connect(cls, *, pod_name: str, namespace: str, kubeconfig: Path | None = None) -> PodAnnotator:
        """An annotator using ``kubeconfig``, else in-cluster credentials, else ``KUBECONFIG``/~/.kube/config."""
        try:
            if kubeconfig is not None:
                api_client = config.new_client_from_config(config_file=str(kubeconfig))
            else:
                api_client = _default_client()
        except (ConfigException, OSError) as error:
            raise AnnotatorError(f"no usable Kubernetes credentials ({kubeconfig or 'in-cluster or KUBECONFIG'}): "
                                 f"{error}") from None
        return cls(client.CoreV1Api(api_client), pod_name=pod_name, namespace=namespace)

    def close(self) -> None:
        self.api.api_client.close()

    def write(self, children: Iterable[ChildPort]) -> str:
        """Patch the pod so its annotation lists exactly ``children``; returns the value written."""
        value = annotation_value(children)
        body = {"metadata": {"annotations": {PORT_DISCOVERY_ANNOTATION: value}}}
        try:
            self.api.patch_namespaced_pod(self.pod_name, self.namespace, body)
        except ApiException as error:
            raise AnnotatorError(f"patching pod {self.namespace}/{self.pod_name} failed: "
                                 f"{error.status} {error.reason}") from None
        return value

    def read(self) -> str | None:
        """The annotation's current value on the pod, ``None`` when absent."""
        try:
            pod = self.api.read_namespaced_pod(self.pod_name, self.namespace)
        except ApiException as error:
            raise AnnotatorError(f"reading pod {self.namespace}/{self.pod_name} failed: "
                                 f"{error.status} {error.reason}") from None
        return (pod.metadata.annotations or {}).get(PORT_DISCOVERY_ANNOTATION)


def _default_client() -> client.ApiClient:
    try:
        config.load_incluster_config()
        return client.ApiClient()
    except ConfigException:
        return config.new_client_from_config()
