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
)
def port_discovery_expands_pod(h: Harness) -> None:
    h.create_pool(target_ports=[8000])
    pod = h.create_pod("multi", port_discovery=[8001, 8002, 8003])
    h.endpoints_must_converge(pod.endpoints(8001, 8002, 8003))
