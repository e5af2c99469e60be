"""Pieces the benchmarks share: percentiles, an EPP preset behind a harness, routing checks, /proc figures."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from conformance.harness.cluster import Cluster, create_namespace, delete_namespace
from conformance.harness.epp import ProcessEpp, ProcessEppInstance
from conformance.harness.gateway import GatewayClient, GatewayError, split_endpoint
from conformance.harness.kubelet import AddressPool, Kubelet
from conformance.harness.session import Harness, HarnessSettings
from conformance.implementations import Implementation
from fakes import FakeRuntime, PortConfig

CHANGE_TIMEOUT = 10.0
"""Seconds an EPP gets to reflect one change before a benchmark gives up."""
MODEL = "fake-model"


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The sample at ``fraction`` (0..1) of the sorted samples, nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@contextmanager
def preset_harness(cluster: Cluster, preset: Implementation, *, extra_args: str = "") -> Iterator[Harness]:
    """A fresh namespace of ``cluster`` with fake servers, a kubelet and a harness whose EPP is ``preset``
    (its command followed by ``extra_args``); the EPP is started by ``Harness.start_epp``. All of it
    is removed on exit."""
    with ExitStack() as stack:
        runtime = stack.enter_context(FakeRuntime())
        namespace = create_namespace(cluster.api, prefix="eppconf-bench")
        stack.callback(delete_namespace, cluster.api, namespace)
        kubelet = Kubelet(cluster.api, namespace=namespace, runtime=runtime,
                          addresses=stack.enter_context(AddressPool()), server_config=PortConfig())
        stack.callback(kubelet.close)
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="eppconf-bench-")))
        launcher = ProcessEpp(f"{preset.command_template()} {extra_args}".strip(), log_dir=log_dir,
                              name=preset.name, tls=preset.tls, health_service=preset.health_service)
        yield stack.enter_context(Harness(cluster=cluster, namespace=namespace, kubelet=kubelet,
                                          launcher=launcher, settings=HarnessSettings()))


def picked(gateway: GatewayClient, endpoint: str) -> str | None:
    """Where the EPP routes a request hinted ``[endpoint]``; ``None`` for nowhere: a 503, or a failed
    stream (GIE's lightweight EPP fails it when nothing is eligible)."""
    try:
        return gateway.decide(MODEL, subset=[endpoint]).endpoint
    except GatewayError:
        return None


def routes_to(gateway: GatewayClient, endpoint: str) -> bool:
    """Whether a request hinted ``[endpoint]`` is routed to exactly that endpoint."""
    return picked(gateway, endpoint) == endpoint


def routes_to_ip_of(gateway: GatewayClient, endpoint: str) -> bool:
    """Whether a request hinted ``[endpoint]`` is routed to some port at its IP: the pod has an endpoint,
    also for an EPP that matches the hint on the IP only (GIE v1.5.0) and picks another port there."""
    chosen = picked(gateway, endpoint)
    return chosen is not None and split_endpoint(chosen)[0] == split_endpoint(endpoint)[0]


def seconds_until(change: Callable[[], None], done: Callable[[], bool], *, what: str) -> float:
    """Seconds from just before ``change()`` until ``done()`` holds; ``TimeoutError`` after ``CHANGE_TIMEOUT``."""
    start = time.monotonic()
    change()
    while not done():
        if time.monotonic() - start > CHANGE_TIMEOUT:
            raise TimeoutError(f"the EPP did not reflect {what} within {CHANGE_TIMEOUT:g} s")
    return time.monotonic() - start


@dataclass(frozen=True)
class ProcessUsage:
    """CPU seconds (user + system) and peak resident memory of one process, read from /proc."""

    cpu_seconds: float
    peak_rss_mib: float

    @classmethod
    def of(cls, pid: int) -> ProcessUsage:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat(5))
        status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        return cls(ticks / os.sysconf("SC_CLK_TCK"), int(status["VmHWM"].split()[0]) / 1024)

    def __add__(self, other: ProcessUsage) -> ProcessUsage:
        return ProcessUsage(self.cpu_seconds + other.cpu_seconds, max(self.peak_rss_mib, other.peak_rss_mib))


def epp_usage(h: Harness) -> ProcessUsage:
    """What the harness's running EPP process has used so far."""
    assert isinstance(h.epp, ProcessEppInstance) and h.epp.process.pid is not None, "no EPP process running"
    return ProcessUsage.of(h.epp.process.pid)
