"""``AgentPod``: the agent of the in-cluster topology, in a namespace of its own, and the port-forward to it."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client

from conformance.harness.cluster import create_namespace, delete_namespace
from conformance.harness.incluster.pods import is_ready, wait_for_pod
from conformance.harness.incluster.render import AGENT_POD, AGENT_PORT, agent_pod
from conformance.harness.incluster.tunnel import ConnectRelay, PortForward
from fakes import TunnelError


class AgentPod:
    """One agent pod (``eppconf agent``) and one ``kubectl port-forward`` to it, for one test session.

    ``proxy`` is the loopback address of the forwarded proxy port; ``relay(target)`` gives a
    loopback address relayed to a cluster ``ip:port``.
    """

    def __init__(self, api: client.ApiClient, *, kubeconfig: Path, image: str, log_dir: Path,
                 startup_timeout: float = 60.0) -> None:
        self._api = api
        self._core = client.CoreV1Api(api)
        self._kubeconfig = kubeconfig
        self.image = image
        self._log_dir = log_dir
        self._startup_timeout = startup_timeout
        self.namespace: str | None = None
        self._forward: PortForward | None = None

    def start(self) -> AgentPod:
        """Create the namespace and the pod, wait until it is Ready, forward its port; undo all on failure."""
        try:
            self.namespace = create_namespace(self._api, prefix="eppconf-agent")
            self._core.create_namespaced_pod(self.namespace, agent_pod(namespace=self.namespace, image=self.image))
            wait_for_pod(self._core, self.namespace, AGENT_POD, until=is_ready, what="the agent is Ready",
                         timeout=self._startup_timeout)
            self._forward = PortForward(kubeconfig=self._kubeconfig, namespace=self.namespace, pod=AGENT_POD,
                                        remote_port=AGENT_PORT, log_dir=self._log_dir).start()
        except BaseException:
            self.close()
            raise
        return self

    @property
    def proxy(self) -> tuple[str, int]:
        """``(host, port)`` of the forwarded proxy."""
        assert self._forward is not None, "start() first"
        return self._forward.address

    @property
    def proxy_url(self) -> str:
        host, port = self.proxy
        return f"http://{host}:{port}"

    def relay(self, target: str) -> ConnectRelay:
        """A loopback listener relayed to ``target`` (``ip:port`` in the cluster); close it after use."""
        return ConnectRelay(self.proxy, target)

    def check(self) -> None:
        """``TunnelError`` if the port-forward has ended."""
        problem = self._forward.problem() if self._forward is not None else "the agent is not started"
        if problem is not None:
            raise TunnelError(problem)

    def close(self) -> None:
        """Stop the port-forward and delete the agent's namespace."""
        if self._forward is not None:
            self._forward.stop()
            self._forward = None
        if self.namespace is not None:
            delete_namespace(self._api, self.namespace)
            self.namespace = None

    def __enter__(self) -> AgentPod:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
