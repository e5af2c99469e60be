"""The reference EPP and every upstream EPP whose binary is present, side by side on one control plane.

Each EPP runs in turn against the same harness and the same pods (a fresh namespace each, built the
same way), one at a time, and gets:

* convergence, from the API call to changed routing (a request hinted ``[ip:port]`` routed there, or
  no longer), p50/p99 over ``--changes`` changes each of: the GIE ``active-ports`` annotation of a pod
  moved between two targetPorts; the pod's Ready condition flipped; a pod deleted (a fresh one each
  time, first seen routed);
* ext_proc decision latency (unhinted requests, through the harness's gateway client) p50/p99 at 10,
  100 and 1,000 endpoints: pods serving 5 targetPorts each (the InferencePool CRD allows at most 8
  targetPorts, so 100 pods x 10 ports cannot be built); EPPs that scrape metrics do so every 10 s in
  this phase (so their metrics go stale between scrapes): 1,000 fakes scraped every 50 ms, or even
  every 1 s by GIE v1.5.0, swamp the fakes' single event loop, whose open connections then pile up
  past the process's file descriptor limit;
* the EPP's CPU seconds and peak RSS over both phases (from /proc of its pid);
* the suite's own observation overhead: the wall time of one endpoint observation (the observer's
  steered probes) of the convergence pods, and the harness process's CPU seconds.

Every figure is also given as a ratio to GIE's EPP v1.5.0's. The machine's load moves the figures:
run it on an idle machine for numbers worth comparing across machines.

    .venv/bin/python benchmarks/bench_peers.py [--changes 100] [--decisions 300] [--epp PRESET ...]
"""

from __future__ import annotations

import argparse
import functools
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from benchlib import (
    MODEL,
    ProcessUsage,
    epp_usage,
    percentile,
    preset_harness,
    routes_to,
    routes_to_ip_of,
    seconds_until,
)

from conformance.harness.cluster import Cluster, LocalCluster
from conformance.harness.gateway import GatewayClient
from conformance.harness.kubelet import Pod
from conformance.harness.session import Harness
from conformance.implementations import GIE_V1_5_0, IMPLEMENTATIONS, Implementation, ImplementationError
from eppconf.portdiscovery import ACTIVE_PORTS_ANNOTATION

BASELINE = GIE_V1_5_0.name
FLIP_PORTS = (8001, 8002)
LATENCY_PORTS = (8001, 8002, 8003, 8004, 8005)
SIZES = (10, 100, 1000)
OBSERVATIONS = 5
SCRAPE_INTERVAL = "10s"
#: The flag that sets the scrape interval of each preset that scrapes metrics (GIE v1.6.0 does not).
SCRAPE_FLAG = {"reference": "--refresh-metrics-interval", GIE_V1_5_0.name: "--refresh-metrics-interval",
               "llm-d-router": "--refresh-metrics-interval"}
TARGET_RATIO = 2.0


