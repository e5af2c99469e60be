"""Reaching pod IPs from the harness: ``kubectl port-forward`` to the agent, CONNECT tunnels through it.

``PortForward`` keeps one ``kubectl port-forward`` to the agent pod's proxy port on a loopback
port; ``open_tunnel`` (from the fakes, whose control clients use it too) opens a CONNECT tunnel
through that proxy to any ``ip:port`` of the cluster; ``ConnectRelay`` listens on loopback and
relays each connection through its own tunnel, so a client that only knows ``host:port`` (gRPC,
the gateway's TLS tunnel) reaches a pod.
"""

from __future__ import annotations

import re
import select
import shutil
import socket
import threading
from pathlib import Path

from conformance.harness.relay import LoopbackRelay
from eppconf.controlplane import ManagedProcess, cache_root, reserve_port
from fakes import open_tunnel

KUBECTL_CACHE_GLOB = "kind/kubernetes-*/kubectl"
"""Where ``eppconf build`` puts kubectl under the eppconf cache (newest version first)."""
def find_kubectl() -> str:
    """kubectl from the eppconf cache, else from ``PATH``; ``FileNotFoundError`` saying how to get it."""
    cached = sorted(cache_root().glob(KUBECTL_CACHE_GLOB), reverse=True,
                    key=lambda path: tuple(int(part) for part in re.findall(r"\d+", path.parent.name)))
    if cached:
        return str(cached[0])
    found = shutil.which("kubectl")
    if found is None:
        raise FileNotFoundError(f"the in-cluster topology needs kubectl (for port-forward): none under"
                                f" {cache_root()}/{KUBECTL_CACHE_GLOB} (scripts/build-kind-node.sh builds it)"
                                " nor on PATH")
    return found


class PortForward:
    """``kubectl port-forward pod/POD LOCAL:REMOTE`` on 127.0.0.1, as a managed process."""

    def __init__(self, *, kubeconfig: Path, namespace: str, pod: str, remote_port: int, log_dir: Path,
                 kubectl: str | None = None, startup_timeout: float = 30.0) -> None:
        self.local_port = reserve_port()
        argv = [kubectl or find_kubectl(), "--kubeconfig", str(kubeconfig), "--namespace", namespace,
                "port-forward", "--address", "127.0.0.1", f"pod/{pod}", f"{self.local_port}:{remote_port}"]
        self._process = ManagedProcess(f"port-forward-{namespace}-{pod}", argv, log_dir=log_dir,
                                       ready=lambda: _accepts("127.0.0.1", self.local_port),
                                       startup_timeout=startup_timeout)

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.local_port

    def start(self) -> PortForward:
        self._process.start()
        return self

    def problem(self) -> str | None:
        """``None`` while it runs; once it has ended, its exit code and last output."""
        code = self._process.returncode
        if code is None:
            return None
        return f"kubectl port-forward exited with code {code}: {self._process.output_tail()}"

    def stop(self) -> None:
        self._process.stop()


def _accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1.0).close()
    except OSError:
        return False
    return True


class ConnectRelay(LoopbackRelay):
    """A loopback listener relaying each connection through its own CONNECT tunnel to ``target``.

    A tunnel the agent refuses closes that connection (the client sees a reset, as it would
    connecting to the target itself).
    """

    thread_name = "eppconf-connect-relay"

    def __init__(self, proxy: tuple[str, int], target: str) -> None:
        self.target = target
        self._proxy = proxy
        super().__init__()

    def relay(self, downstream: socket.socket) -> None:
        try:
            upstream = open_tunnel(self._proxy, self.target)
        except OSError:
            downstream.close()
            return
        with downstream, upstream:
            pump(downstream, upstream, self.stopping)

    def __enter__(self) -> ConnectRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pump(one: socket.socket, other: socket.socket, stop: threading.Event) -> None:
    """Copy bytes both ways between two sockets until either closes or ``stop`` is set."""
    peers = {one: other, other: one}
    while not stop.is_set():
        readable, _, _ = select.select(list(peers), [], [], 0.05)
        for source in readable:
            try:
                data = source.recv(65536)
                if not data:
                    return
                peers[source].sendall(data)
            except OSError:
                return
