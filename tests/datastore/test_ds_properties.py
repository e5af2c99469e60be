"""Generated event sequences: the incremental datastore always equals a from-scratch computation (PD-25)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eppconf.datastore import Datastore, Diff, Endpoint, PodInfo, PoolSpec, compute_endpoints
from eppconf.portdiscovery import ACTIVE_PORTS_ANNOTATION, LLMD_ACTIVE_PORTS_ANNOTATION, PORT_DISCOVERY_ANNOTATION

PODS = ["a", "b", "c"]
PORTS = st.sampled_from([8000, 8001, 8002, 9000])

entries = st.lists(st.fixed_dictionaries({"inferencePool": st.sampled_from(["p", "q"]), "number": PORTS},
                                         optional={"attributes": st.dictionaries(st.sampled_from(["role", "app"]),
                                                                                 st.sampled_from(["x", "llm"]))}),
                   max_size=4)
annotation_values = {
    PORT_DISCOVERY_ANNOTATION: st.one_of(entries.map(json.dumps), st.sampled_from(["", "[1]", "{}"])),
    LLMD_ACTIVE_PORTS_ANNOTATION: st.sampled_from(["", "8000", "8001,8002", "x"]),
    ACTIVE_PORTS_ANNOTATION: st.sampled_from(["", "8002", "8000, 8001"]),
}
annotations = st.fixed_dictionaries({}, optional=annotation_values)
pods = st.builds(PodInfo, name=st.sampled_from(PODS), namespace=st.sampled_from(["ns", "ns", "other"]),
                 labels=st.dictionaries(st.sampled_from(["app", "gen"]), st.sampled_from(["llm", "2"])),
                 annotations=annotations, pod_ip=st.sampled_from(["10.0.0.1", "10.0.0.2", None]),
                 ready=st.booleans(), deleting=st.booleans())
pools = st.builds(PoolSpec, name=st.sampled_from(["p", "q"]), namespace=st.just("ns"),
                  selector=st.dictionaries(st.sampled_from(["app", "gen"]), st.sampled_from(["llm", "2"]),
                                           min_size=1),
                  target_ports=st.lists(PORTS, unique=True, max_size=3).map(tuple))
events = st.lists(st.one_of(
    st.tuples(st.just("upsert"), pods),
    st.tuples(st.just("delete"), st.sampled_from(["ns", "other"]), st.sampled_from(PODS)),
    st.tuples(st.just("pool"), pools),
    st.tuples(st.just("delete-pool")),
), max_size=25)


def apply(store: Datastore, event: tuple[Any, ...]) -> Diff:
    kind = event[0]
    if kind == "upsert":
        return store.upsert_pod(event[1])
    if kind == "delete":
        return store.delete_pod(event[1], event[2])
    if kind == "pool":
        return store.set_pool(event[1])
    return store.delete_pool()


@settings(max_examples=300, deadline=None)
@given(events)
def test_pd25_incremental_equals_from_scratch(sequence: list[tuple[Any, ...]]) -> None:
    store = Datastore()
    mirror: dict[tuple[str, int], Endpoint] = {}
    for event in sequence:
        diff = apply(store, event)
        for endpoint in diff.removed:
            assert mirror.pop(endpoint.key) == endpoint  # removed carries the old value
        for endpoint in diff.added:
            assert endpoint.key not in mirror
            mirror[endpoint.key] = endpoint
        for endpoint in diff.changed:
            assert mirror[endpoint.key] != endpoint
            mirror[endpoint.key] = endpoint
        assert mirror == dict(store.endpoints())  # the diffs tell the whole story
    assert dict(store.endpoints()) == compute_endpoints(store.pool, store.pods())


@settings(max_examples=200, deadline=None)
@given(events)
def test_pd25_no_endpoint_outlives_its_pod(sequence: list[tuple[Any, ...]]) -> None:
    store = Datastore()
    for event in sequence:
        apply(store, event)
        live = {pod.key: pod for pod in store.pods()}
        for endpoint in store.endpoints().values():
            pod = live[(endpoint.namespace, endpoint.pod_name)]
            assert pod.ready and not pod.deleting and pod.pod_ip == endpoint.ip
            assert store.pool is not None and pod.namespace == store.pool.namespace
    for namespace, name in [pod.key for pod in store.pods()]:
        store.delete_pod(namespace, name)
    assert not store.endpoints() and not store.problems()
