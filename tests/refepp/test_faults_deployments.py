"""The faults of the deployment cases (heterogeneous pods, per-pod rank ports, pods sharing an IP), end to end
through the reconciler: each gives the wrong endpoints its upstream report describes."""

from __future__ import annotations

import json
from typing import Any

from eppconf.datastore import Datastore
from eppconf.portdiscovery import ACTIVE_PORTS_ANNOTATION, PORT_DISCOVERY_ANNOTATION
from eppconf.refepp.faults import FaultChain, PodEvent
from eppconf.refepp.state import EndpointState
from eppconf.refepp.watch import Reconciler

POOL = "mine"


def pool(*target_ports: int) -> dict[str, Any]:
    return {"apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool",
            "metadata": {"name": POOL, "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, "targetPorts": [{"number": p} for p in target_ports]}}


def pod(name: str, ip: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "labels": {"app": "x"}, "annotations": annotations or {}},
            "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]}}


def declaring(*ports: int) -> dict[str, str]:
    return {PORT_DISCOVERY_ANNOTATION: json.dumps([{"inferencePool": POOL, "number": p} for p in ports])}


def reconciled(faults: list[str], target_ports: tuple[int, ...], *pods: dict[str, Any],
               deleted: tuple[dict[str, Any], ...] = ()) -> set[str]:
    """The addresses the reference EPP with ``faults`` routes to after these pod events."""
    state = EndpointState(pool_name=POOL, pool_namespace="ns")
    reconciler = Reconciler(Datastore(), state, faults=FaultChain(faults, pool_name=POOL))
    reconciler.pool_event("ADDED", pool(*target_ports))
    for manifest in pods:
        reconciler.pod_event("ADDED", manifest)
    for manifest in deleted:
        reconciler.pod_event("DELETED", manifest)
    return {candidate.address for candidate in state.candidates()}


def test_ports_from_first_pod_gives_every_pod_the_first_pods_ports() -> None:
    first, second = pod("a", "127.0.0.2", declaring(30000, 30001)), pod("b", "127.0.0.3", declaring(30002, 30003))
    assert reconciled([], (30000,), first, second) == {"127.0.0.2:30000", "127.0.0.2:30001",
                                                       "127.0.0.3:30002", "127.0.0.3:30003"}
    assert reconciled(["ports-from-first-pod"], (30000,), first, second) == {
        "127.0.0.2:30000", "127.0.0.2:30001", "127.0.0.3:30000", "127.0.0.3:30001"}


def test_ports_from_first_pod_shares_active_ports_and_their_absence() -> None:
    prefill = pod("prefill", "127.0.0.2", {ACTIVE_PORTS_ANNOTATION: "8000"})
    decode = pod("decode", "127.0.0.3")
    assert reconciled(["ports-from-first-pod"], (8000, 8001), decode, prefill) == {
        "127.0.0.2:8000", "127.0.0.2:8001", "127.0.0.3:8000", "127.0.0.3:8001"}
    assert reconciled(["ports-from-first-pod"], (8000, 8001), prefill, decode) == {"127.0.0.2:8000",
                                                                                   "127.0.0.3:8000"}


def test_declared_ports_need_target_ports_drops_ports_outside_them() -> None:
    remapped = pod("decode", "127.0.0.2", declaring(8000, 8200))
    assert reconciled([], (8000,), remapped) == {"127.0.0.2:8000", "127.0.0.2:8200"}
    assert reconciled(["declared-ports-need-target-ports"], (8000,), remapped) == {"127.0.0.2:8000"}
    other_pool = pod("other", "127.0.0.3", {PORT_DISCOVERY_ANNOTATION: json.dumps(
        [{"inferencePool": "theirs", "number": 8000}])})
    assert reconciled(["declared-ports-need-target-ports"], (8000,), other_pool) == set()


def test_declared_ports_need_target_ports_leaves_other_values_alone() -> None:
    chain = FaultChain(["declared-ports-need-target-ports"], pool_name=POOL)
    event = PodEvent("upsert", pod("p", "127.0.0.2", {PORT_DISCOVERY_ANNOTATION: "{not json"}))
    assert chain(event) == event


def test_endpoints_by_ip_lets_pods_sharing_an_ip_replace_and_delete_each_other() -> None:
    prefill, decode = pod("prefill", "127.0.0.2", declaring(8000)), pod("decode", "127.0.0.2", declaring(8200))
    assert reconciled([], (8000,), prefill, decode) == {"127.0.0.2:8000", "127.0.0.2:8200"}
    assert reconciled([], (8000,), prefill, decode, deleted=(prefill,)) == {"127.0.0.2:8200"}
    assert reconciled(["endpoints-by-ip"], (8000,), prefill, decode) == {"127.0.0.2:8200"}
    assert reconciled(["endpoints-by-ip"], (8000,), prefill, decode, deleted=(prefill,)) == set()
    apart = pod("apart", "127.0.0.3", declaring(8000))
    assert reconciled(["endpoints-by-ip"], (8000,), prefill, apart) == {"127.0.0.2:8000", "127.0.0.3:8000"}
