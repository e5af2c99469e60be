"""Conformance tests of pool events: selector and targetPorts changes, deletion and creation."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from conformance.catalogue import Registry
from conformance.features import Feature
from eppconf.portdiscovery import ACTIVE_PORTS_ANNOTATION

if TYPE_CHECKING:
    from conformance.harness.session import Harness

tests = Registry()

POOL_ABSENT_SECONDS = 3.0
"""How long an EPP started before its pool runs without it: time to have looked for the pool."""


def _must_answer_503(h: Harness) -> None:
    """A request without a hint gets an ext_proc ImmediateResponse 503 (a broken stream fails too)."""
    assert h.gateway is not None, "start_epp() starts the EPP; call it first"
    decision = h.gateway.decide(h.settings.observer.model)
    assert decision.status == 503, f"with no pool the EPP must answer 503; it answered with {decision.describe()}"


@tests.test(
    name="PoolSelectorChangeReevaluatesPods",
    description="When the pool's selector changes, pods that stop matching lose their endpoints and"
                " pods that start matching gain them.",
    features={Feature.ENDPOINT_PER_TARGET_PORT},
    rules=("PD-10", "PD-23"),
    faults=("ignore-pool-updates", "ignore-selector-updates", "no-resync-on-pool-change"),
)
def pool_selector_change_reevaluates_pods(h: Harness) -> None:
    h.create_pool(target_ports=[8000])
    h.start_epp()
    gold, silver, plain = h.create_pod("gold"), h.create_pod("silver"), h.create_pod("plain")
    h.relabel_pod(gold, {"tier": "gold"})
    h.relabel_pod(silver, {"tier": "silver"})
    h.endpoints_must_converge(gold.endpoints(8000) | silver.endpoints(8000) | plain.endpoints(8000))
    h.update_pool(selector={"tier": "gold"})
    h.endpoints_must_converge(gold.endpoints(8000))
    h.update_pool(selector={"tier": "silver"})
    h.endpoints_must_converge(silver.endpoints(8000))


@tests.test(
    name="PoolTargetPortsChangeReevaluatesPods",
    description="When the pool's targetPorts gain, lose or reorder ports, every pod without an"
                " annotation gets exactly one endpoint per targetPort again.",
    features={Feature.ENDPOINT_PER_TARGET_PORT},
    rules=("PD-13", "PD-23"),
    faults=("ignore-pool-updates", "no-resync-on-pool-change"),
)
def pool_target_ports_change_reevaluates_pods(h: Harness) -> None:
    h.create_pool(target_ports=[8000, 8001])
    h.start_epp()
    first, second = h.create_pod("plain-a", serving=[8002]), h.create_pod("plain-b", serving=[8002])
    h.endpoints_must_converge(first.endpoints(8000, 8001) | second.endpoints(8000, 8001))
    h.update_pool(target_ports=[8001, 8002])
    h.endpoints_must_converge(first.endpoints(8001, 8002) | second.endpoints(8001, 8002))
    h.update_pool(target_ports=[8002, 8001])
    h.endpoints_must_converge(first.endpoints(8001, 8002) | second.endpoints(8001, 8002))


@tests.test(
    name="PoolTargetPortsChangeRefiltersActivePorts",
    description="When the pool's targetPorts change, active-ports filters the new targetPorts: a"
                " listed port that becomes a targetPort is gained, one that stops being one is lost.",
    features={Feature.ENDPOINT_PER_TARGET_PORT, Feature.ACTIVE_PORTS},
    rules=("PD-12", "PD-23"),
    faults=("ignore-pool-updates", "no-resync-on-pool-change", "resync-drops-annotations"),
)
def pool_target_ports_change_refilters_active_ports(h: Harness) -> None:
    h.create_pool(target_ports=[8000, 8001])
    h.start_epp()
    plain = h.create_pod("plain", serving=[8002])
    listed = h.create_pod("listed", annotations={ACTIVE_PORTS_ANNOTATION: "8001,8002"}, serving=[8002])
    h.endpoints_must_converge(plain.endpoints(8000, 8001) | listed.endpoints(8001))
    h.update_pool(target_ports=[8001, 8002])
    h.endpoints_must_converge(plain.endpoints(8001, 8002) | listed.endpoints(8001, 8002))
    h.update_pool(target_ports=[8000])
    h.endpoints_must_converge(plain.endpoints(8000))


@tests.test(
    name="PoolTargetPortsChangeLeavesPortDiscovery",
    description="Changing or removing the pool's targetPorts moves the endpoints of pods without an"
                " annotation and leaves those of port-discovery pods as they are.",
    features={Feature.PORT_DISCOVERY},
    rules=("PD-11", "PD-13", "PD-23"),
    faults=("ignore-pool-updates", "resync-drops-annotations"),
)
def pool_target_ports_change_leaves_port_discovery(h: Harness) -> None:
    h.create_pool(target_ports=[8000])
    h.start_epp()
    plain = h.create_pod("plain", serving=[8001])
    declared = h.create_pod("declared", port_discovery=[8001, 8005])
    h.endpoints_must_converge(plain.endpoints(8000) | declared.endpoints(8001, 8005))
    h.update_pool(target_ports=[8001])
    h.endpoints_must_converge(plain.endpoints(8001) | declared.endpoints(8001, 8005))
    h.update_pool(target_ports=[])
    h.endpoints_must_converge(declared.endpoints(8001, 8005))


@tests.test(
    name="PoolDeletionRemovesEndpoints",
    description="Deleting the pool removes every endpoint; the EPP stays up and answers requests"
                " with an immediate 503.",
    features={Feature.ENDPOINT_PER_TARGET_PORT},
    rules=("PD-24", "PD-25"),
    faults=("keep-endpoints-without-pool",),
)
def pool_deletion_removes_endpoints(h: Harness) -> None:
    h.create_pool(target_ports=[8000, 8001])
    h.start_epp()
    first, second = h.create_pod("first"), h.create_pod("second")
    h.endpoints_must_converge(first.endpoints(8000, 8001) | second.endpoints(8000, 8001))
    h.delete_pool()
    h.endpoints_must_converge(set())
    _must_answer_503(h)


@tests.test(
    name="PoolRecreationFollowsPods",
    description="A pool deleted and created again, with the same EPP running throughout, gets the"
                " endpoints of the pods as they are then, including pods deleted, made unready or"
                " created while it was gone, and its new targetPorts.",
    features={Feature.ENDPOINT_PER_TARGET_PORT, Feature.POD_LIFECYCLE},
    rules=("PD-24", "PD-25"),
    faults=("keep-endpoints-without-pool", "drop-pod-events-without-pool", "ignore-pool-updates"),
)
def pool_recreation_follows_pods(h: Harness) -> None:
    h.create_pool(target_ports=[8000])
    h.start_epp()
    steady, doomed, flaky = (h.create_pod(name, serving=[8001]) for name in ("steady", "doomed", "flaky"))
    h.endpoints_must_converge(steady.endpoints(8000) | doomed.endpoints(8000) | flaky.endpoints(8000))
    h.delete_pool()
    h.endpoints_must_converge(set())
    h.delete_pod(doomed)
    h.set_ready(flaky, False)
    newcomer = h.create_pod("newcomer", serving=[8001])
    h.create_pool(target_ports=[8000, 8001])
    h.endpoints_must_converge(steady.endpoints(8000, 8001) | newcomer.endpoints(8000, 8001))


@tests.test(
    name="EppStartedBeforePoolServesOnceCreated",
    description="An EPP started while its pool does not exist yet serves the pool's pods once the"
                " pool is created.",
    features={Feature.ENDPOINT_PER_TARGET_PORT},
    rules=("PD-24", "PD-25"),
    faults=("pool-read-once",),
)
def epp_started_before_pool_serves_once_created(h: Harness) -> None:
    h.start_epp(wait_until_serving=False)
    early = h.create_pod("early", serving=[8000, 8001])
    time.sleep(POOL_ABSENT_SECONDS)
    h.create_pool(target_ports=[8000, 8001])
    late = h.create_pod("late")
    h.endpoints_must_converge(early.endpoints(8000, 8001) | late.endpoints(8000, 8001))


@tests.test(
    name="PoolWithoutTargetPortsServesAnnotatedPods",
    description="A pool without targetPorts gets the declared ports of annotated pods and nothing"
                " from pods without the annotation, whether or not they carry active-ports.",
    features={Feature.PORT_DISCOVERY},
    rules=("PD-11", "PD-13"),
    faults=("container-ports-without-target-ports", "ignore-port-discovery"),
)
def pool_without_target_ports_serves_annotated_pods(h: Harness) -> None:
    h.create_pool()
    h.start_epp()
    declared = h.create_pod("declared", port_discovery=[8001, 8002])
    h.create_pod("plain", serving=[8000])
    h.create_pod("filtered", annotations={ACTIVE_PORTS_ANNOTATION: "8000"}, serving=[8000])
    h.endpoints_must_converge(declared.endpoints(8001, 8002))
