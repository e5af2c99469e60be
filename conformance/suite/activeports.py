"""Conformance tests of the upstream active-ports annotations filtering a pool's targetPorts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.catalogue import Registry
from conformance.features import Feature
from eppconf.portdiscovery import ACTIVE_PORTS_ANNOTATION, LLMD_ACTIVE_PORTS_ANNOTATION

if TYPE_CHECKING:
    from conformance.harness.session import Harness

tests = Registry()


@tests.test(
    name="ActivePortsFiltersTargetPorts",
    description="inference.networking.k8s.io/active-ports keeps only the listed targetPorts: items"
                " are trimmed, junk and ports outside targetPorts ignored, an empty value keeps none;"
                " changing it moves the endpoints.",
    features={Feature.ENDPOINT_PER_TARGET_PORT, Feature.ACTIVE_PORTS},
    rules=("PD-12", "PD-18"),
    faults=("ignore-active-ports",),
)
def active_ports_filters_target_ports(h: Harness) -> None:
    h.create_pool(target_ports=[8000, 8001, 8002])
    h.start_epp()
    listed = h.create_pod("listed", annotations={ACTIVE_PORTS_ANNOTATION: " 8000 , 8002"})
    h.create_pod("silenced", annotations={ACTIVE_PORTS_ANNOTATION: ""})
    messy = h.create_pod("messy", annotations={ACTIVE_PORTS_ANNOTATION: "8001,9999,abc,8001"})
    h.endpoints_must_converge(listed.endpoints(8000, 8002) | messy.endpoints(8001))
    h.annotate(listed, {ACTIVE_PORTS_ANNOTATION: "8001"})
    h.endpoints_must_converge(listed.endpoints(8001) | messy.endpoints(8001))


@tests.test(
    name="LlmdActivePortsTakesPrecedence",
    description="llm-d.ai/active-ports filters targetPorts like the GIE key, and wins over it when"
                " a pod carries both.",
    features={Feature.ENDPOINT_PER_TARGET_PORT, Feature.ACTIVE_PORTS, Feature.LLMD_ACTIVE_PORTS},
    rules=("PD-12",),
    faults=("ignore-llmd-active-ports",),
)
def llmd_active_ports_takes_precedence(h: Harness) -> None:
    h.create_pool(target_ports=[8000, 8001, 8002])
    h.start_epp()
    both = h.create_pod("both", annotations={LLMD_ACTIVE_PORTS_ANNOTATION: "8001",
                                             ACTIVE_PORTS_ANNOTATION: "8000,8002"})
    llmd_only = h.create_pod("llmd-only", annotations={LLMD_ACTIVE_PORTS_ANNOTATION: "8002"})
    h.endpoints_must_converge(both.endpoints(8001) | llmd_only.endpoints(8002))
