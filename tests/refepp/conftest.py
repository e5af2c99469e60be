"""Fixtures of the reference EPP's tests: its gRPC servicers on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as extproc_grpc
from grpc_health.v1 import health_pb2_grpc
from refepp_helpers import Served

from eppconf.refepp.extproc import ExtProcServicer
from eppconf.refepp.health import HealthServicer
from eppconf.refepp.state import EndpointState


@pytest.fixture
def served() -> Iterator[Served]:
    state = EndpointState(pool_name="pool", pool_namespace="ns")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    extproc_grpc.add_ExternalProcessorServicer_to_server(ExtProcServicer(state), server)
    health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(state), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Served(state, channel)
    finally:
        channel.close()
        server.stop(grace=None).wait()
