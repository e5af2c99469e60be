"""Conformance tests of pods without port discovery: one endpoint per pool targetPort."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.catalogue import Registry
from conformance.features import Feature

if TYPE_CHECKING:
    from conformance.harness.session import Harness

tests = Registry()


@tests.test(
    name="TargetPortsFallback",
    description="A pod without the port-discovery annotation yields one endpoint per pool targetPort.",
    features={Feature.ENDPOINT_PER_TARGET_PORT},
    rules=("PD-10", "PD-13", "PD-15"),
    faults=("no-target-ports-fallback",),
)
def target_ports_fallback(h: Harness) -> None:
    h.create_pool(target_ports=[8000, 8001])
    h.start_epp()
    first, second = h.create_pod("plain-a"), h.create_pod("plain-b")
    h.endpoints_must_converge(first.endpoints(8000, 8001) | second.endpoints(8000, 8001))
