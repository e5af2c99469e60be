"""Conformance tests of the cases real deployments hit, each one from an upstream report.

A port a pod does not serve is ``closed``: a decoy there fails every request, as a closed port
would, and the observer sees an EPP that gives the pod an endpoint on it. Each routed endpoint
must also serve a request sent to it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from conformance.catalogue import Registry
from conformance.features import Feature
from eppconf.portdiscovery import ACTIVE_PORTS_ANNOTATION

if TYPE_CHECKING:
    from conformance.harness.session import Harness

tests = Registry()

PREFILL_PORT = 8000
DECODE_PORTS = (8000, 8001, 8002, 8003)
"""The ports of llm-d/llm-d PR 2488: decode pods serve all four, prefill pods the first."""
RANK_BASE_PORT = 30000
"""SGLang's default ``--port``: rank ``r`` of data parallelism serves ``base_port + r``."""
REQUESTS_PER_POOL = 4


def must_route_and_serve(h: Harness, expected: set[str]) -> None:
    """The EPP must converge on ``expected``, then serve a request steered to each of them."""
    h.endpoints_must_converge(expected)
    for endpoint in sorted(expected):
        h.epp_of().observer.confirm_routing(endpoint)


@tests.test(
    name="HeterogeneousPodsByActivePorts",
    description="In a pool with targetPorts 8000-8003, prefill pods whose active-ports lists 8000 get"
                " an endpoint on 8000 alone and decode pods without the annotation one on each"
                " targetPort, and each endpoint serves a request (llm-d/llm-d PR 2488).",
    features={Feature.ENDPOINT_PER_TARGET_PORT, Feature.ACTIVE_PORTS},
    rules=("PD-12", "PD-13"),
    faults=("ignore-active-ports", "ports-from-first-pod"),
)
def heterogeneous_pods_by_active_ports(h: Harness) -> None:
    """llm-d/llm-d PR 2488: targetPorts are global to a pool, so prefill pods listening on 8000 only
    got endpoints on 8001-8003 as well and 30 of 40 requests failed with 502; active-ports is the
    fix. Nothing listens on 8001-8003 of a prefill pod here either."""
    h.create_pool(target_ports=DECODE_PORTS)
    h.start_epp()
    expected: set[str] = set()
    for index in range(2):
        decode = h.create_pod(f"decode-{index}")
        prefill = h.create_pod(f"prefill-{index}", annotations={ACTIVE_PORTS_ANNOTATION: str(PREFILL_PORT)},
                               closed=DECODE_PORTS[1:])
        expected |= decode.endpoints(*DECODE_PORTS) | prefill.endpoints(PREFILL_PORT)
    must_route_and_serve(h, expected)


@tests.test(
    name="HeterogeneousPodsByPortDiscovery",
    description="In a pool with targetPorts 8000-8003, prefill pods declaring 8000 get an endpoint"
                " on 8000 alone and decode pods declaring 8000-8003 one on each, and each endpoint"
                " serves a request (llm-d/llm-d PR 2488).",
    features={Feature.PORT_DISCOVERY},
    rules=("PD-11",),
    faults=("ignore-port-discovery", "ports-from-first-pod"),
)
def heterogeneous_pods_by_port_discovery(h: Harness) -> None:
    """llm-d/llm-d PR 2488 (prefill pods got endpoints on decode ports they did not serve), with each
    pod saying which ports it serves through the port-discovery annotation; the pool keeps every
    port in targetPorts for gateways that build their backends from them."""
    h.create_pool(target_ports=DECODE_PORTS)
    h.start_epp()
    expected: set[str] = set()
    for index in range(2):
        decode = h.create_pod(f"decode-{index}", port_discovery=DECODE_PORTS)
        prefill = h.create_pod(f"prefill-{index}", port_discovery=[PREFILL_PORT], closed=DECODE_PORTS[1:])
        expected |= decode.endpoints(*DECODE_PORTS) | prefill.endpoints(PREFILL_PORT)
    must_route_and_serve(h, expected)


@tests.test(
    name="PerPodRankPorts",
    description="Pods whose data-parallel ranks listen on different ports (30000-30001 on one,"
                " 30002-30003 on the other) each get endpoints on their own rank ports only, and"
                " each endpoint serves a request (llm-d-router issue 2296).",
    features={Feature.PORT_DISCOVERY},
    rules=("PD-11", "PD-15"),
    faults=("ports-from-first-pod", "ignore-port-discovery"),
)
def per_pod_rank_ports(h: Harness) -> None:
    """llm-d-router issue 2296: SGLang serves rank ``r`` on ``base_port + r`` with global ranks, so
    the rank ports differ from pod to pod and one port list shared by the pool gives wrong
    endpoints. The pool lists every rank port in targetPorts; each pod declares its own."""
    rank_ports = [RANK_BASE_PORT + rank for rank in range(4)]
    h.create_pool(target_ports=rank_ports)
    h.start_epp()
    first = h.create_pod("sglang-0", port_discovery=rank_ports[:2], closed=rank_ports[2:])
    second = h.create_pod("sglang-1", port_discovery=rank_ports[2:], closed=rank_ports[:2])
    must_route_and_serve(h, first.endpoints(*rank_ports[:2]) | second.endpoints(*rank_ports[2:]))


