"""The endpoint observer against fake servers and the in-test EPP, whose routed set the test controls."""

from __future__ import annotations

import threading
import time
import urllib.request

import pytest
from harness_epp import RoutingEpp

from conformance.harness.gateway import GatewayClient
from conformance.harness.observer import EndpointObserver, ObserverSettings, ServedPort
from fakes import FakePort, FakeRuntime

FAST = ObserverSettings(settle=0.3, poll_interval=0.02)


@pytest.fixture
def served(runtime: FakeRuntime) -> list[FakePort]:
    """Two ports on one IP and one on another."""
    return [runtime.serve("127.0.42.1", 0), runtime.serve("127.0.42.1", 0), runtime.serve("127.0.42.2", 0)]


def endpoints(ports: list[FakePort]) -> set[str]:
    return {f"{port.address}:{port.port}" for port in ports}


@pytest.fixture
def observer(gateway: GatewayClient, served: list[FakePort]) -> EndpointObserver:
    return EndpointObserver(gateway, lambda: [ServedPort(p.address, p.port, p) for p in served], settings=FAST)


@pytest.mark.parametrize("ip_only", [False, True], ids=["exact-hint", "ip-only-hint"])
def test_observes_exactly_the_routed_subset(epp: RoutingEpp, observer: EndpointObserver, served: list[FakePort],
                                            ip_only: bool) -> None:
    epp.state.ip_only = ip_only
    routed = endpoints([served[0], served[2]])
    epp.route(routed)
    assert observer.observed() == routed
    observation = observer.last_observation
    assert observation is not None
    unrouted = f"{served[1].address}:{served[1].port}"
    [probe] = [p for p in observation.probes if p.candidate == unrouted]
    assert probe.picked == ((f"{served[0].address}:{served[0].port}",) if ip_only else ())
    assert {s.endpoint for s in observation.scrapes if s.count} == routed


def test_overrides_are_cleared_after_an_observation(epp: RoutingEpp, observer: EndpointObserver,
                                                    served: list[FakePort]) -> None:
    epp.route(endpoints(served))
    observer.observed()
    for port in served:
        text = _metrics(port)
        assert 'vllm:num_requests_waiting{model_name="fake-model"} 0\n' in text
        assert 'vllm:kv_cache_usage_perc{model_name="fake-model"} 0\n' in text


def test_steering_picks_the_attractive_port_even_when_it_was_busy(epp: RoutingEpp, observer: EndpointObserver,
                                                                  served: list[FakePort]) -> None:
    epp.state.ip_only = True
    epp.route(endpoints(served[:2]))
    served[1].set_metrics(waiting=5)  # the observer must override this, not be fooled by it
    assert observer.observed() == endpoints(served[:2])


def test_nothing_routed_is_an_empty_set(epp: RoutingEpp, observer: EndpointObserver) -> None:
    assert observer.observed() == set()
    assert all("503" in p.outcome for p in observer.last_observation.probes)  # type: ignore[union-attr]


def test_a_failed_stream_is_no_route(epp: RoutingEpp, observer: EndpointObserver, served: list[FakePort]) -> None:
    epp.state.fail_when_none_eligible = True
    epp.route(endpoints(served[:1]))
    assert observer.observed() == endpoints(served[:1])
    outcomes = [p.outcome for p in observer.last_observation.probes]  # type: ignore[union-attr]
    assert sum("no decision" in outcome and "INTERNAL: no endpoints available" in outcome
               for outcome in outcomes) == 2, outcomes


def test_eventually_waits_for_convergence(epp: RoutingEpp, observer: EndpointObserver, served: list[FakePort]) -> None:
    epp.route(endpoints(served[:1]))
    change = threading.Timer(0.3, epp.set_routed, args=(endpoints(served),))
    change.start()
    try:
        observation = observer.eventually(endpoints(served), timeout=5.0)
    finally:
        change.cancel()
        change.join()
    assert observation.endpoints == endpoints(served)


def test_eventually_fails_with_the_evidence(epp: RoutingEpp, observer: EndpointObserver,
                                            served: list[FakePort]) -> None:
    epp.route(endpoints(served[:2]))
    expected = endpoints([served[0], served[2]])
    with pytest.raises(AssertionError) as failure:
        observer.eventually(expected, timeout=0.3)
    message = str(failure.value)
    first, second, third = (f"{p.address}:{p.port}" for p in served)
    assert "never matched" in message
    assert f"expected:   [{', '.join(sorted([first, third]))}]" in message
    assert f"observed:   [{', '.join(sorted([first, second]))}]" in message
    assert f"missing:    [{third}]" in message
    assert f"unexpected: [{second}]" in message
    assert f"hint [{third}] -> immediate response 503" in message
    assert f"{first}: " in message and "scrape(s)" in message and f"{third}: not scraped" in message
    assert "timeline (seconds from start):" in message and "+  0." in message


