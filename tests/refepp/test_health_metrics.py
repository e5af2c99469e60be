"""gRPC health, the Prometheus pool gauges and the /debug/endpoints view."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from grpc_health.v1 import health_pb2
from prometheus_client.parser import text_string_to_metric_families
from refepp_helpers import Served

from eppconf.refepp.metrics_http import MetricsServer
from eppconf.refepp.picker import Candidate, Load
from eppconf.refepp.state import EndpointState

A1 = Candidate("a-rank-0", "a", "127.0.0.11", 8000, labels={"app": "m"})
B1 = Candidate("b-rank-0", "b", "127.0.0.12", 8000)
Status = health_pb2.HealthCheckResponse


def check(served: Served, service: str) -> int:
    return int(served.health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status)


def test_liveness_serves_before_sync_and_readiness_waits_for_it(served: Served) -> None:
    assert check(served, "liveness") == Status.SERVING
    for service in ("readiness", "envoy.service.ext_proc.v3.ExternalProcessor", ""):
        assert check(served, service) == Status.NOT_SERVING
    served.state.mark_synced()
    for service in ("readiness", "envoy.service.ext_proc.v3.ExternalProcessor", ""):
        assert check(served, service) == Status.SERVING
    served.state.mark_synced(False)
    assert check(served, "readiness") == Status.NOT_SERVING


def test_unknown_service_is_service_unknown(served: Served) -> None:
    assert check(served, "nope") == Status.SERVICE_UNKNOWN


@pytest.fixture
def metrics() -> Iterator[tuple[EndpointState, str]]:
    state = EndpointState(pool_name="pool", pool_namespace="ns")
    server = MetricsServer(state, host="127.0.0.1", port=0)
    server.start()
    try:
        yield state, f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bytes(response.read())


def test_pool_gauges(metrics: tuple[EndpointState, str]) -> None:
    state, base = metrics
    state.publish([A1, B1])
    state.record(A1.address, Load(waiting=7, kv_cache=0.5, running=1, scraped_at=time.monotonic()))
    families = {f.name: f for f in text_string_to_metric_families(get(f"{base}/metrics").decode())}
    assert [(s.labels, s.value) for s in families["inference_pool_ready_pods"].samples] == [({"name": "pool"}, 2.0)]
    queue = families["inference_pool_per_pod_queue_size"].samples
    assert [(s.labels, s.value) for s in queue] == [({"name": "pool", "model_server_pod": "a-rank-0"}, 7.0)]


def test_debug_endpoints(metrics: tuple[EndpointState, str]) -> None:
    state, base = metrics
    state.publish([B1, A1], problems=["pod ns/c: invalid port-discovery annotation: bad"])
    state.record(B1.address, Load(waiting=1, kv_cache=0.25, running=2, scraped_at=time.monotonic() - 3))
    state.mark_synced()
    view = json.loads(get(f"{base}/debug/endpoints"))
    assert view["pool"] == {"name": "pool", "namespace": "ns"} and view["synced"] is True
    assert [e["address"] for e in view["endpoints"]] == [A1.address, B1.address]
    first, second = view["endpoints"]
    assert first == {"name": "a-rank-0", "pod": "a", "address": "127.0.0.11:8000", "ip": "127.0.0.11",
                     "port": 8000, "labels": {"app": "m"}, "metrics": None}
    assert second["metrics"]["waiting"] == 1 and second["metrics"]["fresh"] is False
    assert view["problems"] == ["pod ns/c: invalid port-discovery annotation: bad"]


def test_unknown_path_is_404(metrics: tuple[EndpointState, str]) -> None:
    _state, base = metrics
    with pytest.raises(urllib.error.HTTPError) as caught:
        get(f"{base}/nope")
    assert caught.value.code == 404
    caught.value.close()
