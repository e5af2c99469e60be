"""``eppconf agent`` as a local process: HTTP to a fake through it, gRPC through CONNECT, clear errors.

What the in-cluster topology does through a port-forward to the agent pod, done on loopback:
``ControlClient`` with the agent as its proxy, the gateway client on a ``ConnectRelay``, forwarded
requests in CONNECT tunnels.
"""

from __future__ import annotations

import json
import socket
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness_epp import RoutingEpp, median_decision_seconds

from conformance.harness.gateway import GatewayClient
from conformance.harness.incluster.tunnel import ConnectRelay, find_kubectl
from eppconf.controlplane import ManagedProcess, reserve_port
from fakes import ControlClient, ControlError, FakeRuntime, TunnelError, open_tunnel

FAKE_HOST = "127.0.42.1"


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[tuple[str, int]]:
    port = reserve_port()

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    argv = [sys.executable, "-m", "eppconf", "agent", "--host", "127.0.0.1", "--port", str(port)]
    with ManagedProcess("agent", argv, log_dir=tmp_path, ready=listening):
        yield "127.0.0.1", port


def test_control_calls_go_through_the_agent(agent: tuple[str, int], runtime: FakeRuntime) -> None:
    port = runtime.serve(FAKE_HOST, 0)
    control = ControlClient(port.base_url, proxy=f"http://{agent[0]}:{agent[1]}")
    try:
        control.set_metrics(waiting=7)
        assert control.metrics()["overrides"]["waiting"] == 7
        port.set_metrics(running=3)
        assert control.metrics()["overrides"]["running"] == 3
        assert control.scrapes() == []
    finally:
        control.close()


def test_the_gateway_reaches_an_epp_through_a_relay(agent: tuple[str, int], epp: RoutingEpp,
                                                     runtime: FakeRuntime) -> None:
    picked = runtime.serve(FAKE_HOST, 0)
    epp.set_routed({f"{FAKE_HOST}:{picked.port}"})
    with ConnectRelay(agent, epp.target) as relay, GatewayClient(relay.address, proxy=agent, timeout=5) as gateway:
        assert gateway.tls is epp.tls
        assert gateway.decide("m").endpoint == f"{FAKE_HOST}:{picked.port}"
        delivery = gateway.send("fake-model")
        assert (delivery.status, delivery.served_by) == (200, f"{FAKE_HOST}:{picked.port}")
        [record] = picked.requests()
        assert record.headers["x-request-id"] == delivery.decision.request_id


def test_a_decision_through_the_agent_waits_for_no_delayed_ack(agent: tuple[str, int], epp: RoutingEpp) -> None:
    epp.set_routed({"127.0.0.9:8000"})
    with ConnectRelay(agent, epp.target) as relay, GatewayClient(relay.address, tls=epp.tls, timeout=5) as gateway:
        assert median_decision_seconds(gateway) < 0.04


def test_a_refused_connection_is_a_502_with_the_reason(agent: tuple[str, int]) -> None:
    closed = reserve_port(FAKE_HOST)
    control = ControlClient(f"http://{FAKE_HOST}:{closed}", proxy=f"http://{agent[0]}:{agent[1]}", timeout=5)
    refused = (f"CONNECT {FAKE_HOST}:{closed}: the proxy answered HTTP/1.1 502 Bad Gateway: the agent cannot"
               f" connect to {FAKE_HOST}:{closed}")
    with pytest.raises(ControlError, match=refused):
        control.requests()
    with pytest.raises(TunnelError, match=refused):
        open_tunnel(agent, f"{FAKE_HOST}:{closed}")
    with socket.create_connection(agent, timeout=5) as sock:  # absolute-form, as urllib's ProxyHandler sends
        sock.sendall(f"GET http://{FAKE_HOST}:{closed}/x HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 502 Bad Gateway\r\n")


@pytest.mark.parametrize(("request_line", "answer"), [
    ("CONNECT no-port HTTP/1.1", "target 'no-port' is not host:port"),
    ("CONNECT host:99999 HTTP/1.1", "target 'host:99999' is not host:port"),
    ("GET https://10.0.0.1:8000/x HTTP/1.1", "the agent relays http://host:port/... URLs and CONNECT only"),
    ("GET /origin-form HTTP/1.1", "the agent relays http://host:port/... URLs and CONNECT only"),
    ("NONSENSE", "malformed request line"),
])
def test_a_bad_target_is_a_400_saying_why(agent: tuple[str, int], request_line: str, answer: str) -> None:
    with socket.create_connection(agent, timeout=5) as sock:
        sock.sendall(f"{request_line}\r\nHost: x\r\n\r\n".encode())
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert answer in reply.decode()


def test_a_relay_whose_tunnel_is_refused_closes_the_connection(agent: tuple[str, int]) -> None:
    closed = reserve_port(FAKE_HOST)
    with ConnectRelay(agent, f"{FAKE_HOST}:{closed}") as relay:
        host, port = relay.address.split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            assert sock.recv(1) == b""


def test_kubectl_comes_from_the_cache_then_path_else_a_clear_error(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPPCONF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(FileNotFoundError, match=r"the in-cluster topology needs kubectl \(for port-forward\): none"
                                                r" under .*/cache/kind/kubernetes-\*/kubectl .* nor on PATH"):
        find_kubectl()
    on_path = tmp_path / "bin" / "kubectl"
    on_path.parent.mkdir()
    on_path.write_text("#!/bin/sh\n")
    on_path.chmod(0o755)
    assert find_kubectl() == str(on_path)
    for version in ("v1.35.4", "v1.36.3"):
        cached = tmp_path / "cache" / "kind" / f"kubernetes-{version}" / "kubectl"
        cached.parent.mkdir(parents=True)
        cached.write_text("#!/bin/sh\n")
    assert find_kubectl() == str(cached)


def test_absolute_form_requests_are_relayed_as_urllib_sends_them(agent: tuple[str, int],
                                                                 runtime: FakeRuntime) -> None:
    port = runtime.serve(FAKE_HOST, 0)
    port.set_metrics(waiting=5)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": f"http://{agent[0]}:{agent[1]}"}))
    with opener.open(f"{port.base_url}/_eppconf/metrics", timeout=5) as response:
        assert json.loads(response.read())["overrides"]["waiting"] == 5


def test_a_kept_alive_tunnel_the_port_closed_is_opened_again(agent: tuple[str, int], runtime: FakeRuntime) -> None:
    port = runtime.serve(FAKE_HOST, 0)
    control = ControlClient(port.base_url, proxy=f"http://{agent[0]}:{agent[1]}", timeout=5)
    try:
        control.set_metrics(waiting=1)
        assert control._tunnel is not None
        control._tunnel.sock.shutdown(socket.SHUT_RDWR)  # as a port closing an idle keep-alive connection
        control.set_metrics(waiting=2)
        assert port.requests() == [] and control.metrics()["overrides"]["waiting"] == 2
    finally:
        control.close()
