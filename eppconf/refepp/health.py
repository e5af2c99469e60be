"""gRPC health of the reference EPP, answering like GIE v1.5.0 without leader election.

Services: ``liveness`` (always serving), ``readiness``, ``""`` and
``envoy.service.ext_proc.v3.ExternalProcessor`` (serving once the pool has synced); any other
name gets ``SERVICE_UNKNOWN`` as a response, not an error.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from eppconf.refepp.state import EndpointState

LIVENESS = "liveness"
READINESS = "readiness"
EXT_PROC = "envoy.service.ext_proc.v3.ExternalProcessor"
_Status = health_pb2.HealthCheckResponse


class HealthServicer(health_pb2_grpc.HealthServicer):
    """``grpc.health.v1.Health`` backed by the EPP's sync state."""

    def __init__(self, state: EndpointState) -> None:
        self._state = state

    def status(self, service: str) -> int:
        """The serving status of ``service``."""
        if service == LIVENESS:
            return _Status.SERVING
        if service in (READINESS, EXT_PROC, ""):
            return _Status.SERVING if self._state.synced else _Status.NOT_SERVING
        return _Status.SERVICE_UNKNOWN

    def Check(self, request: health_pb2.HealthCheckRequest,  # noqa: N802 (gRPC name)
              context: grpc.ServicerContext) -> health_pb2.HealthCheckResponse:
        return _Status(status=self.status(request.service))

    def List(self, request: health_pb2.HealthListRequest,  # noqa: N802 (gRPC name)
             context: grpc.ServicerContext) -> health_pb2.HealthListResponse:
        return health_pb2.HealthListResponse(statuses={EXT_PROC: _Status(status=self.status(EXT_PROC))})
