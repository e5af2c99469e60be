"""Conformance tests of which port source wins for a pod, and of pods the EPP finds at start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.catalogue import Registry
from conformance.features import Feature
from eppconf.portdiscovery import ACTIVE_PORTS_ANNOTATION, LLMD_ACTIVE_PORTS_ANNOTATION, PORT_DISCOVERY_ANNOTATION

if TYPE_CHECKING:
    from conformance.harness.session import Harness

tests = Registry()

BOTH_ACTIVE_PORTS = {ACTIVE_PORTS_ANNOTATION: "8000", LLMD_ACTIVE_PORTS_ANNOTATION: "8001"}


@tests.test(
    name="PortDiscoveryWinsOverActivePorts",
    description="A pod with both port-discovery and active-ports annotations gets exactly its declared"
                " ports; a valid annotation with no entry for the pool gives nothing, not the filtered"
                " targetPorts.",
    features={Feature.PORT_DISCOVERY},
    rules=("PD-11", "PD-12"),
    faults=("ignore-port-discovery",),
)
def port_discovery_wins_over_active_ports(h: Harness) -> None:
    h.create_pool(target_ports=[8000, 8001])
    h.start_epp()
    declared = h.create_pod("declared", port_discovery=[8002], annotations=BOTH_ACTIVE_PORTS)
    h.create_pod("declares-none", port_discovery=[], annotations=BOTH_ACTIVE_PORTS)
    plain = h.create_pod("plain")
    h.endpoints_must_converge(declared.endpoints(8002) | plain.endpoints(8000, 8001))


@tests.test(
    name="InvalidPortDiscoveryIgnoresActivePorts",
    description="A pod whose port-discovery annotation is invalid gives no endpoint even when it also"
                " carries active-ports: it never falls back; fixing the annotation brings its ports.",
    features={Feature.PORT_DISCOVERY},
    rules=("PD-9", "PD-11"),
    faults=("invalid-annotation-as-absent",),
)
def invalid_port_discovery_ignores_active_ports(h: Harness) -> None:
    h.create_pool(target_ports=[8000, 8001])
    h.start_epp()
    broken = h.create_pod("broken", serving=[8002],
                          annotations={PORT_DISCOVERY_ANNOTATION: '[{"inferencePool": "pool"}]',
                                       **BOTH_ACTIVE_PORTS})
    plain = h.create_pod("plain")
    h.endpoints_must_converge(plain.endpoints(8000, 8001))
    h.set_port_discovery(broken, [8002])
    h.endpoints_must_converge(broken.endpoints(8002) | plain.endpoints(8000, 8001))


@tests.test(
    name="PodsPresentAtStartAreServed",
    description="An EPP started after its pool and pods exist serves exactly what they give: declared"
                " ports, targetPorts for the others, nothing for unready pods or pods of other labels.",
    features={Feature.ENDPOINT_PER_TARGET_PORT, Feature.POD_LIFECYCLE, Feature.PORT_DISCOVERY},
    rules=("PD-10", "PD-11", "PD-13", "PD-25"),
    faults=("ignore-port-discovery", "ignore-readiness"),
)
def pods_present_at_start_are_served(h: Harness) -> None:
    h.create_pool(target_ports=[8000])
    declared = h.create_pod("declared", port_discovery=[8001, 8002])
    plain = h.create_pod("plain")
    h.create_pod("unready", ready=False)
    h.create_pod("unlabelled", labels={"app": "elsewhere"})
    h.start_epp()
    h.endpoints_must_converge(declared.endpoints(8001, 8002) | plain.endpoints(8000))
