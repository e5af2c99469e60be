"""Conformance tests of endpoint identity: a pod's endpoints follow its IP (PD-21) and survive
changes that keep their identity (PD-14)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.catalogue import Registry
from conformance.features import Feature

if TYPE_CHECKING:
    from conformance.harness.session import Harness

tests = Registry()


@tests.test(
    name="PodIpChangeMovesEndpoints",
    description="A pod whose podIP changes gets its endpoints at the new address and none at the old"
                " one (which still answers); a pod whose podIP is cleared loses its endpoints.",
    features={Feature.ENDPOINT_PER_TARGET_PORT, Feature.POD_LIFECYCLE},
    rules=("PD-21", "PD-15", "PD-25"),
    faults=("stale-pod-ip",),
    virtual_pods_only="it changes and clears a running pod's IP, which only a real pod's kubelet owns",
)
def pod_ip_change_moves_endpoints(h: Harness) -> None:
    h.create_pool(target_ports=[8000, 8001])
    h.start_epp()
    mover, steady = h.create_pod("mover"), h.create_pod("steady")
    h.endpoints_must_converge(mover.endpoints(8000, 8001) | steady.endpoints(8000, 8001))
    h.move_pod(mover)
    h.endpoints_must_converge(mover.endpoints(8000, 8001) | steady.endpoints(8000, 8001))
    h.clear_pod_ip(mover)
    h.endpoints_must_converge(steady.endpoints(8000, 8001))


@tests.test(
    name="ReorderedOrReattributedEntriesKeepEndpoints",
    description="Reordering a port-discovery annotation's entries, or changing one entry's attributes,"
                " never removes an endpoint, not even for one observation.",
    features={Feature.PORT_DISCOVERY},
    rules=("PD-14", "PD-18"),
    faults=("recreate-on-change",),
)
def reordered_or_reattributed_entries_keep_endpoints(h: Harness) -> None:
    h.create_pool(target_ports=[8000])
    h.start_epp()
    entries = [{"inferencePool": h.pool, "number": 8001, "attributes": {"llm-d.ai/role": "decode"}},
               {"inferencePool": h.pool, "number": 8002, "attributes": {"llm-d.ai/role": "prefill"}},
               {"inferencePool": h.pool, "number": 8003}]
    pod = h.create_pod("launcher", port_discovery=entries)
    expected = pod.endpoints(8001, 8002, 8003)
    h.endpoints_must_converge(expected)
    h.endpoints_must_stay(expected, while_doing=lambda: h.set_port_discovery(pod, entries[::-1]))
    changed = [entries[0], {**entries[1], "attributes": {"llm-d.ai/role": "decode"}}, entries[2]]
    h.endpoints_must_stay(expected, while_doing=lambda: h.set_port_discovery(pod, changed))
