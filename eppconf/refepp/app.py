"""Wires the reference EPP together and runs it until SIGTERM or SIGINT.

Parts, each stopped in reverse order on shutdown: the Kubernetes watches feeding the datastore,
the metrics scraper, the ext_proc gRPC server (TLS with a self-signed certificate unless
``secure_serving`` is off), the plaintext gRPC health server and the metrics/debug HTTP server.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass, field
from types import FrameType

import grpc
import kubernetes
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as extproc_grpc
from grpc_health.v1 import health_pb2_grpc

from eppconf.datastore import Datastore
from eppconf.refepp.extproc import ExtProcServicer
from eppconf.refepp.faults import FaultChain
from eppconf.refepp.health import HealthServicer
from eppconf.refepp.metrics_http import MetricsServer
from eppconf.refepp.scraper import Scraper
from eppconf.refepp.state import EndpointState
from eppconf.refepp.tls import self_signed_credentials
from eppconf.refepp.watch import Reconciler, ResourceWatch, api_client, start_watches

log = logging.getLogger(__name__)

#: Concurrent ext_proc streams (each holds a worker thread for the life of one HTTP request).
GRPC_WORKERS = 64


@dataclass(frozen=True)
class Options:
    """Everything the reference EPP is started with (see ``eppconf reference-epp --help``)."""

    pool_name: str
    pool_namespace: str
    pool_group: str = "inference.networking.k8s.io"
    grpc_port: int = 9002
    grpc_health_port: int = 9003
    metrics_port: int = 9090
    bind_address: str = "127.0.0.1"
    secure_serving: bool = True
    refresh_metrics_interval: float = 0.05
    kubeconfig: str | None = None
    faults: Sequence[str] = field(default_factory=tuple)


class StartError(RuntimeError):
    """A part of the EPP could not start (a port in use, a bad kubeconfig)."""


def _grpc_server(address: str, port: int, *, credentials: grpc.ServerCredentials | None,
                 what: str) -> grpc.Server:
    # Without SO_REUSEPORT a port held by another process is an error, not a silently shared port.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=GRPC_WORKERS, thread_name_prefix=what),
                         options=[("grpc.so_reuseport", 0)])
    target = f"{address}:{port}" if ":" not in address else f"[{address}]:{port}"
    try:
        bound = (server.add_secure_port(target, credentials) if credentials is not None
                 else server.add_insecure_port(target))
    except RuntimeError as error:
        raise StartError(f"cannot listen for {what} on {target}: {error}") from None
    if not bound:
        raise StartError(f"cannot listen for {what} on {target}: port in use or address not available")
    return server


class ReferenceEPP:
    """The running reference EPP; ``start()`` then ``stop()``, or use it as a context manager."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.state = EndpointState(pool_name=options.pool_name, pool_namespace=options.pool_namespace)
        self._faults = FaultChain(options.faults, pool_name=options.pool_name)
        self._stopping = threading.Event()
        self._watches: list[ResourceWatch] = []
        self._servers: list[grpc.Server] = []
        self._metrics: MetricsServer | None = None
        self._scraper: Scraper | None = None
        self._client: kubernetes.client.ApiClient | None = None

    def start(self) -> ReferenceEPP:
        """Start every part; on failure, whatever started is stopped again.

        The ports are bound first (one in use fails the start at once), the servers answer last:
        once its health server answers, the EPP is already listing its pool and pods.
        """
        try:
            self._bind_servers()
            self._scraper = Scraper(self.state, interval=self.options.refresh_metrics_interval)
            self._scraper.start()
            self._start_watches()
            self._serve()
        except BaseException:
            self.stop()
            raise
        # What exists by now (modules, the API client, protobuf descriptors) lives as long as the
        # EPP; frozen, it is no longer traversed by full collections, whose pauses otherwise reached
        # hundreds of milliseconds in the middle of ext_proc decisions.
        gc.freeze()
        return self

    def _bind_servers(self) -> None:
        options = self.options
        credentials = self_signed_credentials(["localhost", options.bind_address]) if options.secure_serving else None
        extproc = _grpc_server(options.bind_address, options.grpc_port, credentials=credentials, what="ext_proc")
        extproc_grpc.add_ExternalProcessorServicer_to_server(ExtProcServicer(self.state), extproc)
        health = _grpc_server(options.bind_address, options.grpc_health_port, credentials=None, what="gRPC health")
        health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(self.state), health)
        self._servers += [extproc, health]
        try:
            self._metrics = MetricsServer(self.state, host=options.bind_address, port=options.metrics_port)
        except OSError as error:
            raise StartError(f"cannot listen for metrics on {options.bind_address}:{options.metrics_port}: "
                             f"{error.strerror or error}") from None

    def _serve(self) -> None:
        for server in self._servers:
            server.start()
        assert self._metrics is not None
        self._metrics.start()

    def _start_watches(self) -> None:
        options = self.options
        try:
            self._client = api_client(options.kubeconfig)
        except Exception as error:  # the kubernetes config loaders raise many unrelated types
            source = options.kubeconfig or "the in-cluster service account"
            raise StartError(f"cannot load Kubernetes configuration from {source}: {error}") from None
        reconciler = Reconciler(Datastore(), self.state, faults=self._faults)
        self._watches = start_watches(self._client, reconciler, pool_name=options.pool_name,
                                      pool_namespace=options.pool_namespace, pool_group=options.pool_group,
                                      stopping=self._stopping)

    def stop(self) -> None:
        """Stop every part that was started, in reverse order."""
        self._stopping.set()
        for watch in self._watches:
            watch.stop()
        if self._scraper is not None:
            self._scraper.stop()
        for server in reversed(self._servers):
            server.stop(grace=1).wait()
        self._servers.clear()
        if self._metrics is not None:
            self._metrics.stop()
            self._metrics = None
        if self._client is not None:
            self._client.close()
            self._client = None
        gc.unfreeze()

    def __enter__(self) -> ReferenceEPP:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def serve(options: Options) -> int:
    """Run the EPP until SIGTERM or SIGINT; 0 after a clean shutdown, 1 if it could not start."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with ReferenceEPP(options):
            log.info("reference EPP for pool %s/%s serving ext_proc on %s:%d (%s), health on %d, metrics on %d",
                     options.pool_namespace, options.pool_name, options.bind_address, options.grpc_port,
                     "TLS" if options.secure_serving else "plaintext", options.grpc_health_port, options.metrics_port)
            while not stop.wait(0.5):
                pass
    except StartError as error:
        log.error("%s", error)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
