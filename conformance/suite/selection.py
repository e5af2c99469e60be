"""Conformance tests of which pods count for a pool (PD-10) and of label changes (PD-19)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.catalogue import Registry
from conformance.features import Feature

if TYPE_CHECKING:
    from conformance.harness.session import Harness

tests = Registry()


@tests.test(
    name="OtherNamespacePodsIgnored",
    description="Pods of another namespace give the pool no endpoint, even with the pool's labels and"
                " an annotation naming the pool.",
    features={Feature.PORT_DISCOVERY},
    rules=("PD-10", "PD-17"),
    faults=("ignore-namespace",),
)
def other_namespace_pods_ignored(h: Harness) -> None:
    h.create_pool(target_ports=[8000])
    h.start_epp()
    h.create_pod("foreign-annotated", port_discovery=[8000, 8001], other_namespace=True)
    h.create_pod("foreign-plain", other_namespace=True)
    local = h.create_pod("local", port_discovery=[8001])
    h.endpoints_must_converge(local.endpoints(8001))


@tests.test(
    name="TerminatingPodLosesEndpoints",
    description="A pod that gets a deletionTimestamp (a finalizer keeps it in the API, still Ready)"
                " loses all of its endpoints; the other pods keep theirs.",
    features={Feature.ENDPOINT_PER_TARGET_PORT, Feature.POD_LIFECYCLE},
    rules=("PD-10", "PD-20"),
    faults=("ignore-deletion-timestamp",),
    virtual_pods_only="a real kubelet turns a deleted pod un-Ready as it stops its containers, so the pod"
                      " cannot stay Ready with a deletionTimestamp",
)
def terminating_pod_loses_endpoints(h: Harness) -> None:
    h.create_pool(target_ports=[8000, 8001])
    h.start_epp()
    leaving, staying = h.create_pod("leaving"), h.create_pod("staying")
    h.endpoints_must_converge(leaving.endpoints(8000, 8001) | staying.endpoints(8000, 8001))
    h.terminate_pod(leaving)
    h.endpoints_must_converge(staying.endpoints(8000, 8001))


@tests.test(
    name="PodWithoutIpGivesNoEndpoint",
    description="A Ready pod without status.podIP gives no endpoint (not even at its host's address);"
                " once it has a pod IP it gives its endpoints there.",
    features={Feature.ENDPOINT_PER_TARGET_PORT, Feature.POD_LIFECYCLE},
    rules=("PD-10", "PD-15"),
    faults=("host-ip-fallback",),
    virtual_pods_only="it needs a Ready pod without a pod IP, which a real kubelet never reports",
)
def pod_without_ip_gives_no_endpoint(h: Harness) -> None:
    h.create_pool(target_ports=[8000, 8001])
    h.start_epp()
    pending = h.create_pod("pending", with_ip=False)
    steady = h.create_pod("steady")
    h.endpoints_must_converge(steady.endpoints(8000, 8001))
    h.give_pod_ip(pending)
    h.endpoints_must_converge(steady.endpoints(8000, 8001) | pending.endpoints(8000, 8001))


@tests.test(
    name="LabelsFollowSelector",
    description="A pod whose labels stop matching the pool's selector loses its endpoints and gets them"
                " back when they match again; a pod that starts matching gains its endpoints.",
    features={Feature.ENDPOINT_PER_TARGET_PORT, Feature.POD_LIFECYCLE},
    rules=("PD-10", "PD-19"),
    faults=("stale-labels",),
)
def labels_follow_selector(h: Harness) -> None:
    from conformance.harness.session import POOL_LABEL  # the catalogue imports without the harness

    h.create_pool(target_ports=[8000, 8001])
    h.start_epp()
    mover, steady = h.create_pod("mover"), h.create_pod("steady")
    newcomer = h.create_pod("newcomer", labels={POOL_LABEL: "another-pool"})
    h.endpoints_must_converge(mover.endpoints(8000, 8001) | steady.endpoints(8000, 8001))
    h.relabel_pod(mover, {POOL_LABEL: "another-pool"})
    h.endpoints_must_converge(steady.endpoints(8000, 8001))
    h.relabel_pod(mover, {POOL_LABEL: h.pool})
    h.relabel_pod(newcomer, {POOL_LABEL: h.pool})
    h.endpoints_must_converge(mover.endpoints(8000, 8001) | steady.endpoints(8000, 8001)
                              | newcomer.endpoints(8000, 8001))


@tests.test(
    name="UnrelatedLabelChangeKeepsEndpoints",
    description="Adding, changing and removing labels that the selector does not use never removes"
                " an endpoint, not even for one observation.",
    features={Feature.ENDPOINT_PER_TARGET_PORT, Feature.POD_LIFECYCLE},
    rules=("PD-19", "PD-14"),
    faults=("recreate-on-change",),
)
def unrelated_label_change_keeps_endpoints(h: Harness) -> None:
    h.create_pool(target_ports=[8000, 8001])
    h.start_epp()
    relabelled, steady = h.create_pod("relabelled"), h.create_pod("steady")
    everything = relabelled.endpoints(8000, 8001) | steady.endpoints(8000, 8001)
    h.endpoints_must_converge(everything)
    h.endpoints_must_stay(everything, while_doing=lambda: h.relabel_pod(relabelled, {"version": "v1", "tier": "a"}))
    h.endpoints_must_stay(everything, while_doing=lambda: h.relabel_pod(relabelled, {"version": "v2", "tier": None}))
