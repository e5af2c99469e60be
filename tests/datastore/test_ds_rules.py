"""The datastore against each rule of docs/spec.md, PD-9..PD-24."""

from __future__ import annotations

from dataclasses import replace

import pytest
from datastore_builders import NS, discovery, make_pod, make_pool

from eppconf.datastore import Datastore, PodInfo, PoolSpec, PortSource, compute_endpoints
from eppconf.portdiscovery import ACTIVE_PORTS_ANNOTATION, LLMD_ACTIVE_PORTS_ANNOTATION, PORT_DISCOVERY_ANNOTATION


def addresses(store: Datastore) -> set[str]:
    return {ep.address for ep in store.endpoints().values()}


def test_pd9_invalid_annotation_fails_closed_and_is_reported() -> None:
    store = Datastore(make_pool())
    store.upsert_pod(make_pod("other", ip="10.0.0.2"))
    diff = store.upsert_pod(make_pod("a", annotations={PORT_DISCOVERY_ANNOTATION: '[{"number":0}]'}))
    assert not diff
    assert addresses(store) == {"10.0.0.2:8000", "10.0.0.2:8001"}  # no fallback to targetPorts
    (problem,) = store.problems()
    assert (problem.namespace, problem.pod_name) == (NS, "a") and "entry 0" in str(problem)


def test_pd9_invalid_annotation_removes_existing_endpoints_then_recovers() -> None:
    store = Datastore(make_pool())
    store.upsert_pod(make_pod(annotations=discovery(("p", 9000))))
    diff = store.upsert_pod(make_pod(annotations={PORT_DISCOVERY_ANNOTATION: "not json"}))
    assert [ep.port for ep in diff.removed] == [9000] and not store.endpoints()
    diff = store.upsert_pod(make_pod(annotations=discovery(("p", 9000))))
    assert [ep.port for ep in diff.added] == [9000] and store.problems() == ()


def test_pd9_warning_also_goes_when_annotation_removed() -> None:
    store = Datastore(make_pool())
    store.upsert_pod(make_pod(annotations={PORT_DISCOVERY_ANNOTATION: "[1]"}))
    store.upsert_pod(make_pod())
    assert store.problems() == () and addresses(store) == {"10.0.0.1:8000", "10.0.0.1:8001"}


def test_pd9_no_warning_for_pods_outside_the_pool() -> None:
    store = Datastore(make_pool())
    store.upsert_pod(make_pod(labels={"app": "other"}, annotations={PORT_DISCOVERY_ANNOTATION: "[1]"}))
    store.upsert_pod(make_pod("b", namespace="elsewhere", annotations={PORT_DISCOVERY_ANNOTATION: "[1]"}))
    assert store.problems() == ()


@pytest.mark.parametrize("pod", [
    make_pod(namespace="elsewhere"),
    make_pod(labels={"app": "other"}),
    make_pod(labels={}),
    make_pod(ready=False),
    make_pod(deleting=True),
    make_pod(ip=None),
    make_pod(ip=""),
], ids=["namespace", "selector", "no-labels", "not-ready", "terminating", "no-ip", "empty-ip"])
def test_pd10_pods_not_considered(pod: PodInfo) -> None:
    assert compute_endpoints(make_pool(), [pod]) == {}
    assert compute_endpoints(make_pool(), [replace(pod, annotations=discovery(("p", 9000)))]) == {}


@pytest.mark.parametrize("field", ["namespace", "labels", "ready", "deleting", "pod_ip"])
def test_pd10_each_condition_alone_excludes_annotated_pods(field: str) -> None:
    values = {"namespace": "elsewhere", "labels": {"app": "x"}, "ready": False, "deleting": True, "pod_ip": None}
    base = make_pod(annotations=discovery(("p", 9000)))
    assert compute_endpoints(make_pool(), [base])
    changed = replace(base, **{field: values[field]})
    assert compute_endpoints(make_pool(), [changed]) == {}


def test_pd10_selector_is_a_subset_match() -> None:
    pool = make_pool(selector={"app": "llm", "tier": "gpu"})
    assert not compute_endpoints(pool, [make_pod(labels={"app": "llm"})])
    assert compute_endpoints(pool, [make_pod(labels={"app": "llm", "tier": "gpu", "x": "y"})])


def test_pd11_port_discovery_wins_and_ignores_target_ports() -> None:
    pod = make_pod(annotations={**discovery(("p", 9000), ("p", 9001), ("other", 9002)),
                                LLMD_ACTIVE_PORTS_ANNOTATION: "8000", ACTIVE_PORTS_ANNOTATION: "8001"})
    endpoints = compute_endpoints(make_pool(target_ports=()), [pod])
    assert sorted(ep.port for ep in endpoints.values()) == [9000, 9001]
    assert {ep.source for ep in endpoints.values()} == {PortSource.PORT_DISCOVERY}


