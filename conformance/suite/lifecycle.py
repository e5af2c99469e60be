"""Conformance tests of endpoints following pods through their life in the Kubernetes API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.catalogue import Registry
from conformance.features import Feature

if TYPE_CHECKING:
    from conformance.harness.session import Harness

tests = Registry()


@tests.test(
    name="PodDeletionRemovesEndpoints",
    description="Deleting a multi-port pod removes all of its endpoints and keeps the other pods'.",
    features={Feature.ENDPOINT_PER_TARGET_PORT, Feature.POD_LIFECYCLE},
    rules=("PD-22", "PD-25"),
    faults=("keep-deleted-pods",),
)
def pod_deletion_removes_endpoints(h: Harness) -> None:
    h.create_pool(target_ports=[8000, 8001])
    h.start_epp()
    doomed, survivor = h.create_pod("doomed"), h.create_pod("survivor")
    h.endpoints_must_converge(doomed.endpoints(8000, 8001) | survivor.endpoints(8000, 8001))
    h.delete_pod(doomed)
    h.endpoints_must_converge(survivor.endpoints(8000, 8001))


@tests.test(
    name="UnreadyPodLosesEndpoints",
    description="A pod whose Ready condition turns False loses all of its endpoints; they come back"
                " when it is Ready again.",
    features={Feature.ENDPOINT_PER_TARGET_PORT, Feature.POD_LIFECYCLE},
    rules=("PD-10", "PD-20"),
    faults=("ignore-readiness",),
)
def unready_pod_loses_endpoints(h: Harness) -> None:
    h.create_pool(target_ports=[8000, 8001])
    h.start_epp()
    flaky, steady = h.create_pod("flaky"), h.create_pod("steady")
    everything = flaky.endpoints(8000, 8001) | steady.endpoints(8000, 8001)
    h.endpoints_must_converge(everything)
    h.set_ready(flaky, False)
    h.endpoints_must_converge(steady.endpoints(8000, 8001))
    h.set_ready(flaky, True)
    h.endpoints_must_converge(everything)


@tests.test(
    name="PodReadyLaterGainsEndpoints",
    description="A pod created with its Ready condition False gives no endpoint until it turns Ready.",
    features={Feature.ENDPOINT_PER_TARGET_PORT, Feature.POD_LIFECYCLE},
    rules=("PD-10", "PD-20"),
    faults=("ignore-readiness",),
)
def pod_ready_later_gains_endpoints(h: Harness) -> None:
    h.create_pool(target_ports=[8000, 8001])
    h.start_epp()
    late, steady = h.create_pod("late", ready=False), h.create_pod("steady")
    h.endpoints_must_converge(steady.endpoints(8000, 8001))
    h.set_ready(late, True)
    h.endpoints_must_converge(late.endpoints(8000, 8001) | steady.endpoints(8000, 8001))
