"""The deliberately broken variants: each one changes the watch input in its documented way."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eppconf.portdiscovery import ACTIVE_PORTS_ANNOTATION, LLMD_ACTIVE_PORTS_ANNOTATION, PORT_DISCOVERY_ANNOTATION
from eppconf.refepp.faults import FAULTS, FaultChain, PodEvent


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
