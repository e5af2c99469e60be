"""The churn tests' own reading of the spec agrees with the reference datastore on every draw."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from conformance.suite.convergence import (
    CHURN_SEED,
    CHURN_SEED_ENV,
    TARGET_PORTS,
    Draw,
    _draw_active_ports,
    _draw_port_discovery,
    churn_seed,
)
from eppconf.datastore import PodInfo, PoolSpec, compute_endpoints
from eppconf.portdiscovery import ACTIVE_PORTS_ANNOTATION, PORT_DISCOVERY_ANNOTATION

POOL = PoolSpec("pool", "ns", {"churn": "in"}, TARGET_PORTS)


@pytest.mark.parametrize(("key", "draw"), [(PORT_DISCOVERY_ANNOTATION, _draw_port_discovery),
                                           (ACTIVE_PORTS_ANNOTATION, _draw_active_ports)])
def test_each_drawn_annotation_gives_the_ports_the_test_expects(
        key: str, draw: Callable[[random.Random, str], Draw]) -> None:
    rng = random.Random(CHURN_SEED)
    for _ in range(500):
        value, ports = draw(rng, POOL.name)
        pod = PodInfo("p", "ns", labels={"churn": "in"}, annotations={} if value is None else {key: value},
                      pod_ip="127.0.0.2", ready=True)
        assert {endpoint.port for endpoint in compute_endpoints(POOL, [pod]).values()} == ports, value


def test_the_seed_is_fixed_unless_the_environment_sets_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CHURN_SEED_ENV, raising=False)
    assert churn_seed() == CHURN_SEED
    monkeypatch.setenv(CHURN_SEED_ENV, "7")
    assert churn_seed() == 7
    monkeypatch.setenv(CHURN_SEED_ENV, "seven")
    with pytest.raises(ValueError, match="EPPCONF_CHURN_SEED='seven' is not an integer seed"):
        churn_seed()