@dataclass
class Figures:
    """What one EPP measured: latencies in seconds by figure name, plus resource use."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    usage: ProcessUsage = ProcessUsage(0.0, 0.0)
    observation: list[float] = field(default_factory=list)
    harness_cpu: float = 0.0


def convergence(h: Harness, changes: int, figures: Figures) -> None:
    """Time a few observations of two pods, then annotation changes, readiness flips and pod deletions."""
    gateway = h.gateway
    assert gateway is not None and h.observer is not None
    steady = h.create_pod("steady")
    subject = h.create_pod("subject", annotations={ACTIVE_PORTS_ANNOTATION: str(FLIP_PORTS[0])})
    h.endpoints_must_converge(steady.endpoints(*FLIP_PORTS) | subject.endpoints(FLIP_PORTS[0]))
    figures.observation = [_observation_seconds(h) for _ in range(OBSERVATIONS)]

    def move_to(port: int) -> Callable[[], None]:
        return lambda: h.annotate(subject, {ACTIVE_PORTS_ANNOTATION: str(port)})

    figures.latencies["annotation change"] = [
        seconds_until(move_to(port), functools.partial(routes_to, gateway, subject.endpoint(port)),
                      what=f"active-ports {port}")
        for port in (FLIP_PORTS[(index + 1) % 2] for index in range(changes))]
    h.annotate(subject, {ACTIVE_PORTS_ANNOTATION: str(FLIP_PORTS[0])})
    first = subject.endpoint(FLIP_PORTS[0])
    if not _wait(lambda: routes_to(gateway, first)):
        raise TimeoutError(f"the EPP never routed to {first} again")
    figures.latencies["readiness flip"] = [
        seconds_until(functools.partial(h.set_ready, subject, ready),
                      functools.partial(_routes_to_ip_of_is, gateway, first, ready), what=f"Ready={ready}")
        for ready in (index % 2 == 1 for index in range(changes))]
    figures.latencies["pod deletion"] = [_deletion(h, f"doomed-{index}") for index in range(changes)]


def _deletion(h: Harness, name: str) -> float:
    """Create a pod, wait until it is routed, then time its deletion until it no longer is."""
    gateway = h.gateway
    assert gateway is not None
    pod = h.create_pod(name)
    endpoint = pod.endpoint(FLIP_PORTS[0])
    if not _wait(lambda: routes_to_ip_of(gateway, endpoint)):
        raise TimeoutError(f"the EPP never routed to the new pod {name} at {endpoint}")
    return seconds_until(lambda: h.delete_pod(pod), lambda: not routes_to_ip_of(gateway, endpoint),
                         what=f"the deletion of {name}")


def _observation_seconds(h: Harness) -> float:
    assert h.observer is not None
    start = time.monotonic()
    h.observer.observe()
    return time.monotonic() - start


def decision_latency(h: Harness, decisions: int, figures: Figures) -> None:
    """Unhinted decision latency at each of ``SIZES`` endpoints, pods added between sizes."""
    gateway = h.gateway
    assert gateway is not None
    pods: list[Pod] = []
    for size in SIZES:
        while len(pods) * len(LATENCY_PORTS) < size:
            pods.append(h.create_pod(f"pod-{len(pods)}"))
        newest = pods[-1].endpoint(LATENCY_PORTS[0])
        if not _wait(functools.partial(routes_to_ip_of, gateway, newest)):
            raise TimeoutError(f"the EPP never routed to the newest pod at {newest} ({size} endpoints)")
        time.sleep(1.0)  # a moment for the EPP to take in the new pods before the timing starts
        for _ in range(20):
            gateway.decide(MODEL)
        figures.latencies[f"decision, {size} endpoints"] = [_decision_seconds(h) for _ in range(decisions)]


def _decision_seconds(h: Harness) -> float:
    assert h.gateway is not None
    start = time.perf_counter()
    decision = h.gateway.decide(MODEL)
    elapsed = time.perf_counter() - start
    if not decision.routed:
        raise RuntimeError(f"an unhinted request was not routed: {decision.describe()}")
    return elapsed


def _routes_to_ip_of_is(gateway: GatewayClient, endpoint: str, wanted: bool) -> bool:
    return routes_to_ip_of(gateway, endpoint) is wanted


def _wait(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def measure(cluster: Cluster, preset: Implementation, *, changes: int, decisions: int) -> Figures:
    """Both phases against ``preset``, each with its own EPP process and namespace."""
    figures = Figures()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    with preset_harness(cluster, preset) as h:
        h.create_pool(target_ports=FLIP_PORTS)
        h.start_epp()
        convergence(h, changes, figures)
        figures.usage = epp_usage(h)
    flag = SCRAPE_FLAG.get(preset.name)
    with preset_harness(cluster, preset, extra_args=f"{flag}={SCRAPE_INTERVAL}" if flag else "") as h:
        h.create_pool(target_ports=LATENCY_PORTS)
        h.start_epp()
        decision_latency(h, decisions, figures)
        figures.usage += epp_usage(h)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    figures.harness_cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    return figures


def table(results: dict[str, Figures]) -> str:
    """One row per figure, one column per EPP: the value and its ratio to the baseline's."""
    names = list(results)
    rows: list[tuple[str, dict[str, float], str]] = []
    for figure in next(iter(results.values())).latencies:
        for label, fraction in (("p50", 0.5), ("p99", 0.99)):
            rows.append((f"{figure} {label}", {n: percentile(results[n].latencies[figure], fraction) * 1000
                                               for n in names}, "ms"))
    rows.append(("EPP CPU", {n: results[n].usage.cpu_seconds for n in names}, "s"))
    rows.append(("EPP peak RSS", {n: results[n].usage.peak_rss_mib for n in names}, "MiB"))
    rows.append(("observation (median)", {n: statistics.median(results[n].observation) * 1000 for n in names}, "ms"))
    rows.append(("harness CPU (with fakes)", {n: results[n].harness_cpu for n in names}, "s"))
    width = max(len(row[0]) for row in rows)
    lines = [f"{'figure':<{width}}  " + "  ".join(f"{n:>22}" for n in names)]
    for title, values, unit in rows:
        cells = [f"{_format(values[n], unit)}{_ratio(values[n], values.get(BASELINE))}" for n in names]
        lines.append(f"{title:<{width}}  " + "  ".join(f"{cell:>22}" for cell in cells))
    return "\n".join(lines)