def test_eventually_fails_when_the_set_does_not_hold(epp: RoutingEpp, gateway: GatewayClient,
                                                     served: list[FakePort]) -> None:
    flapping = _Flapper(epp, endpoints(served[:1]), endpoints(served[:2]))
    settings = ObserverSettings(settle=2.0, poll_interval=0.02)
    observer = EndpointObserver(gateway, lambda: [ServedPort(p.address, p.port, p) for p in served], settings=settings)
    with flapping, pytest.raises(AssertionError, match="changed within the 2s settle window") as failure:
        observer.eventually(endpoints(served[:1]), timeout=0.5)
    assert str(failure.value).count("\n  +") >= 2  # at least two entries in the timeline


def test_stays_passes_when_every_observation_matches(epp: RoutingEpp, observer: EndpointObserver,
                                                    served: list[FakePort]) -> None:
    epp.route(endpoints(served))
    done: list[bool] = []
    start = time.monotonic()
    observation = observer.stays(endpoints(served), duration=0.5, action=lambda: done.append(True))
    assert done == [True] and observation.endpoints == endpoints(served)
    assert time.monotonic() - start >= 0.5


def test_stays_fails_on_one_observation_without_an_endpoint(epp: RoutingEpp, observer: EndpointObserver,
                                                           served: list[FakePort]) -> None:
    epp.route(endpoints(served))
    gap = threading.Timer(0.4, epp.set_routed, args=(endpoints(served),))

    def change() -> None:  # an EPP that drops an endpoint for a moment after the change
        epp.set_routed(endpoints(served[1:]))
        gap.start()

    try:
        with pytest.raises(AssertionError) as failure:
            observer.stays(endpoints(served), duration=3.0, action=change)
    finally:
        gap.cancel()
        gap.join()
    message = str(failure.value)
    first = f"{served[0].address}:{served[0].port}"
    assert "did not stay as they were" in message and "after the change (made at +" in message
    assert f"missing:    [{first}]" in message and "timeline (seconds from start):" in message


def test_stays_fails_when_the_set_differs_before_the_change(epp: RoutingEpp, observer: EndpointObserver,
                                                            served: list[FakePort]) -> None:
    epp.route(endpoints(served[:1]))
    called: list[bool] = []
    with pytest.raises(AssertionError, match="the observation before the change differs"):
        observer.stays(endpoints(served), duration=0.2, action=lambda: called.append(True))
    assert called == []


def test_confirm_routing_checks_the_request_logs(epp: RoutingEpp, observer: EndpointObserver,
                                                 served: list[FakePort]) -> None:
    epp.state.ip_only = True
    epp.route(endpoints(served))
    target = f"{served[1].address}:{served[1].port}"
    delivery = observer.confirm_routing(target)
    assert delivery.served_by == target
    assert len(served[1].requests()) == 1 and served[0].requests() == []


def test_confirm_routing_fails_when_another_port_serves(epp: RoutingEpp, observer: EndpointObserver,
                                                        served: list[FakePort]) -> None:
    epp.state.ip_only = True
    epp.route(endpoints(served[:1]))
    target = f"{served[1].address}:{served[1].port}"
    with pytest.raises(AssertionError, match=f"request steered to {target}: the EPP picked "):
        observer.confirm_routing(target)


def test_confirm_routing_needs_a_served_port(observer: EndpointObserver) -> None:
    with pytest.raises(AssertionError, match="no fake server serves it"):
        observer.confirm_routing("127.0.42.9:1")


def _metrics(port: FakePort) -> str:
    with urllib.request.urlopen(f"{port.base_url}/metrics", timeout=5) as response:
        return response.read().decode()


class _Flapper:
    """Switches the EPP's routed set between two values every 0.6 s while active."""

    def __init__(self, epp: RoutingEpp, first: set[str], second: set[str]) -> None:
        self._epp, self._sets = epp, (first, second)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        index = 0
        while not self._stop.wait(0.6):
            index ^= 1
            self._epp.set_routed(self._sets[index])

    def __enter__(self) -> _Flapper:
        self._epp.set_routed(self._sets[0])
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_an_observation_is_fast(epp: RoutingEpp, gateway: GatewayClient, runtime: FakeRuntime) -> None:
    ports = [runtime.serve(f"127.0.43.{i}", 0) for i in (1, 2) for _ in range(5)]
    epp.route(endpoints(ports))
    observer = EndpointObserver(gateway, lambda: [ServedPort(p.address, p.port, p) for p in ports], settings=FAST)
    started = time.monotonic()
    assert observer.observed() == endpoints(ports)
    assert time.monotonic() - started < 3.0
