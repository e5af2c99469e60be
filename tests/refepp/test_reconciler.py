"""The reconciler: pool and pod lists and events into the real datastore, through the faults."""

from __future__ import annotations

import json
import time
from typing import Any

from eppconf.datastore import Datastore
from eppconf.portdiscovery import PORT_DISCOVERY_ANNOTATION
from eppconf.refepp.faults import FaultChain
from eppconf.refepp.picker import Candidate
from eppconf.refepp.state import EndpointState
from eppconf.refepp.watch import Reconciler

POOL = {"apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool",
        "metadata": {"name": "pool", "namespace": "ns"},
        "spec": {"selector": {"matchLabels": {"app": "m"}}, "targetPorts": [{"number": 8000}]}}


def pod(name: str, ip: str, *, ports: list[int] | None = None, ready: bool = True) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "ns", "labels": {"app": "m"}}
    if ports is not None:
        metadata["annotations"] = {PORT_DISCOVERY_ANNOTATION: json.dumps(
            [{"inferencePool": "pool", "number": port} for port in ports])}
    return {"metadata": metadata, "status": {"podIP": ip, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}


def reconciler(*faults: str) -> tuple[Reconciler, EndpointState]:
    state = EndpointState(pool_name="pool", pool_namespace="ns")
    return Reconciler(Datastore(), state, faults=FaultChain(faults, pool_name="pool")), state


def addresses(state: EndpointState) -> set[str]:
    return {candidate.address for candidate in state.candidates()}


def test_synced_only_with_pool_and_pods_listed() -> None:
    rec, state = reconciler()
    rec.pods_listed([pod("a", "127.0.0.2")])
    assert not state.synced and addresses(state) == set()
    rec.pool_listed([POOL])
    assert state.synced and addresses(state) == {"127.0.0.2:8000"}
    rec.pool_event("DELETED", POOL)
    assert not state.synced and addresses(state) == set()


def test_relist_deletes_pods_that_vanished() -> None:
    rec, state = reconciler()
    rec.pool_listed([POOL])
    rec.pods_listed([pod("a", "127.0.0.2", ports=[8001, 8002]), pod("b", "127.0.0.3")])
    assert addresses(state) == {"127.0.0.2:8001", "127.0.0.2:8002", "127.0.0.3:8000"}
    rec.pods_listed([pod("b", "127.0.0.3")])
    assert addresses(state) == {"127.0.0.3:8000"}


def test_events_and_problems_are_published() -> None:
    rec, state = reconciler()
    rec.pool_listed([POOL])
    rec.pods_listed([])
    bad = pod("a", "127.0.0.2")
    bad["metadata"]["annotations"] = {PORT_DISCOVERY_ANNOTATION: "nope"}
    rec.pod_event("ADDED", bad)
    assert addresses(state) == set() and len(state.problems()) == 1
    rec.pod_event("MODIFIED", pod("a", "127.0.0.2", ports=[8005]))
    assert addresses(state) == {"127.0.0.2:8005"} and state.problems() == ()
    rec.pod_event("DELETED", pod("a", "127.0.0.2", ports=[8005]))
    assert addresses(state) == set()


def test_unreadable_objects_are_logged_not_fatal() -> None:
    rec, state = reconciler()
    rec.pool_listed([{"metadata": {"name": "pool"}, "spec": {}}])
    assert not state.synced
    rec.pool_listed([POOL])
    rec.pods_listed([{"metadata": {}}, pod("b", "127.0.0.3")])
    assert addresses(state) == {"127.0.0.3:8000"}


def test_faults_sit_in_front_of_the_datastore() -> None:
    rec, state = reconciler("keep-deleted-pods", "ignore-readiness")
    rec.pool_listed([POOL])
    rec.pods_listed([pod("a", "127.0.0.2", ready=False)])
    assert addresses(state) == {"127.0.0.2:8000"}
    rec.pod_event("DELETED", pod("a", "127.0.0.2"))
    rec.pods_listed([])
    assert addresses(state) == {"127.0.0.2:8000"}


def test_at_ips_finds_endpoints_by_ip_including_ipv6() -> None:
    state = EndpointState(pool_name="pool", pool_namespace="ns")
    v6 = Candidate("c-rank-0", "c", "fd00::1", 8000)
    v4 = Candidate("a-rank-0", "a", "127.0.0.2", 8000)
    state.publish([v6, v4])
    assert state.at_ips(["fd00::1", "fd00::1", "127.0.0.9"]) == [v6]
    assert v6.address == "[fd00::1]:8000"


def test_an_event_a_fault_holds_back_is_published_when_replayed(monkeypatch: Any) -> None:
    import eppconf.refepp.faults as faults

    monkeypatch.setattr(faults, "RECREATE_DELAY", 0.05)
    rec, state = reconciler("recreate-on-change")
    rec.pool_listed([POOL])
    rec.pods_listed([pod("a", "127.0.0.2")])
    rec.pod_event("MODIFIED", pod("a", "127.0.0.2", ports=[8001]))
    assert addresses(state) == set(), "the update first removes the pod's endpoints"
    deadline = time.monotonic() + 5
    while not addresses(state) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert addresses(state) == {"127.0.0.2:8001"}


def test_only_a_fault_that_asks_widens_the_pod_watch_to_all_namespaces() -> None:
    assert reconciler("ignore-namespace")[0].watches_all_namespaces
    assert not reconciler("stale-labels")[0].watches_all_namespaces
