"""EPP launchers: how the EPP under test is started, behind the ``EppLauncher`` protocol.

``ProcessEpp`` runs any EPP as a local process from a command template;
``conformance.harness.container.ContainerEpp`` runs an EPP's image with host networking.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conformance.implementations import EXT_PROC_HEALTH_SERVICE, fill_command
from eppconf.controlplane import ManagedProcess, reserve_port


class RunningEpp(Protocol):
    """A started EPP the gateway client can reach."""

    grpc_target: str
    """``host:port`` of its ext_proc server."""
    tls: bool | None
    """Whether ext_proc speaks TLS; ``None`` lets the gateway client find out."""

    def exit_status(self) -> str | None:
        """``None`` while the EPP runs; once it has ended, how (exit code) and its last output."""
        ...

    def stop(self) -> None: ...


class EppExited(AssertionError):
    """The EPP under test ended during a test; the message has its exit code and last output."""


def check_running(epp: RunningEpp) -> None:
    """Raise ``EppExited`` if ``epp`` has ended."""
    status = epp.exit_status()
    if status is not None:
        raise EppExited(f"the EPP under test {status}")


class EppLauncher(Protocol):
    """Starts the EPP under test for one pool."""

    def start(self, *, pool: str, namespace: str, kubeconfig: Path,
              wait_until_serving: bool = True) -> RunningEpp: ...


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

    def exit_status(self) -> str | None:
        code = self.process.returncode
        if code is None:
            return None
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return f"{how}; last output ({self.process.log_path}):\n{self.process.output_tail()}"

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL)."""
        self.process.stop()


class ProcessEpp:
    """Starts an EPP as a local process from a command template.

    ``tls`` says whether its ext_proc server speaks TLS (``None``: the gateway client finds out);
    ``health_service`` is the gRPC health service that turns SERVING once it is ready.

    Placeholders: ``{pool} {namespace} {grpc_port} {grpc_health_port} {metrics_port}
    {kubeconfig} {python} {bind_address}`` (``127.0.0.1``). ``KUBECONFIG`` is set as well, for EPPs
    that have no flag for it.
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
        return fill_command(self.template, placeholder_values(pool=pool, namespace=namespace, ports=ports,
                                                              kubeconfig=str(kubeconfig), python=sys.executable))

    def start(self, *, pool: str, namespace: str, kubeconfig: Path,
              wait_until_serving: bool = True) -> ProcessEppInstance:
        """Start the EPP and wait until its gRPC health reports SERVING (or, without
        ``wait_until_serving``, any status: an EPP whose pool does not exist yet is not ready) and
        its ext_proc port accepts connections.

        An early exit or a timeout raises ``ProcessStartError`` with the exit code and the tail
        of its output.
        """
        ports = EppPorts.reserve()
        argv = self.command(pool=pool, namespace=namespace, kubeconfig=kubeconfig, ports=ports)
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        process = ManagedProcess(f"{self.name}-{namespace}-{pool}", argv, env=env,
                                 log_dir=self.log_dir,
                                 ready=serving_check(ports, self.health_service, wait_until_serving),
                                 startup_timeout=self.startup_timeout)
        process.start()
        return ProcessEppInstance(process=process, grpc_target=f"127.0.0.1:{ports.grpc}", tls=self.tls)


LOOPBACK = "127.0.0.1"
"""What ``{bind_address}`` stands for where the harness reaches the EPP on loopback (process, host network)."""


def placeholder_values(*, pool: str, namespace: str, ports: EppPorts, kubeconfig: str,
                       python: str, bind_address: str = LOOPBACK) -> dict[str, object]:
    """What each placeholder of an EPP's command or argument template stands for in one start."""
    return {"pool": pool, "namespace": namespace, "grpc_port": ports.grpc, "grpc_health_port": ports.grpc_health,
            "metrics_port": ports.metrics, "kubeconfig": kubeconfig, "python": python,
            "bind_address": bind_address}


def serving_check(ports: EppPorts, health_service: str, wait_until_serving: bool) -> Callable[[], bool]:
    """The readiness check of an EPP on 127.0.0.1: its gRPC health answers (SERVING if
    ``wait_until_serving``) and its ext_proc port accepts connections."""
    return lambda: (health_answers(f"127.0.0.1:{ports.grpc_health}", health_service, wait_until_serving)
                    and _accepts_connections("127.0.0.1", ports.grpc))


def _accepts_connections(host: str, port: int) -> bool:
    """Whether ``host:port`` accepts a TCP connection: upstream EPPs may report SERVING seconds
    before their ext_proc port listens (GIE's creates its TLS key first)."""
    try:
        socket.create_connection((host, port), timeout=1.0).close()
    except OSError:
        return False
    return True


def health_answers(target: str, service: str, serving: bool) -> bool:
    """Whether the gRPC health server at ``target`` answers for ``service``, with SERVING if ``serving``."""
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1.0)
        except grpc.RpcError:
            return False
    return not serving or reply.status == health_pb2.HealthCheckResponse.SERVING
