"""The endpoint observer: which ``ip:port`` an EPP routes to, found from protocol evidence only.

Two kinds of evidence, both gathered through the fake model servers and the gateway client:

* scrape logs: which served ports the EPP fetches ``/metrics`` from;
* steered routing probes: for each candidate port, make it the most attractive port at its IP
  (nothing waiting, empty KV cache) and the other ports at that IP unattractive, wait until the EPP
  has scraped the new values, then ask for a decision with the subset hint ``[ip:port]``. Whatever
  the EPP picks is routed (an EPP that matches the hint on the IP only, like GIE's, may pick another
  port at that IP, which is evidence for that port); a 503 means nothing eligible.

Probes of ports at different IPs share one metrics override and one wait, so an observation costs
about one scrape round per port of the busiest IP.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from conformance.harness.gateway import Delivery, GatewayClient
from fakes import FakeControl


@dataclass(frozen=True)
class ServedPort:
    """A port a fake model server serves, and the control to steer and inspect it."""

    address: str
    port: int
    control: FakeControl

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{self.port}"


@dataclass(frozen=True)
class ObserverSettings:
    """Knobs of the endpoint observer; every default suits an EPP scraping every 50 ms."""

    model: str = "fake-model"
    """Model named in probe requests (default ``fake-model``, what fake servers serve)."""
    probe_timeout: float = 2.0
    """Longest wait, in seconds, for the EPP to scrape overridden metrics before probing (default 2)."""
    scrape_window: float = 1.0
    """A port scraped within this many seconds before an observation counts as scraped (default 1)."""
    unscraped_wait: float = 0.2
    """How long a port without recent scrapes is watched for one after an override (default 0.2 s)."""
    scrapes_after_override: int = 2
    """Scrapes of each scraped port to wait for after an override; the second proves the EPP has
    processed the first (default 2)."""
    settle: float = 1.0
    """How long, in seconds, the observed set must stay equal to the expected one (default 1)."""
    poll_interval: float = 0.1
    """Pause, in seconds, between two observations in ``eventually`` (default 0.1)."""
    busy_waiting: float = 50.0
    """``num_requests_waiting`` reported by ports made unattractive (default 50; KV cache full)."""


@dataclass(frozen=True)
class ScrapeEvidence:
    """Scrapes of one served port in the scrape window before an observation."""

    endpoint: str
    count: int
    last_age: float | None
    clients: tuple[str, ...]
    interval: float | None = None
    """Median gap between those scrapes (``None`` with fewer than two)."""

    def patience(self, *, floor: float) -> float:
        """How long after a metrics change this port is worth waiting for: three of its scrape
        intervals (with a single scrape, that scrape's age), never less than ``floor``; 0 when
        unscraped."""
        if not self.count:
            return 0.0
        return max(floor, 3 * self.interval) if self.interval is not None else max(floor, self.last_age or 0.0)

    def describe(self) -> str:
        if not self.count:
            return f"{self.endpoint}: not scraped"
        return (f"{self.endpoint}: {self.count} scrape(s), last {self.last_age:.2f}s ago, "
                f"from {', '.join(self.clients)}")


@dataclass(frozen=True)
class Probe:
    """One steered routing probe: the hinted candidate and what the EPP answered."""

    candidate: str
    outcome: str
    picked: tuple[str, ...] = ()


@dataclass(frozen=True)
class Observation:
    """The endpoints found in one observation, with the evidence."""

    endpoints: frozenset[str]
    probes: tuple[Probe, ...] = ()
    scrapes: tuple[ScrapeEvidence, ...] = ()
    notes: tuple[str, ...] = ()

    def report(self) -> str:
        """Probes, scrape evidence and notes, one per line."""
        lines = ["probes:"] + [f"  hint [{p.candidate}] -> {p.outcome}" for p in self.probes]
        lines += ["scrapes:"] + [f"  {s.describe()}" for s in self.scrapes]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


@dataclass
class _Timeline:
    """Changes of the observed set, with times relative to the start of ``eventually``."""

    start: float = field(default_factory=time.monotonic)
    changes: list[tuple[float, frozenset[str]]] = field(default_factory=list)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def record(self, endpoints: frozenset[str]) -> None:
        if not self.changes or self.changes[-1][1] != endpoints:
            self.changes.append((self.elapsed(), endpoints))

    def describe(self) -> str:
        return "\n".join(f"  +{t:6.2f}s {_show(endpoints)}" for t, endpoints in self.changes)


class EndpointObserver:
    """Finds the endpoints an EPP routes to, through ``gateway`` and the fakes of ``served_ports``.

    ``served_ports`` is called at every observation: the ports that fake servers serve now, the
    candidates probed.
    """

    def __init__(self, gateway: GatewayClient, served_ports: Callable[[], Iterable[ServedPort]], *,
                 settings: ObserverSettings | None = None) -> None:
        self.gateway = gateway
        self.served_ports = served_ports
        self.settings = settings or ObserverSettings()
        self.last_observation: Observation | None = None

    def observed(self) -> set[str]:
        """The ``ip:port`` set the EPP routes to now; details in ``last_observation``."""
        self.last_observation = self.observe()
        return set(self.last_observation.endpoints)

    def observe(self) -> Observation:
        """One observation: scrape evidence, then one steered probe per served port."""
        ports = list(self.served_ports())
        groups = _by_address(ports)
        scrapes = tuple(self._scrape_evidence(port) for port in ports)
        patience = {s.endpoint: s.patience(floor=self.settings.unscraped_wait) for s in scrapes}
        found: set[str] = set()
        probes: list[Probe] = []
        notes: list[str] = []
        try:
            for round_index in range(max((len(group) for group in groups), default=0)):
                steered = [group for group in groups if round_index < len(group)]
                since = time.time()
                for group in steered:
                    self._steer(group, group[round_index])
                notes += self._wait_for_scrapes([p for group in steered for p in group], since, patience)
                for group in steered:
                    probe = self._probe(group[round_index])
                    probes.append(probe)
                    found.update(probe.picked)
        finally:
            for port in ports:
                port.control.clear_metrics()
        return Observation(frozenset(found), tuple(probes), scrapes, tuple(notes))

    def eventually(self, expected: Iterable[str], *, timeout: float) -> Observation:
        """Wait up to ``timeout`` seconds until the observed set equals ``expected``, then check that it
        stays so for the settle window; ``AssertionError`` with the evidence and timeline otherwise."""
        wanted = frozenset(expected)
        timeline = _Timeline()
        matched_at: float | None = None
        while True:
            observation = self.observe()
            self.last_observation = observation
            timeline.record(observation.endpoints)
            now = timeline.elapsed()
            if observation.endpoints == wanted:
                matched_at = now if matched_at is None else matched_at
                if now - matched_at >= self.settings.settle:
                    return observation
            else:
                if matched_at is not None and now > timeout:
                    raise AssertionError(self._failure(wanted, observation, timeline, timeout,
                                                       f"matched at +{matched_at:.2f}s but changed within the "
                                                       f"{self.settings.settle:g}s settle window"))
                matched_at = None
                if now > timeout:
                    raise AssertionError(self._failure(wanted, observation, timeline, timeout,
                                                       "never matched"))
            time.sleep(self.settings.poll_interval)

    def confirm_routing(self, endpoint: str) -> Delivery:
        """Send a request steered to ``endpoint`` through the gateway and check, in the fakes' request
        logs, that exactly that port served it; ``AssertionError`` otherwise."""
        ports = list(self.served_ports())
        target = next((port for port in ports if port.endpoint == endpoint), None)
        if target is None:
            raise AssertionError(f"cannot confirm routing to {endpoint}: no fake server serves it "
                                 f"(served: {_show(p.endpoint for p in ports)})")
        group = next(group for group in _by_address(ports) if target in group)
        patience = {port.endpoint: self._scrape_evidence(port).patience(floor=self.settings.unscraped_wait)
                    for port in group}
        try:
            since = time.time()
            self._steer(group, target)
            self._wait_for_scrapes(group, since, patience)
            delivery = self.gateway.send(self.settings.model, subset=[endpoint])
        finally:
            for port in group:
                port.control.clear_metrics()
        request_id = delivery.decision.request_id
        served = [port.endpoint for port in ports
                  if any(r.headers.get("x-request-id") == request_id for r in port.control.requests())]
        if delivery.endpoint != endpoint or served != [endpoint] or delivery.status != 200:
            raise AssertionError(
                f"request steered to {endpoint}: the EPP {delivery.decision.describe()}, it was forwarded to "
                f"{delivery.endpoint}, answered {delivery.status}, and the request logs show it served by "
                f"{_show(served)}")
        return delivery

    # evidence ------------------------------------------------------------------------------------
    def _scrape_evidence(self, port: ServedPort) -> ScrapeEvidence:
        now = time.time()
        records = port.control.scrapes(since=now - self.settings.scrape_window)
        last_age = max(0.0, now - records[-1].time) if records else None
        gaps = [later.time - earlier.time for earlier, later in zip(records, records[1:])]
        return ScrapeEvidence(port.endpoint, len(records), last_age, tuple(sorted({r.client for r in records})),
                              statistics.median(gaps) if gaps else None)

    def _steer(self, group: list[ServedPort], favourite: ServedPort) -> None:
        """Make ``favourite`` the most attractive port at its IP and the others unattractive."""
        for port in group:
            if port is favourite:
                port.control.set_metrics(waiting=0, running=0, kv_cache_usage=0.0)
            else:
                port.control.set_metrics(waiting=self.settings.busy_waiting, running=self.settings.busy_waiting,
                                         kv_cache_usage=1.0)

    def _wait_for_scrapes(self, ports: list[ServedPort], since: float, patience: dict[str, float]) -> list[str]:
        """Wait until the EPP has scraped each port it scrapes enough times after ``since``.

        A port is waited for while it shows scrapes after ``since``, or for its ``patience`` (a few
        of its recent scrape intervals: a port the EPP just dropped stops costing time quickly), or
        for ``unscraped_wait``. Returns a note naming the ports still short of scrapes at the probe
        timeout.
        """
        settings = self.settings
        while True:
            elapsed = time.time() - since
            pending = []
            for port in ports:
                count = len(port.control.scrapes(since=since))
                waited_for = max(settings.unscraped_wait, patience.get(port.endpoint, 0.0))
                watched = count > 0 or elapsed < waited_for
                if watched and count < settings.scrapes_after_override:
                    pending.append(port.endpoint)
            if not pending:
                return []
            if elapsed >= settings.probe_timeout:
                return [f"after {settings.probe_timeout:g}s the EPP had not scraped {_show(pending)} "
                        f"{settings.scrapes_after_override} time(s) since the metrics changed"]
            time.sleep(0.01)

    def _probe(self, candidate: ServedPort) -> Probe:
        decision = self.gateway.decide(self.settings.model, subset=[candidate.endpoint])
        return Probe(candidate.endpoint, decision.describe(), decision.endpoints if decision.routed else ())

    def _failure(self, wanted: frozenset[str], observation: Observation, timeline: _Timeline, timeout: float,
                 why: str) -> str:
        got = observation.endpoints
        return "\n".join([
            f"the EPP's endpoints did not converge within {timeout:g}s "
            f"(settle window {self.settings.settle:g}s): {why}",
            f"expected:   {_show(wanted)}",
            f"observed:   {_show(got)}",
            f"missing:    {_show(wanted - got)}",
            f"unexpected: {_show(got - wanted)}",
            "last observation:",
            observation.report(),
            "timeline (seconds from start):",
            timeline.describe(),
        ])


def _by_address(ports: list[ServedPort]) -> list[list[ServedPort]]:
    groups: dict[str, list[ServedPort]] = {}
    for port in ports:
        groups.setdefault(port.address, []).append(port)
    return list(groups.values())


def _show(endpoints: Iterable[str]) -> str:
    return "[" + ", ".join(sorted(endpoints)) + "]"