def test_pd11_valid_annotation_without_entry_for_pool_gives_nothing() -> None:
    assert compute_endpoints(make_pool(), [make_pod(annotations=discovery(("other", 9000)))]) == {}
    assert compute_endpoints(make_pool(), [make_pod(annotations={PORT_DISCOVERY_ANNOTATION: "[]"})]) == {}


def test_pd12_llmd_active_ports_wins_over_gie_key() -> None:
    pool = make_pool(target_ports=(8000, 8001, 8002))
    pod = make_pod(annotations={LLMD_ACTIVE_PORTS_ANNOTATION: "8001", ACTIVE_PORTS_ANNOTATION: "8000,8002"})
    (endpoint,) = compute_endpoints(pool, [pod]).values()
    assert (endpoint.port, endpoint.name, endpoint.source) == (8001, "a-rank-1", PortSource.LLMD_ACTIVE_PORTS)


def test_pd12_gie_active_ports_filters_target_ports() -> None:
    pool = make_pool(target_ports=(8000, 8001, 8002))
    pod = make_pod(annotations={ACTIVE_PORTS_ANNOTATION: " 8002, 9999,8002,x"})
    (endpoint,) = compute_endpoints(pool, [pod]).values()
    assert (endpoint.port, endpoint.name, endpoint.source) == (8002, "a-rank-2", PortSource.ACTIVE_PORTS)
    assert compute_endpoints(pool, [make_pod(annotations={ACTIVE_PORTS_ANNOTATION: ""})]) == {}


def test_pd13_every_target_port_and_none_without_target_ports() -> None:
    names = {ep.name for ep in compute_endpoints(make_pool(), [make_pod()]).values()}
    assert names == {"a-rank-0", "a-rank-1"}
    assert compute_endpoints(make_pool(target_ports=()), [make_pod()]) == {}


def test_pd14_identity_stable_under_reordering() -> None:
    store = Datastore(make_pool())
    store.upsert_pod(make_pod(annotations=discovery(("p", 9000), ("p", 9001))))
    before = dict(store.endpoints())
    diff = store.upsert_pod(make_pod(annotations=discovery(("p", 9001), ("p", 9000))))
    assert not diff and dict(store.endpoints()) == before
    assert set(before) == {(NS, "a", 9000), (NS, "a", 9001)}


def test_pd15_address_and_names() -> None:
    pod = make_pod(annotations=discovery(("p", 9001)))
    (endpoint,) = compute_endpoints(make_pool(), [pod]).values()
    assert (endpoint.address, endpoint.name) == ("10.0.0.1:9001", "a-port-9001")
    (v6, _) = compute_endpoints(make_pool(), [make_pod(ip="fd00::1")]).values()
    assert v6.address == "[fd00::1]:8000"


def test_pd16_labels_overlaid_with_attributes() -> None:
    pod = make_pod(labels={"app": "llm", "role": "both", "zone": "a"},
                   annotations=discovery(("p", 9000, {"role": "decode", "tp": "2"}), ("p", 9001)))
    endpoints = compute_endpoints(make_pool(), [pod])
    assert dict(endpoints[(NS, "a", 9000)].labels) == {"app": "llm", "role": "decode", "zone": "a", "tp": "2"}
    assert dict(endpoints[(NS, "a", 9001)].labels) == {"app": "llm", "role": "both", "zone": "a"}


def test_pd16_attributes_cannot_change_selection() -> None:
    pod = make_pod(labels={"app": "other"}, annotations=discovery(("p", 9000, {"app": "llm"})))
    assert compute_endpoints(make_pool(), [pod]) == {}


def test_pd17_annotation_cannot_reach_across_pools_or_namespaces() -> None:
    outside = make_pod("x", labels={"app": "other"}, annotations=discovery(("p", 9000)))
    foreign = make_pod("y", namespace="other-ns", annotations=discovery(("p", 9000)))
    other_pool = make_pod("z", annotations=discovery(("q", 9000)))
    assert compute_endpoints(make_pool(), [outside, foreign, other_pool]) == {}


def test_pd18_annotation_change_diff() -> None:
    store = Datastore(make_pool())
    store.upsert_pod(make_pod(annotations=discovery(("p", 9000), ("p", 9001, {"r": "a"}))))
    diff = store.upsert_pod(make_pod(annotations=discovery(("p", 9001, {"r": "b"}), ("p", 9002))))
    assert [ep.port for ep in diff.added] == [9002]
    assert [ep.port for ep in diff.removed] == [9000]
    assert [(ep.port, ep.labels["r"]) for ep in diff.changed] == [(9001, "b")]
    diff = store.upsert_pod(make_pod())
    assert sorted(ep.port for ep in diff.added) == [8000, 8001]
    assert sorted(ep.port for ep in diff.removed) == [9001, 9002]


