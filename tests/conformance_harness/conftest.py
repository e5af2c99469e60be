"""Fixtures for the harness tests: fake servers, the in-test EPP and a gateway client on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness_epp import RoutingEpp

from conformance.harness.gateway import GatewayClient
from fakes import FakeRuntime


@pytest.fixture
def runtime() -> Iterator[FakeRuntime]:
    with FakeRuntime() as fake_runtime:
        yield fake_runtime


@pytest.fixture(params=[False, True], ids=["plaintext", "tls"])
def epp(request: pytest.FixtureRequest) -> Iterator[RoutingEpp]:
    server = RoutingEpp(tls=request.param)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def gateway(epp: RoutingEpp) -> Iterator[GatewayClient]:
    with GatewayClient(epp.target, timeout=5.0) as client:
        yield client