def _format(value: float, unit: str) -> str:
    return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"


def _ratio(value: float, baseline: float | None) -> str:
    return f" ({value / baseline:.2f}x)" if baseline else ""


def verdict(results: dict[str, Figures]) -> list[str]:
    """Where the reference EPP is slower than ``TARGET_RATIO`` times the baseline (latency figures)."""
    if BASELINE not in results or "reference" not in results:
        return [f"no {BASELINE} or reference figures: no ratio target checked"]
    ours, theirs = results["reference"], results[BASELINE]
    misses = []
    for figure, samples in ours.latencies.items():
        for label, fraction in (("p50", 0.5), ("p99", 0.99)):
            ratio = percentile(samples, fraction) / percentile(theirs.latencies[figure], fraction)
            if ratio > TARGET_RATIO:
                misses.append(f"reference {figure} {label} is {ratio:.2f}x {BASELINE}'s (target <= {TARGET_RATIO:g}x)")
    return misses


def available(names: list[str] | None) -> list[Implementation]:
    """The presets asked for (default: all) whose binary is present; the others are reported."""
    chosen = []
    for name in names or list(IMPLEMENTATIONS):
        preset = IMPLEMENTATIONS[name]
        try:
            preset.command_template()
        except ImplementationError as error:
            print(f"skipping {name}: {error}", file=sys.stderr)
            continue
        chosen.append(preset)
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100, help="changes of each kind to time (default 100)")
    parser.add_argument("--decisions", type=int, default=300, help="decisions to time per size (default 300)")
    parser.add_argument("--epp", action="append", choices=sorted(IMPLEMENTATIONS), metavar="PRESET",
                        help="EPP preset to measure, repeatable (default: every preset whose binary is present)")
    args = parser.parse_args()
    cluster = LocalCluster()
    cluster.start()
    results: dict[str, Figures] = {}
    try:
        for preset in available(args.epp):
            print(f"measuring {preset.name} ...", file=sys.stderr, flush=True)
            results[preset.name] = measure(cluster, preset, changes=args.changes, decisions=args.decisions)
    finally:
        cluster.close()
    if not results:
        print("no EPP to measure", file=sys.stderr)
        return 1
    print(f"{args.changes} changes of each kind, {args.decisions} decisions per size; ratios to {BASELINE}")
    print(table(results))
    misses = verdict(results)
    print("\n".join(misses) if misses else f"reference within {TARGET_RATIO:g}x of {BASELINE} on every latency")
    return 0


if __name__ == "__main__":
    sys.exit(main())