def test_pd19_labels_change() -> None:
    store = Datastore(make_pool())
    store.upsert_pod(make_pod())
    diff = store.upsert_pod(make_pod(labels={"app": "llm", "extra": "1"}))
    assert len(diff.changed) == 2 and all(ep.labels["extra"] == "1" for ep in diff.changed)
    diff = store.upsert_pod(make_pod(labels={"app": "other"}))
    assert len(diff.removed) == 2 and not store.endpoints()
    diff = store.upsert_pod(make_pod())
    assert len(diff.added) == 2


@pytest.mark.parametrize("change", [{"ready": False}, {"deleting": True}, {"ip": None}])
def test_pd20_pd21_readiness_termination_and_ip_loss(change: dict[str, object]) -> None:
    store = Datastore(make_pool())
    store.upsert_pod(make_pod(annotations=discovery(("p", 9000))))
    diff = store.upsert_pod(make_pod(annotations=discovery(("p", 9000)), **change))  # type: ignore[arg-type]
    assert len(diff.removed) == 1 and not store.endpoints()
    assert len(store.upsert_pod(make_pod(annotations=discovery(("p", 9000)))).added) == 1


def test_pd21_ip_change_keeps_identity() -> None:
    store = Datastore(make_pool())
    store.upsert_pod(make_pod())
    diff = store.upsert_pod(make_pod(ip="10.0.0.9"))
    assert not diff.added and not diff.removed
    assert sorted(ep.address for ep in diff.changed) == ["10.0.0.9:8000", "10.0.0.9:8001"]


def test_pd22_pod_deletion() -> None:
    store = Datastore(make_pool())
    store.upsert_pod(make_pod(annotations=discovery(("p", 9000), ("p", 9001))))
    store.upsert_pod(make_pod("b"))
    diff = store.delete_pod(NS, "a")
    assert sorted(ep.port for ep in diff.removed) == [9000, 9001]
    assert {key[1] for key in store.endpoints()} == {"b"}
    assert not store.delete_pod(NS, "a")


def test_pd22_deleting_invalid_pod_clears_its_warning() -> None:
    store = Datastore(make_pool())
    store.upsert_pod(make_pod(annotations={PORT_DISCOVERY_ANNOTATION: "[1]"}))
    store.delete_pod(NS, "a")
    assert store.problems() == ()


def test_pd23_pool_selector_and_ports_change_resync() -> None:
    store = Datastore(make_pool())
    store.upsert_pod(make_pod("a"))
    store.upsert_pod(make_pod("b", labels={"app": "llm", "gen": "2"}))
    diff = store.set_pool(make_pool(selector={"gen": "2"}, target_ports=(8001, 8002)))
    assert {ep.key for ep in store.endpoints().values()} == {(NS, "b", 8001), (NS, "b", 8002)}
    assert {ep.key for ep in diff.removed} == {(NS, "a", 8000), (NS, "a", 8001), (NS, "b", 8000)}
    assert [ep.name for ep in diff.changed] == ["b-rank-0"]  # 8001 moved to index 0
    assert [ep.key for ep in diff.added] == [(NS, "b", 8002)]


def test_pd23_pool_rename_switches_port_discovery_entries() -> None:
    store = Datastore(make_pool(name="p"))
    store.upsert_pod(make_pod(annotations=discovery(("p", 9000), ("q", 9001))))
    store.set_pool(make_pool(name="q"))
    assert [key[2] for key in store.endpoints()] == [9001]


def test_pd24_pool_deletion_and_recreation() -> None:
    store = Datastore(make_pool())
    store.upsert_pod(make_pod())
    diff = store.delete_pool()
    assert len(diff.removed) == 2 and not store.endpoints() and store.pool is None
    assert not store.upsert_pod(make_pod("b"))
    store.set_pool(make_pool())
    assert {key[1] for key in store.endpoints()} == {"a", "b"}


def test_pool_spec_rejects_bad_ports() -> None:
    with pytest.raises(ValueError, match=r"targetPorts\[1\] repeats port 8000"):
        PoolSpec("p", NS, {"a": "b"}, (8000, 8000))
    with pytest.raises(ValueError, match=r"targetPorts\[0\] must be a port"):
        PoolSpec("p", NS, {"a": "b"}, (0,))


def test_snapshot_is_immutable_and_stable() -> None:
    store = Datastore(make_pool())
    store.upsert_pod(make_pod())
    snapshot = store.endpoints()
    assert store.endpoints() is snapshot
    store.upsert_pod(make_pod("b"))
    assert len(snapshot) == 2 and len(store.endpoints()) == 4
    with pytest.raises(TypeError):
        snapshot[(NS, "z", 1)] = None  # type: ignore[index]
