"""Builders for pools and pods used by the datastore tests."""

from __future__ import annotations

import json
from typing import Any

from eppconf.datastore import PodInfo, PoolSpec
from eppconf.portdiscovery import PORT_DISCOVERY_ANNOTATION

NS = "ns"


def make_pool(*, name: str = "p", target_ports: tuple[int, ...] = (8000, 8001),
              selector: dict[str, str] | None = None) -> PoolSpec:
    return PoolSpec(name, NS, {"app": "llm"} if selector is None else selector, target_ports)


def make_pod(name: str = "a", *, namespace: str = NS, labels: dict[str, str] | None = None,
             annotations: dict[str, str] | None = None, ip: str | None = "10.0.0.1",
             ready: bool = True, deleting: bool = False) -> PodInfo:
    return PodInfo(name, namespace, {"app": "llm"} if labels is None else labels, annotations or {}, ip,
                   ready, deleting)


def discovery(*entries: tuple[str, int] | tuple[str, int, dict[str, str]]) -> dict[str, str]:
    """A port-discovery annotation from (pool, port[, attributes]) tuples."""
    value: list[dict[str, Any]] = []
    for item in entries:
        entry: dict[str, Any] = {"inferencePool": item[0], "number": item[1]}
        if len(item) == 3:
            entry["attributes"] = item[2]
        value.append(entry)
    return {PORT_DISCOVERY_ANNOTATION: json.dumps(value)}