@tests.test(
    name="PodsSharingAnIp",
    description="Two host-network pods on one IP, one declaring 8000 and the other 8200, get an"
                " endpoint each; each serves a request, and deleting one pod keeps the other's"
                " endpoint (GIE issue 2562).",
    features={Feature.PORT_DISCOVERY, Feature.POD_LIFECYCLE},
    rules=("PD-11", "PD-14", "PD-22"),
    faults=("endpoints-by-ip", "declared-ports-need-target-ports"),
    virtual_pods_only="it needs two pods on one chosen IP (host network on one node), which the harness"
                      " does not place in a cluster",
)
def pods_sharing_an_ip(h: Harness) -> None:
    """GIE issue 2562: prefill and decode pods on the host network share their node's IP and serve
    remapped ports; the decode pod's port is not among the pool's targetPorts and it was dropped
    without a word. Endpoints are told apart by pod and port (PD-14), never by IP alone."""
    h.create_pool(target_ports=[8000])
    h.start_epp()
    prefill = h.create_pod("prefill", port_discovery=[8000])
    decode = h.create_pod("decode", port_discovery=[8200], host_ip_of=prefill)
    must_route_and_serve(h, {prefill.endpoint(8000), decode.endpoint(8200)})
    h.delete_pod(prefill)
    must_route_and_serve(h, {decode.endpoint(8200)})


@tests.test(
    name="LauncherMovesBetweenPools",
    description="A launcher pod whose annotation follows its children gives each pool exactly the"
                " children that name it; relabelled from pool A to pool B while the awake child"
                " changes, it leaves A entirely, gives B only B's child, and no request reaches a"
                " port of the other pool (FMA launcher, GIE issue 1965).",
    features={Feature.PORT_DISCOVERY, Feature.POD_LIFECYCLE},
    rules=("PD-11", "PD-17", "PD-18", "PD-19"),
    faults=("stale-labels", "ignore-pool-name", "stale-annotation"),
    virtual_pods_only="its launcher pod runs the fake launcher and its children in the harness, which"
                      " the in-cluster topology does not run as pods",
)
def launcher_moves_between_pools(h: Harness) -> None:
    """GIE issue 1965 and llm-d-fast-model-actuation (issue 200, PR 363): a launcher pod runs vLLM
    children on several ports, one awake and the rest asleep, and keeps its port-discovery
    annotation equal to them; the controller relabels the pod to the pool of the awake model.
    Each pool has its own EPP; the pools list their children's ports in targetPorts."""
    from conformance.harness.session import POOL_LABEL  # the catalogue imports without the harness

    pool_a, pool_b = h.pool, "pool-b"
    h.create_pool(target_ports=[8005, 8007])
    h.create_pool(name=pool_b, target_ports=[8006])
    h.start_epp()
    h.start_epp(pool=pool_b)
    launcher = h.create_launcher_pod("launcher", ports=(8005, 8006, 8007), pool=pool_a)
    launcher.start_child("model-a", port=8005, pool=pool_a)
    launcher.start_child("model-a2", port=8007, pool=pool_a)
    launcher.start_child("model-b", port=8006, pool=pool_b)
    launcher.sleep("model-b")
    h.endpoints_must_converge({launcher.endpoint("model-a"), launcher.endpoint("model-a2")})
    h.endpoints_must_converge(set(), pool=pool_b)
    launcher.stop_child("model-a2")
    h.endpoints_must_converge({launcher.endpoint("model-a")})

    launcher.sleep("model-a")
    launcher.wake_up("model-b")
    h.relabel_pod(launcher.pod, {POOL_LABEL: pool_b})
    h.endpoints_must_converge(set())
    h.endpoints_must_converge({launcher.endpoint("model-b")}, pool=pool_b)
    requests_stay_in_their_pools(h, {pool_a: set(), pool_b: {launcher.endpoint("model-b")}})


def requests_stay_in_their_pools(h: Harness, endpoints: dict[str, set[str]]) -> None:
    """Requests sent through each pool's EPP must reach only that pool's ``endpoints``, by the fakes'
    request logs (a pool with none must forward nothing)."""
    since = time.time()
    sent = {pool: {h.epp_of(pool).gateway.send(h.settings.observer.model).decision.request_id
                   for _ in range(REQUESTS_PER_POOL)} for pool in endpoints}
    stray = []
    for port in h.kubelet.served_ports():
        logged = {record.headers.get("x-request-id") for record in port.control.requests() if record.time >= since}
        for pool, ids in sent.items():
            reached = logged & ids
            if reached and port.endpoint not in endpoints[pool]:
                stray.append(f"{len(reached)} request(s) through the EPP of pool {pool} reached {port.endpoint}")
            if port.endpoint in endpoints[pool] and not reached:
                stray.append(f"no request through the EPP of pool {pool} reached its endpoint {port.endpoint}")
    assert not stray, "; ".join(stray)
