"""The endpoint observer: which ``ip:port`` an EPP routes to, found from protocol evidence only.

Two kinds of evidence, both gathered through the fake model servers and the gateway client:

* scrape logs: which served ports the EPP fetches ``/metrics`` from;
* steered routing probes: for each candidate port, make it the most attractive port at its IP
  (nothing waiting, empty KV cache) and the other ports at that IP unattractive, wait until the EPP
  has scraped the new values, then ask for a decision with the subset hint ``[ip:port]``. Whatever
  the EPP picks is routed (an EPP that matches the hint on the IP only, like GIE's, may pick another
  port at that IP, which is evidence for that port); a 503 means nothing eligible, and so does a
  failed ext_proc stream (GIE's lightweight EPP fails it instead of answering 503): the request
  goes to no endpoint. Whether an EPP answers 503 is checked by the tests of that rule.

Probes of ports at different IPs share one metrics override and one wait and are sent together,
so an observation costs about one scrape round per port of the busiest IP.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from conformance.harness.gateway import Delivery, GatewayClient, GatewayError
from conformance.harness.settings import ObserverSettings
from fakes import FakeControl

PROBE_THREADS = 8
"""Probes of one round (one port at each IP) sent at once: a pool of hundreds of IPs costs a few
decisions' time per round, not hundreds. Control calls (steering, scrape logs, clearing) go out as
many at once too: through the in-cluster agent each takes about 2 ms."""


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
    answered: bool = True
    """False when the ext_proc stream failed instead of giving a decision."""


@dataclass(frozen=True)
class Observation:
    """The endpoints found in one observation, with the evidence."""

    endpoints: frozenset[str]
    probes: tuple[Probe, ...] = ()
    scrapes: tuple[ScrapeEvidence, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def unanswered(self) -> int:
        """Probes whose ext_proc stream failed."""
        return sum(not probe.answered for probe in self.probes)

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
    changes: list[tuple[float, str]] = field(default_factory=list)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def record(self, observation: Observation) -> None:
        """Note the observed set (and failed streams, if any) when it differs from the last one."""
        entry = _show(observation.endpoints)
        if observation.unanswered:
            entry += f" ({observation.unanswered} probe stream(s) failed)"
        if not self.changes or self.changes[-1][1] != entry:
            self.changes.append((self.elapsed(), entry))

    def describe(self) -> str:
        return "\n".join(f"  +{t:6.2f}s {entry}" for t, entry in self.changes)


class EndpointObserver:
    """Finds the endpoints an EPP routes to, through ``gateway`` and the fakes of ``served_ports``.

    ``served_ports`` is called at every observation: the ports that fake servers serve now, the
    candidates probed. ``check`` runs before and after every observation and raises to end the
    test (the harness passes one that fails when the EPP under test has exited, since a dead EPP
    routes nowhere and would pass for one with no endpoints).
    """

    def __init__(self, gateway: GatewayClient, served_ports: Callable[[], Iterable[ServedPort]], *,
                 settings: ObserverSettings | None = None, check: Callable[[], None] | None = None) -> None:
        self.gateway = gateway
        self.served_ports = served_ports
        self.settings = settings or ObserverSettings()
        self.check = check or (lambda: None)
        self.last_observation: Observation | None = None

    def observed(self) -> set[str]:
        """The ``ip:port`` set the EPP routes to now; details in ``last_observation``."""
        self.last_observation = self.observe()
        return set(self.last_observation.endpoints)

    def observe(self) -> Observation:
        """One observation: scrape evidence, then one steered probe per served port."""
        self.check()
        ports = list(self.served_ports())
        groups = _by_address(ports)
        found: set[str] = set()
        probes: list[Probe] = []
        notes: list[str] = []
        with ThreadPoolExecutor(max_workers=PROBE_THREADS, thread_name_prefix="eppconf-probe") as pool:
            scrapes = tuple(pool.map(self._scrape_evidence, ports))
            patience = {s.endpoint: s.patience(floor=self.settings.unscraped_wait) for s in scrapes}
            try:
                for round_index in range(max((len(group) for group in groups), default=0)):
                    steered = [group for group in groups if round_index < len(group)]
                    since = time.time()
                    favourites = [group[round_index] for group in steered]
                    list(pool.map(self._steer, steered, favourites))
                    notes += self._wait_for_scrapes([p for group in steered for p in group], since, patience, pool)
                    for probe in pool.map(self._probe, favourites):
                        probes.append(probe)
                        found.update(probe.picked)
            finally:
                list(pool.map(lambda port: port.control.clear_metrics(), ports))
        self.check()
        return Observation(frozenset(found), tuple(probes), scrapes, tuple(notes))

    def eventually(self, expected: Iterable[str], *, timeout: float) -> Observation:
        """Wait up to ``timeout`` seconds until the observed set equals ``expected``, then check that it
        stays so for the settle window; ``AssertionError`` with the evidence and timeline otherwise.

        The EPP fails only on an observation begun after ``timeout``: one observation of hundreds of
        ports can outlast the timeout, and what it saw early on says nothing of the EPP at the end.
        """
        wanted = frozenset(expected)
        timeline = _Timeline()
        matched_at: float | None = None
        last_match: float | None = None
        while True:
            late = timeline.elapsed() > timeout
            observation = self.observe()
            self.last_observation = observation
            timeline.record(observation)
            now = timeline.elapsed()
            if observation.endpoints == wanted:
                matched_at = now if matched_at is None else matched_at
                last_match = now
                if now - matched_at >= self.settings.settle:
                    return observation
            else:
                if late:
                    why = ("never matched" if last_match is None else f"matched at +{last_match:.2f}s but changed "
                           f"within the {self.settings.settle:g}s settle window")
                    raise AssertionError(self._failure(wanted, observation, timeline, self._unconverged(timeout, why)))
                matched_at = None
            time.sleep(self.settings.poll_interval)

    def stays(self, expected: Iterable[str], *, duration: float,
              action: Callable[[], None] | None = None) -> Observation:
        """Check that one observation, then every observation for ``duration`` seconds after
        ``action`` ran (right after that first one), equals ``expected``; ``AssertionError`` with the
        evidence and timeline at the first that does not."""
        wanted = frozenset(expected)
        timeline = _Timeline()
        acted_at: float | None = None
        while True:
            observation = self.observe()
            self.last_observation = observation
            timeline.record(observation)
            if observation.endpoints != wanted:
                when = ("before the change" if acted_at is None
                        else f"{timeline.elapsed() - acted_at:.2f}s after the change (made at +{acted_at:.2f}s)")
                raise AssertionError(self._failure(wanted, observation, timeline, "the EPP's endpoints did not "
                                                   f"stay as they were: the observation {when} differs"))
            if acted_at is None:
                if action is not None:
                    action()
                acted_at = timeline.elapsed()
            elif timeline.elapsed() - acted_at >= duration:
                return observation
            time.sleep(self.settings.poll_interval)

    def confirm_routing(self, endpoint: str) -> Delivery:
        """Send a request steered to ``endpoint`` through the gateway and check, in the fakes' request
        logs, that exactly that port served it; ``AssertionError`` otherwise."""
        self.check()
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
            with ThreadPoolExecutor(max_workers=PROBE_THREADS, thread_name_prefix="eppconf-probe") as pool:
                self._wait_for_scrapes(group, since, patience, pool)
            delivery = self.gateway.send(self.settings.model, subset=[endpoint])
        except GatewayError:
            self.check()  # an EPP that has exited says so, with its exit code
            raise
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
        gaps = [later.time - earlier.time for earlier, later in zip(records, records[1:], strict=False)]
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

    def _wait_for_scrapes(self, ports: list[ServedPort], since: float, patience: dict[str, float],
                          pool: ThreadPoolExecutor) -> list[str]:
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
            counts = pool.map(lambda port: len(port.control.scrapes(since=since)), ports)
            for port, count in zip(ports, counts, strict=True):
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
        try:
            decision = self.gateway.decide(self.settings.model, subset=[candidate.endpoint])
        except GatewayError as error:
            return Probe(candidate.endpoint, f"no decision: {error}", answered=False)
        return Probe(candidate.endpoint, decision.describe(), decision.endpoints if decision.routed else ())

    def _unconverged(self, timeout: float, why: str) -> str:
        return (f"the EPP's endpoints did not converge within {timeout:g}s "
                f"(settle window {self.settings.settle:g}s): {why}")

    def _failure(self, wanted: frozenset[str], observation: Observation, timeline: _Timeline, headline: str) -> str:
        got = observation.endpoints
        return "\n".join([
            headline,
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
