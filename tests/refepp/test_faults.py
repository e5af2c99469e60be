"""The deliberately broken variants: each one changes the watch input in its documented way."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from eppconf.datastore import Datastore
from eppconf.portdiscovery import ACTIVE_PORTS_ANNOTATION, LLMD_ACTIVE_PORTS_ANNOTATION, PORT_DISCOVERY_ANNOTATION
from eppconf.refepp.faults import FAULTS, FaultChain, PodEvent, PoolEvent, _DropUnderLoad
from eppconf.refepp.state import EndpointState
from eppconf.refepp.watch import Reconciler


def pod(name: str = "p", *, annotations: dict[str, str] | None = None, ready: bool = False,
        deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "ns", "labels": {"app": "x"}}
    if annotations is not None:
        metadata["annotations"] = annotations
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": metadata, "status": {"podIP": "127.0.0.2", "conditions": [
        {"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True" if ready else "False"}]}}


def entries(*pools_ports: tuple[str, int]) -> str:
    return json.dumps([{"inferencePool": pool, "number": port} for pool, port in pools_ports])


def apply(names: list[str], event: PodEvent) -> PodEvent | None:
    return FaultChain(names, pool_name="mine")(event)


def test_no_fault_passes_events_unchanged() -> None:
    event = PodEvent("upsert", pod(annotations={PORT_DISCOVERY_ANNOTATION: entries(("mine", 8000))}))
    assert apply([], event) is event


def test_unknown_fault_is_refused_with_the_known_names() -> None:
    with pytest.raises(ValueError, match="unknown fault.*bogus.*ignore-readiness"):
        FaultChain(["bogus"], pool_name="mine")


def test_ignore_port_discovery_drops_only_that_annotation() -> None:
    original = pod(annotations={PORT_DISCOVERY_ANNOTATION: entries(("mine", 8000)), ACTIVE_PORTS_ANNOTATION: "8000"})
    result = apply(["ignore-port-discovery"], PodEvent("upsert", original))
    assert result is not None
    assert result.pod["metadata"]["annotations"] == {ACTIVE_PORTS_ANNOTATION: "8000"}
    assert PORT_DISCOVERY_ANNOTATION in original["metadata"]["annotations"], "the input must not be mutated"


def test_ignore_active_ports_drops_both_keys_and_nothing_else() -> None:
    annotations = {ACTIVE_PORTS_ANNOTATION: "8000", LLMD_ACTIVE_PORTS_ANNOTATION: "8001",
                   PORT_DISCOVERY_ANNOTATION: entries(("mine", 8002))}
    result = apply(["ignore-active-ports"], PodEvent("upsert", pod(annotations=annotations)))
    assert result is not None
    assert result.pod["metadata"]["annotations"] == {PORT_DISCOVERY_ANNOTATION: entries(("mine", 8002))}


def test_ignore_llmd_active_ports_keeps_the_gie_key() -> None:
    annotations = {ACTIVE_PORTS_ANNOTATION: "8000", LLMD_ACTIVE_PORTS_ANNOTATION: "8001"}
    result = apply(["ignore-llmd-active-ports"], PodEvent("upsert", pod(annotations=annotations)))
    assert result is not None and result.pod["metadata"]["annotations"] == {ACTIVE_PORTS_ANNOTATION: "8000"}


def test_no_target_ports_fallback_gives_unannotated_pods_an_empty_list() -> None:
    result = apply(["no-target-ports-fallback"], PodEvent("upsert", pod()))
    assert result is not None and result.pod["metadata"]["annotations"] == {PORT_DISCOVERY_ANNOTATION: "[]"}
    annotated = {PORT_DISCOVERY_ANNOTATION: entries(("mine", 8000))}
    kept = apply(["no-target-ports-fallback"], PodEvent("upsert", pod(annotations=annotated)))
    assert kept is not None and kept.pod["metadata"]["annotations"] == annotated


def test_keep_deleted_pods_drops_deletions_and_deletion_timestamps() -> None:
    assert apply(["keep-deleted-pods"], PodEvent("delete", pod())) is None
    result = apply(["keep-deleted-pods"], PodEvent("upsert", pod(deleting=True)))
    assert result is not None and "deletionTimestamp" not in result.pod["metadata"]


def test_ignore_readiness_marks_every_pod_ready() -> None:
    result = apply(["ignore-readiness"], PodEvent("upsert", pod(ready=False)))
    assert result is not None
    ready = [c for c in result.pod["status"]["conditions"] if c["type"] == "Ready"]
    assert ready == [{"type": "Ready", "status": "True"}]
    assert apply(["ignore-readiness"], PodEvent("delete", pod())) == PodEvent("delete", pod())


def test_ignore_pool_name_claims_entries_of_every_pool() -> None:
    event = PodEvent("upsert", pod(annotations={PORT_DISCOVERY_ANNOTATION: entries(("other", 8000), ("mine", 8001))}))
    result = apply(["ignore-pool-name"], event)
    assert result is not None
    value = json.loads(result.pod["metadata"]["annotations"][PORT_DISCOVERY_ANNOTATION])
    assert value == [{"inferencePool": "mine", "number": 8000}, {"inferencePool": "mine", "number": 8001}]


def test_ignore_pool_name_leaves_invalid_values_alone() -> None:
    event = PodEvent("upsert", pod(annotations={PORT_DISCOVERY_ANNOTATION: "{not json"}))
    assert apply(["ignore-pool-name"], event) == event


def test_stale_annotation_keeps_the_first_value_seen_per_pod() -> None:
    chain = FaultChain(["stale-annotation"], pool_name="mine")
    first = {PORT_DISCOVERY_ANNOTATION: entries(("mine", 8000)), "other": "1"}
    chain(PodEvent("upsert", pod("a", annotations=first)))
    chain(PodEvent("upsert", pod("b")))
    later = chain(PodEvent("upsert", pod("a", annotations={PORT_DISCOVERY_ANNOTATION: entries(("mine", 8001)),
                                                           "other": "2"})))
    assert later is not None
    assert later.pod["metadata"]["annotations"] == {PORT_DISCOVERY_ANNOTATION: entries(("mine", 8000)), "other": "2"}
    b_later = chain(PodEvent("upsert", pod("b", annotations={PORT_DISCOVERY_ANNOTATION: entries(("mine", 9))})))
    assert b_later is not None and b_later.pod["metadata"]["annotations"] == {}


def test_faults_compose_in_order() -> None:
    result = apply(["ignore-readiness", "keep-deleted-pods"], PodEvent("upsert", pod(deleting=True)))
    assert result is not None and "deletionTimestamp" not in result.pod["metadata"]
    assert {"type": "Ready", "status": "True"} in result.pod["status"]["conditions"]


def test_every_fault_is_documented_in_the_module() -> None:
    import eppconf.refepp.faults as module

    assert module.__doc__ is not None
    for name in FAULTS:
        assert f"``{name}``" in module.__doc__


POOL_NAME = "mine"


def pool_manifest(selector: dict[str, str] | None = None, ports: list[int] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"matchLabels": selector or {"app": "x"}}}
    if ports:
        spec["targetPorts"] = [{"number": port} for port in ports]
    return {"apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool",
            "metadata": {"name": POOL_NAME, "namespace": "ns"}, "spec": spec}


def running(name: str, ip: str, *, labels: dict[str, str] | None = None,
            annotations: dict[str, str] | None = None, container_ports: list[int] | None = None) -> dict[str, Any]:
    manifest = pod(name, annotations=annotations, ready=True)
    manifest["metadata"]["labels"] = labels or {"app": "x"}
    manifest["status"]["podIP"] = ip
    manifest["spec"] = {"containers": [{"name": "m", "ports": [{"containerPort": p} for p in container_ports or []]}]}
    return manifest


def reconciler(*faults: str) -> tuple[Reconciler, EndpointState]:
    state = EndpointState(pool_name=POOL_NAME, pool_namespace="ns")
    return Reconciler(Datastore(), state, faults=FaultChain(faults, pool_name=POOL_NAME)), state


def addresses(state: EndpointState) -> set[str]:
    return {candidate.address for candidate in state.candidates()}


def test_pool_events_pass_unchanged_without_pool_faults() -> None:
    event = PoolEvent("set", pool_manifest())
    assert FaultChain(["ignore-readiness"], pool_name=POOL_NAME).pool(event) is event


def test_ignore_pool_updates_keeps_the_first_selector_and_target_ports() -> None:
    chain = FaultChain(["ignore-pool-updates"], pool_name=POOL_NAME)
    assert chain.pool(PoolEvent("set", pool_manifest(ports=[8000]))) == PoolEvent("set", pool_manifest(ports=[8000]))
    later = chain.pool(PoolEvent("set", pool_manifest({"app": "y"}, ports=[9000, 9001])))
    assert later == PoolEvent("set", pool_manifest(ports=[8000]))
    assert chain.pool(PoolEvent("delete", {})) == PoolEvent("delete", {})
    assert chain.pool(PoolEvent("set", pool_manifest())) == PoolEvent("set", pool_manifest(ports=[8000]))


def test_ignore_pool_updates_keeps_target_ports_absent_when_they_were() -> None:
    chain = FaultChain(["ignore-pool-updates"], pool_name=POOL_NAME)
    chain.pool(PoolEvent("set", pool_manifest()))
    assert chain.pool(PoolEvent("set", pool_manifest(ports=[8000]))) == PoolEvent("set", pool_manifest())


def test_ignore_selector_updates_follows_target_ports() -> None:
    chain = FaultChain(["ignore-selector-updates"], pool_name=POOL_NAME)
    chain.pool(PoolEvent("set", pool_manifest(ports=[8000])))
    later = chain.pool(PoolEvent("set", pool_manifest({"app": "y"}, ports=[9000])))
    assert later == PoolEvent("set", pool_manifest(ports=[9000]))


def test_keep_endpoints_without_pool_ignores_the_deletion() -> None:
    rec, state = reconciler("keep-endpoints-without-pool")
    rec.pool_listed([pool_manifest(ports=[8000])])
    rec.pods_listed([running("a", "127.0.0.2")])
    rec.pool_event("DELETED", pool_manifest(ports=[8000]))
    assert addresses(state) == {"127.0.0.2:8000"}


def test_pool_read_once_ignores_every_later_pool_event() -> None:
    rec, state = reconciler("pool-read-once")
    rec.pool_listed([])
    rec.pods_listed([running("a", "127.0.0.2")])
    rec.pool_event("ADDED", pool_manifest(ports=[8000]))
    assert addresses(state) == set() and not state.synced


def test_drop_pod_events_without_pool_keeps_the_pods_as_they_were() -> None:
    rec, state = reconciler("drop-pod-events-without-pool")
    rec.pool_listed([pool_manifest(ports=[8000])])
    rec.pods_listed([running("a", "127.0.0.2")])
    rec.pool_event("DELETED", {})
    rec.pod_event("DELETED", running("a", "127.0.0.2"))
    rec.pod_event("ADDED", running("b", "127.0.0.3"))
    rec.pool_event("ADDED", pool_manifest(ports=[8000]))
    assert addresses(state) == {"127.0.0.2:8000"}


def test_container_ports_without_target_ports_serves_the_container_ports() -> None:
    rec, state = reconciler("container-ports-without-target-ports")
    rec.pool_listed([pool_manifest()])
    declared = {PORT_DISCOVERY_ANNOTATION: entries((POOL_NAME, 8005))}
    rec.pods_listed([running("plain", "127.0.0.2", container_ports=[8000, 8001]),
                     running("declared", "127.0.0.3", annotations=declared, container_ports=[8005, 8006])])
    assert addresses(state) == {"127.0.0.2:8000", "127.0.0.2:8001", "127.0.0.3:8005"}


def test_container_ports_are_not_used_when_the_pool_has_target_ports() -> None:
    rec, state = reconciler("container-ports-without-target-ports")
    rec.pool_listed([pool_manifest(ports=[8000])])
    rec.pods_listed([running("plain", "127.0.0.2", container_ports=[8001])])
    assert addresses(state) == {"127.0.0.2:8000"}


def test_no_resync_on_pool_change_freezes_pods_until_their_next_event() -> None:
    rec, state = reconciler("no-resync-on-pool-change")
    rec.pool_listed([pool_manifest(ports=[8000])])
    rec.pods_listed([running("a", "127.0.0.2"), running("b", "127.0.0.3", labels={"app": "y"})])
    rec.pool_event("MODIFIED", pool_manifest({"app": "y"}, ports=[8001]))
    assert addresses(state) == {"127.0.0.2:8000"}
    rec.pool_event("MODIFIED", pool_manifest({"app": "y"}, ports=[8002]))
    assert addresses(state) == {"127.0.0.2:8000"}, "a second change keeps the first frozen endpoints"
    rec.pod_event("MODIFIED", running("b", "127.0.0.3", labels={"app": "y"}))
    rec.pod_event("MODIFIED", running("a", "127.0.0.2"))
    assert addresses(state) == {"127.0.0.3:8002"}


def test_no_resync_on_pool_change_still_resyncs_a_new_pool() -> None:
    rec, state = reconciler("no-resync-on-pool-change")
    rec.pods_listed([running("a", "127.0.0.2")])
    rec.pool_listed([pool_manifest(ports=[8000])])
    assert addresses(state) == {"127.0.0.2:8000"}
    rec.pool_event("DELETED", {})
    rec.pool_event("ADDED", pool_manifest(ports=[8001]))
    assert addresses(state) == {"127.0.0.2:8001"}


def test_resync_drops_annotations_on_a_pool_change_only() -> None:
    rec, state = reconciler("resync-drops-annotations")
    rec.pool_listed([pool_manifest(ports=[8000, 8001])])
    annotated = running("a", "127.0.0.2", annotations={ACTIVE_PORTS_ANNOTATION: "8001"})
    rec.pods_listed([annotated])
    assert addresses(state) == {"127.0.0.2:8001"}
    rec.pool_event("MODIFIED", pool_manifest(ports=[8000, 8001, 8002]))
    assert addresses(state) == {"127.0.0.2:8000", "127.0.0.2:8001", "127.0.0.2:8002"}
    rec.pod_event("MODIFIED", annotated)
    assert addresses(state) == {"127.0.0.2:8001"}


def test_miss_some_deletes_loses_every_third_deletion() -> None:
    chain = FaultChain(["miss-some-deletes"], pool_name=POOL_NAME)
    deletes = [chain(PodEvent("delete", pod(str(i)))) for i in range(6)]
    assert [event is None for event in deletes] == [False, False, True, False, False, True]
    assert chain(PodEvent("upsert", pod())) == PodEvent("upsert", pod())


def test_drop_events_under_load_loses_events_past_the_limit_within_the_window() -> None:
    now = [0.0]
    fault = _DropUnderLoad(limit=3, window=1.0, clock=lambda: now[0])
    kept = []
    for step in (0.0, 0.1, 0.2, 0.3, 0.4, 1.35, 3.0):
        now[0] = step
        kept.append(fault(PodEvent("upsert", pod())) is not None)
    assert kept == [True, True, True, False, False, True, True]


def test_drop_events_under_load_is_registered_with_ten_events_a_second() -> None:
    chain = FaultChain(["drop-events-under-load"], pool_name=POOL_NAME)
    results = [chain(PodEvent("upsert", pod(str(i)))) for i in range(12)]
    assert [event is None for event in results] == [False] * 10 + [True, True]


def annotation_after(names: list[str], value: str) -> str | None:
    result = apply(names, PodEvent("upsert", pod(annotations={PORT_DISCOVERY_ANNOTATION: value})))
    assert result is not None
    return result.pod["metadata"]["annotations"].get(PORT_DISCOVERY_ANNOTATION)


def test_invalid_annotation_as_absent_drops_only_invalid_values() -> None:
    assert annotation_after(["invalid-annotation-as-absent"], "[8000]") is None
    assert annotation_after(["invalid-annotation-as-absent"], entries(("mine", 8000))) == entries(("mine", 8000))


@pytest.mark.parametrize(("value", "expected"), [
    ('{"inferencePool": "mine", "number": 8000}', [("mine", 8000)]),
    ('[{"inferencePool": " Mine\\n", "number": "8000", "port": 1, "attributes": {"my role": 2}}]', [("mine", 8000)]),
    ('[{"inferencePool": "mine", "number": 8000.5}, {"inferencePool": "mine", "number": 8000}]', [("mine", 8000)]),
    ('[{"inferencePool": "mine", "number": NaN}, {"number": 1}, 5, {"inferencePool": "mine", "number": 0}]', []),
    ('[{"inferencePool": "mine", "number": 8000, "number": 8001}]', [("mine", 8001)]),
])
def test_lenient_annotation_rewrites_what_it_can_read_as_a_valid_value(value: str,
                                                                       expected: list[tuple[str, int]]) -> None:
    assert annotation_after(["lenient-annotation"], value) == entries(*expected)


def test_lenient_annotation_keeps_at_most_64_entries_and_leaves_non_json_alone() -> None:
    many = json.dumps([{"inferencePool": "mine", "number": 8000 + i} for i in range(70)])
    result = annotation_after(["lenient-annotation"], many)
    assert result is not None and len(json.loads(result)) == 64
    assert annotation_after(["lenient-annotation"], "qwen:8000") == "qwen:8000"


def test_keep_endpoints_on_invalid_annotation_replays_the_last_valid_value() -> None:
    chain = FaultChain(["keep-endpoints-on-invalid-annotation"], pool_name="mine")

    def through(name: str, value: str) -> str:
        result = chain(PodEvent("upsert", pod(name, annotations={PORT_DISCOVERY_ANNOTATION: value})))
        assert result is not None
        return result.pod["metadata"]["annotations"][PORT_DISCOVERY_ANNOTATION]

    assert through("a", "[8000]") == "[8000]", "no valid value seen yet: unchanged"
    assert through("a", entries(("mine", 8000))) == entries(("mine", 8000))
    assert through("a", "[8001]") == entries(("mine", 8000))
    assert through("b", "[8001]") == "[8001]"


def test_ignore_namespace_moves_pods_into_the_pools_namespace_and_widens_the_watch() -> None:
    chain = FaultChain(["ignore-namespace"], pool_name="mine")
    assert chain.watches_all_namespaces and not FaultChain([], pool_name="mine").watches_all_namespaces
    before = chain(PodEvent("upsert", pod()))
    assert before is not None and before.pod["metadata"]["namespace"] == "ns", "namespace unknown yet"
    chain.pool(PoolEvent("set", {"metadata": {"name": "mine", "namespace": "home"}}))
    after = chain(PodEvent("delete", pod()))
    assert after is not None and after.kind == "delete" and after.pod["metadata"]["namespace"] == "home"


def test_ignore_deletion_timestamp_keeps_deletions() -> None:
    result = apply(["ignore-deletion-timestamp"], PodEvent("upsert", pod(deleting=True)))
    assert result is not None and "deletionTimestamp" not in result.pod["metadata"]
    assert apply(["ignore-deletion-timestamp"], PodEvent("delete", pod())) == PodEvent("delete", pod())


def test_host_ip_fallback_addresses_pods_without_ip_at_their_host() -> None:
    without_ip = {"metadata": {"name": "p"}, "status": {"hostIP": "127.0.0.9"}}
    result = apply(["host-ip-fallback"], PodEvent("upsert", without_ip))
    assert result is not None and result.pod["status"]["podIP"] == "127.0.0.9"
    with_ip = pod()
    with_ip["status"]["hostIP"] = "127.0.0.9"
    assert apply(["host-ip-fallback"], PodEvent("upsert", with_ip)) == PodEvent("upsert", with_ip)


def test_stale_labels_keeps_the_first_labels_seen_per_pod() -> None:
    chain = FaultChain(["stale-labels"], pool_name="mine")
    chain(PodEvent("upsert", pod()))
    relabelled = pod()
    relabelled["metadata"]["labels"] = {"app": "y"}
    result = chain(PodEvent("upsert", relabelled))
    assert result is not None and result.pod["metadata"]["labels"] == {"app": "x"}


def with_ip(ip: str | None) -> dict[str, Any]:
    manifest = pod()
    manifest["status"].pop("podIP")
    if ip is not None:
        manifest["status"]["podIP"] = ip
    return manifest


def test_stale_pod_ip_keeps_the_first_ip_through_changes_and_clearing() -> None:
    chain = FaultChain(["stale-pod-ip"], pool_name="mine")
    first = chain(PodEvent("upsert", with_ip(None)))
    assert first is not None and "podIP" not in first.pod["status"], "nothing to remember yet"
    for ip in ("127.0.0.2", "127.0.0.3", None):
        result = chain(PodEvent("upsert", with_ip(ip)))
        assert result is not None and result.pod["status"]["podIP"] == "127.0.0.2"


def test_recreate_on_change_deletes_then_replays_the_latest_update(monkeypatch: pytest.MonkeyPatch) -> None:
    import eppconf.refepp.faults as module

    monkeypatch.setattr(module, "RECREATE_DELAY", 0.05)
    chain = FaultChain(["recreate-on-change"], pool_name="mine")
    replayed: list[PodEvent] = []
    chain.bind(replayed.append)
    created, superseded, latest = (PodEvent("upsert", with_ip(ip)) for ip in ("127.0.0.2", "127.0.0.3", "127.0.0.4"))
    assert chain(created) is created
    for update in (superseded, latest):
        held = chain(update)
        assert held is not None and held.kind == "delete" and held.pod == update.pod
    deadline = time.monotonic() + 5
    while not replayed and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert replayed == [latest]
    assert chain(PodEvent("delete", pod())).kind == "delete"  # type: ignore[union-attr]
    assert chain(created) is created, "a deleted pod counts as new again"


def test_miss_some_deletes_loses_the_deletion_timestamp_of_a_lost_deletion_too() -> None:
    chain = FaultChain(["miss-some-deletes"], pool_name=POOL_NAME)
    for name in ("a", "b"):
        assert chain(PodEvent("delete", pod(name))) is not None
    assert chain(PodEvent("upsert", pod("c", deleting=True))) is None
    assert chain(PodEvent("delete", pod("c"))) is None
    assert chain(PodEvent("upsert", pod("c"))) == PodEvent("upsert", pod("c")), "a pod created again is seen"
    assert chain(PodEvent("upsert", pod("c", deleting=True))) is not None
