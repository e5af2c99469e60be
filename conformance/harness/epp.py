"""EPP launchers: how the EPP under test is started, behind the ``EppLauncher`` protocol.

``ProcessEpp`` runs any EPP as a local process from a command template; a container launcher for
cluster mode will implement the same protocol.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conformance.implementations import EXT_PROC_HEALTH_SERVICE
from eppconf.controlplane import ManagedProcess, reserve_port


class RunningEpp(Protocol):
    """A started EPP the gateway client can reach."""

    grpc_target: str
    """``host:port`` of its ext_proc server."""
    tls: bool | None
    """Whether ext_proc speaks TLS; ``None`` lets the gateway client find out."""

    def stop(self) -> None: ...


class EppLauncher(Protocol):
    """Starts the EPP under test for one pool."""

    def start(self, *, pool: str, namespace: str, kubeconfig: Path) -> RunningEpp: ...


@dataclass(frozen=True)
class EppPorts:
    """The loopback ports reserved for one EPP process."""

    grpc: int
    grpc_health: int
    metrics: int

    @classmethod
    def reserve(cls) -> EppPorts:
        """Three free ports on 127.0.0.1, claimed so that parallel workers never share them."""
        return cls(grpc=reserve_port(), grpc_health=reserve_port(), metrics=reserve_port())


@dataclass
class ProcessEppInstance:
    """An EPP process started by ``ProcessEpp``."""

    process: ManagedProcess
    grpc_target: str
    tls: bool | None = None

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL)."""
        self.process.stop()


class ProcessEpp:
    """Starts an EPP as a local process from a command template.

    ``tls`` says whether its ext_proc server speaks TLS (``None``: the gateway client finds out);
    ``health_service`` is the gRPC health service that turns SERVING once it is ready.

    Placeholders: ``{pool} {namespace} {grpc_port} {grpc_health_port} {metrics_port}
    {kubeconfig} {python}``. ``KUBECONFIG`` is set as well, for EPPs that have no flag for it.
    """

    def __init__(self, template: str, *, log_dir: Path, name: str = "epp", tls: bool | None = None,
                 health_service: str = EXT_PROC_HEALTH_SERVICE, startup_timeout: float = 30.0) -> None:
        self.template = template
        self.log_dir = log_dir
        self.name = name
        self.tls = tls
        self.health_service = health_service
        self.startup_timeout = startup_timeout

    def command(self, *, pool: str, namespace: str, kubeconfig: Path, ports: EppPorts) -> list[str]:
        """The argv for one start; each argument of the template is filled separately."""
        values = {"pool": pool, "namespace": namespace, "grpc_port": ports.grpc,
                  "grpc_health_port": ports.grpc_health, "metrics_port": ports.metrics,
                  "kubeconfig": str(kubeconfig), "python": sys.executable}
        return [part.format(**values) for part in shlex.split(self.template)]

    def start(self, *, pool: str, namespace: str, kubeconfig: Path) -> ProcessEppInstance:
        """Start the EPP and wait until its gRPC health reports SERVING.

        An early exit or a timeout raises ``ProcessStartError`` with the exit code and the tail
        of its output.
        """
        ports = EppPorts.reserve()
        argv = self.command(pool=pool, namespace=namespace, kubeconfig=kubeconfig, ports=ports)
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        process = ManagedProcess(f"{self.name}-{namespace}", argv, env=env,
                                 log_dir=self.log_dir,
                                 ready=lambda: _serving(f"127.0.0.1:{ports.grpc_health}",
                                                        self.health_service),
                                 startup_timeout=self.startup_timeout)
        process.start()
        return ProcessEppInstance(process=process, grpc_target=f"127.0.0.1:{ports.grpc}", tls=self.tls)


def _serving(target: str, service: str) -> bool:
    """Whether the gRPC health server at ``target`` reports ``service`` SERVING."""
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1.0)
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING
