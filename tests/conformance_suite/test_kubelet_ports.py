"""Which ports the harness kubelet serves: closed ports get decoys, pods sharing an IP share its ports."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes import client

from conformance.harness.kubelet import AddressPool, Kubelet


class QuietCore:
    """CoreV1Api stand-in that accepts every call."""

    def create_namespaced_pod(self, namespace: str, manifest: dict[str, Any]) -> None:
        pass

    def patch_namespaced_pod_status(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        pass


@dataclass
class Server:
    address: str
    port: int
    failure: dict[str, Any] | None = None

    def inject_failure(self, **failure: Any) -> None:
        self.failure = failure


@dataclass
class Servers:
    """A runtime that records which ``address:port`` is bound, refusing a port bound twice."""

    bound: dict[str, Server] = field(default_factory=dict)

    def serve(self, address: str, port: int, config: Any) -> Server:
        key = f"{address}:{port}"
        assert key not in self.bound, f"{key} bound twice"
        self.bound[key] = Server(address, port)
        return self.bound[key]

    def close(self, server: Server) -> None:
        del self.bound[f"{server.address}:{server.port}"]

    def decoys(self) -> set[str]:
        return {key for key, server in self.bound.items() if server.failure is not None}


@pytest.fixture
def servers() -> Servers:
    return Servers()


@pytest.fixture
def kubelet(servers: Servers) -> Kubelet:
    made = Kubelet(client.ApiClient(), namespace="ns", runtime=servers,
                   addresses=AddressPool(ipaddress.ip_network("127.21.0.0/16")), server_config=None)
    made._core = QuietCore()  # type: ignore[assignment]
    return made


def test_closed_ports_get_decoys_that_fail_with_502(kubelet: Kubelet, servers: Servers) -> None:
    pod = kubelet.create_pod("prefill", ports=[8000, 8001, 8002], labels={}, closed=[8001, 8002])
    assert pod.ports == (8000,)
    assert servers.decoys() == pod.endpoints(8001, 8002)
    assert servers.bound[pod.endpoint(8001)].failure == {"status": 502,
                                                          "message": "nothing of pod prefill listens on port 8001"}
    assert {served.endpoint for served in kubelet.served_ports()} == pod.endpoints(8000, 8001, 8002)


def test_serving_a_closed_port_replaces_its_decoy(kubelet: Kubelet, servers: Servers) -> None:
    pod = kubelet.create_pod("p", ports=[8000], labels={}, closed=[8001])
    kubelet.serve("p", [8001])
    assert pod.ports == (8000, 8001) and servers.decoys() == set()


def test_pods_sharing_an_ip_serve_each_port_once(kubelet: Kubelet, servers: Servers) -> None:
    prefill = kubelet.create_pod("prefill", ports=[8000], labels={}, closed=[8200])
    decode = kubelet.create_pod("decode", ports=[8000, 8200], labels={}, closed=[8300], ip=prefill.ip)
    assert decode.ip == prefill.ip
    assert (prefill.ports, decode.ports) == ((8000,), (8200,))
    assert servers.decoys() == {decode.endpoint(8300)}
    assert sorted(servers.bound) == sorted(prefill.endpoints(8000, 8200, 8300))


def test_a_closed_port_another_pod_at_the_ip_serves_gets_no_decoy(kubelet: Kubelet, servers: Servers) -> None:
    prefill = kubelet.create_pod("prefill", ports=[8000], labels={})
    kubelet.create_pod("decode", ports=[8200], labels={}, closed=[8000], ip=prefill.ip)
    assert servers.decoys() == set()


def test_sharing_the_ip_of_no_pod_is_refused(kubelet: Kubelet) -> None:
    with pytest.raises(ValueError, match="pod 'stray' cannot share IP 127.9.9.9: no pod of namespace ns has it"):
        kubelet.create_pod("stray", ports=[8000], labels={}, ip="127.9.9.9")


def test_close_stops_decoys_too(kubelet: Kubelet, servers: Servers) -> None:
    kubelet._core.delete_namespaced_pod = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    kubelet.create_pod("p", ports=[8000], labels={}, closed=[8001])
    kubelet.close()
    assert servers.bound == {}
