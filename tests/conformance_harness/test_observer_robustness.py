"""The observer keeps going through broken ext_proc streams, and stops at once when the EPP exits."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness_epp import RoutingEpp

from conformance.harness.epp import EppExited, ProcessEpp, ProcessEppInstance, check_running
from conformance.harness.gateway import GatewayClient
from conformance.harness.observer import EndpointObserver, ObserverSettings, ServedPort
from fakes import FakePort, FakeRuntime

FAST = ObserverSettings(settle=0.3, poll_interval=0.02)
EXITING_EPP = Path(__file__).with_name("exiting_epp.py")


def endpoints(ports: list[FakePort]) -> set[str]:
    return {f"{port.address}:{port.port}" for port in ports}


def observer_of(gateway: GatewayClient, ports: list[FakePort],
                check: Callable[[], None] | None = None) -> EndpointObserver:
    return EndpointObserver(gateway, lambda: [ServedPort(p.address, p.port, p) for p in ports], settings=FAST,
                            check=check)


@pytest.fixture
def served(runtime: FakeRuntime) -> list[FakePort]:
    return [runtime.serve("127.0.44.1", 0), runtime.serve("127.0.44.2", 0)]


def test_a_stream_that_breaks_once_is_retried(epp: RoutingEpp, gateway: GatewayClient,
                                              served: list[FakePort]) -> None:
    epp.route(endpoints(served))
    epp.state.broken_streams = 1
    observation = observer_of(gateway, served).eventually(endpoints(served), timeout=20.0)
    assert observation.endpoints == endpoints(served)
    assert epp.state.broken_streams == 0


def test_a_stream_that_keeps_breaking_is_reported_with_its_evidence(epp: RoutingEpp, gateway: GatewayClient,
                                                                    served: list[FakePort]) -> None:
    epp.route(endpoints(served))
    epp.state.broken_streams = 10**6
    started = time.monotonic()
    with pytest.raises(AssertionError) as failure:
        observer_of(gateway, served).eventually(endpoints(served), timeout=1.0)
    message = str(failure.value)
    assert time.monotonic() - started >= 1.0, "retried until the convergence timeout"
    assert "never matched" in message
    assert "-> no decision: EPP at" in message and "UNAVAILABLE: stream broken by the test" in message
    assert "[] (2 probe stream(s) failed)" in message


@pytest.fixture
def exiting_epp(tmp_path: Path) -> Iterator[ProcessEppInstance]:
    """A process EPP that serves for 3 s, then exits with code 3."""
    template = (f"{{python}} {EXITING_EPP} --grpc-port {{grpc_port}} --grpc-health-port {{grpc_health_port}}"
                " --serve-seconds 3 --exit-code 3")
    instance = ProcessEpp(template, log_dir=tmp_path, tls=False).start(
        pool="pool", namespace="ns", kubeconfig=tmp_path / "kubeconfig")
    try:
        yield instance
    finally:
        instance.stop()


def test_an_epp_that_exits_fails_the_observation_with_its_exit_code(exiting_epp: ProcessEppInstance,
                                                                     runtime: FakeRuntime) -> None:
    ports = [runtime.serve("127.0.44.3", 0)]
    with GatewayClient(exiting_epp.grpc_target, tls=False, timeout=5.0) as gateway:
        observer = observer_of(gateway, ports, check=lambda: check_running(exiting_epp))
        started = time.monotonic()
        with pytest.raises(EppExited) as failure:
            observer.eventually(endpoints(ports), timeout=60.0)
    assert time.monotonic() - started < 30.0, "an exited EPP ends the wait at once"
    message = str(failure.value)
    assert message.startswith("the EPP under test exited with code 3; last output (")
    assert "exiting with code 3 on purpose" in message


def test_a_killed_epp_names_the_signal(tmp_path: Path) -> None:
    template = (f"{{python}} {EXITING_EPP} --grpc-port {{grpc_port}} --grpc-health-port {{grpc_health_port}}"
                " --serve-seconds 60 --exit-code 0")
    instance = ProcessEpp(template, log_dir=tmp_path, tls=False).start(
        pool="pool", namespace="ns", kubeconfig=tmp_path / "kubeconfig")
    try:
        check_running(instance)
        assert instance.process.pid is not None
        os.kill(instance.process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10.0
        while instance.exit_status() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(EppExited, match="the EPP under test was killed by signal 9; last output"):
            check_running(instance)
    finally:
        instance.stop()
