"""The gateway client against the in-test ext_proc server, in plaintext and over unverified TLS."""

from __future__ import annotations

import pytest
from harness_epp import RoutingEpp, median_decision_seconds

from conformance.harness.gateway import GatewayClient, GatewayError, split_endpoint
from eppconf.controlplane import reserve_port
from fakes import FakeRuntime


def test_auto_detects_the_transport(epp: RoutingEpp, gateway: GatewayClient) -> None:
    assert gateway.tls is epp.tls


def test_explicit_transport_skips_detection(epp: RoutingEpp) -> None:
    epp.set_routed({"127.0.0.9:8000"})
    with GatewayClient(epp.target, tls=epp.tls, timeout=5.0) as client:
        assert client.decide("m").endpoint == "127.0.0.9:8000"


def test_a_decision_waits_for_no_delayed_ack(epp: RoutingEpp, gateway: GatewayClient) -> None:
    # Nagle's algorithm on the TLS tunnel's sockets held small writes for the peer's 40 ms delayed ACK.
    epp.set_routed({"127.0.0.9:8000"})
    assert median_decision_seconds(gateway) < 0.04


def test_decision_reads_header_and_metadata(epp: RoutingEpp, gateway: GatewayClient) -> None:
    epp.set_routed({"127.0.0.9:8000"})
    decision = gateway.decide("m", headers={"X-Tenant": "a"})
    assert decision.status == 200
    assert decision.endpoints == decision.metadata_endpoints == ("127.0.0.9:8000",)
    assert decision.routed and decision.endpoint == "127.0.0.9:8000"
    assert decision.headers["x-tenant"] == "a"
    assert decision.headers["x-gateway-destination-endpoint"] == "127.0.0.9:8000"
    assert b'"model": "m"' in decision.body
    assert epp.state.hints == [None]


def test_subset_hint_travels_as_a_list(epp: RoutingEpp, gateway: GatewayClient) -> None:
    epp.set_routed({"127.0.0.9:8000", "127.0.0.9:8001"})
    decision = gateway.decide("m", subset=["127.0.0.9:8001"])
    assert decision.endpoint == "127.0.0.9:8001"
    assert epp.state.hints == [["127.0.0.9:8001"]]


def test_nothing_eligible_is_an_immediate_503(epp: RoutingEpp, gateway: GatewayClient) -> None:
    epp.set_routed({"127.0.0.9:8000"})
    for subset in ([], ["127.0.0.9:9999"]):
        decision = gateway.decide("m", subset=subset)
        assert decision.status == 503 and not decision.routed and decision.endpoint is None
        assert "immediate response 503" in decision.describe()


def test_disagreement_between_header_and_metadata_is_reported(epp: RoutingEpp, gateway: GatewayClient) -> None:
    epp.set_routed({"127.0.0.9:8000"})
    epp.state.metadata_override = "127.0.0.9:7777"
    decision = gateway.decide("m")
    assert not decision.agree and not decision.routed
    assert decision.metadata_endpoints == ("127.0.0.9:7777",)
    assert "disagrees" in decision.describe()
    with pytest.raises(GatewayError, match="disagrees"):
        gateway.send("m")


def test_send_forwards_to_the_picked_fake(epp: RoutingEpp, gateway: GatewayClient, runtime: FakeRuntime) -> None:
    picked = runtime.serve("127.0.41.1", 0)
    other = runtime.serve("127.0.41.1", 0)
    epp.set_routed({f"127.0.41.1:{picked.port}"})
    delivery = gateway.send("fake-model", subset=[f"127.0.41.1:{picked.port}"], headers={"x-tenant": "a"})
    assert delivery.status == 200
    assert delivery.endpoint == delivery.served_by == f"127.0.41.1:{picked.port}"
    assert b"text_completion" in delivery.body
    [record] = picked.requests()
    assert record.headers["x-request-id"] == delivery.decision.request_id
    assert record.headers["x-gateway-destination-endpoint"] == delivery.endpoint
    assert record.headers["x-tenant"] == "a"
    assert other.requests() == []


def test_send_reports_the_immediate_response(epp: RoutingEpp, gateway: GatewayClient) -> None:
    delivery = gateway.send("m", subset=[])
    assert (delivery.status, delivery.endpoint, delivery.served_by) == (503, None, None)


def test_unreachable_epp_is_one_clear_error() -> None:
    port = reserve_port()
    with pytest.raises(GatewayError, match=f"cannot reach the EPP at 127.0.0.1:{port}"):
        GatewayClient(f"127.0.0.1:{port}", timeout=0.3)


def test_epp_gone_mid_session_is_a_gateway_error() -> None:
    server = RoutingEpp()
    server.start()
    client = GatewayClient(server.target, tls=False, timeout=0.5)
    try:
        server.stop()
        with pytest.raises(GatewayError, match=f"EPP at {server.target} failed .* DEADLINE_EXCEEDED"):
            client.decide("m")
    finally:
        client.close()


@pytest.mark.parametrize("text", ["10.0.0.1", ":80", "host:port", ""])
def test_split_endpoint_rejects_what_is_not_ip_port(text: str) -> None:
    with pytest.raises(ValueError, match="is not ip:port"):
        split_endpoint(text)


def test_split_endpoint_reads_ipv4_and_ipv6() -> None:
    assert split_endpoint("10.0.0.1:8000") == ("10.0.0.1", 8000)
    assert split_endpoint("[fd00::1]:8000") == ("fd00::1", 8000)
