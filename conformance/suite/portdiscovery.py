"""Conformance tests of the port-discovery annotation expanding a pod into one endpoint per port."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.catalogue import Registry
from conformance.features import Feature

if TYPE_CHECKING:
    from conformance.harness.session import Harness

tests = Registry()


@tests.test(
    name="PortDiscoveryExpandsPod",
    description="A pod annotated with three ports of its pool yields exactly those three endpoints,"
                " not the pool's targetPorts.",
    features={Feature.PORT_DISCOVERY},
    rules=("PD-11", "PD-15"),
    faults=("ignore-port-discovery",),
)
def port_discovery_expands_pod(h: Harness) -> None:
    h.create_pool(target_ports=[8000])
    h.start_epp()
    pod = h.create_pod("multi", port_discovery=[8001, 8002, 8003])
    h.endpoints_must_converge(pod.endpoints(8001, 8002, 8003))


@tests.test(
    name="PortDiscoveryFollowsAnnotation",
    description="Changing the annotation adds and removes exactly the changed ports; removing it"
                " falls back to the pool's targetPorts.",
    features={Feature.PORT_DISCOVERY},
    rules=("PD-13", "PD-18"),
    faults=("stale-annotation",),
)
def port_discovery_follows_annotation(h: Harness) -> None:
    h.create_pool(target_ports=[8000])
    h.start_epp()
    pod = h.create_pod("switching", port_discovery=[8001, 8002])
    h.endpoints_must_converge(pod.endpoints(8001, 8002))
    h.set_port_discovery(pod, [8002, 8003])
    h.endpoints_must_converge(pod.endpoints(8002, 8003))
    h.set_port_discovery(pod, None)
    h.endpoints_must_converge(pod.endpoints(8000))


@tests.test(
    name="PortDiscoveryIgnoresOtherPools",
    description="Entries naming another pool give this pool no endpoint, even from a pod its"
                " selector matches.",
    features={Feature.PORT_DISCOVERY},
    rules=("PD-11", "PD-17"),
    faults=("ignore-pool-name",),
)
def port_discovery_ignores_other_pools(h: Harness) -> None:
    h.create_pool(target_ports=[8000])
    h.start_epp()
    other_pool = {"inferencePool": "another-pool", "number": 8005}
    mixed = h.create_pod("mixed", port_discovery=[8001, other_pool])
    h.create_pod("foreign", port_discovery=[other_pool])
    h.endpoints_must_converge(mixed.endpoints(8001))
