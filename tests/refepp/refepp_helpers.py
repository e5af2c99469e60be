"""Helpers of the reference EPP's tests."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as extproc_grpc
from grpc_health.v1 import health_pb2_grpc

from eppconf.refepp.state import EndpointState


@dataclass
class Served:
    """A state and a plaintext channel to the ext_proc and health servicers that read it."""

    state: EndpointState
    channel: grpc.Channel

    @property
    def extproc(self) -> extproc_grpc.ExternalProcessorStub:
        return extproc_grpc.ExternalProcessorStub(self.channel)

    @property
    def health(self) -> health_pb2_grpc.HealthStub:
        return health_pb2_grpc.HealthStub(self.channel)
