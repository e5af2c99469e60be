"""``--cluster kind`` without Docker: each missing piece is one usage error before any test, a failed
cluster creation fails the tests with its reason, and pytest-xdist workers get the controller's cluster.

The run that creates a cluster is in tests/kind/test_kind_provider.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance.harness import cluster as clusters
from conformance.harness.cluster import ClusterError, KindProvision, kind_problem, open_cluster
from conformance.options import ConformanceOptions
from conformance.plugin import KIND_INPUT, KindClusterOwner, _kind_provision
from eppconf.kind import cluster as kind

pytest_plugins = ["pytester"]

VIRTUAL = ConformanceOptions(cluster="kind", topology="virtual-pods")
IN_CLUSTER = ConformanceOptions(cluster="kind", epp_image="acme/epp:1")


@pytest.fixture(autouse=True)
def no_docker_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here reaches a real Docker Engine."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")


@pytest.fixture
def docker_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Pretend a Docker Engine runs holding the given images, with a kind CLI knowing the given clusters."""
    def pretend(*images: str, clusters_running: tuple[str, ...] = ()) -> None:
        fake_kind = tmp_path / "kind"
        fake_kind.write_text("#!/bin/sh\n")
        fake_kind.chmod(0o755)
        monkeypatch.setattr(kind, "docker_running", lambda: True)
        monkeypatch.setattr(kind, "image_present", lambda image: image in images)
        monkeypatch.setattr(kind, "kind_binary", lambda: fake_kind)
        monkeypatch.setattr(kind, "cluster_names", lambda: list(clusters_running))
        monkeypatch.setattr(clusters, "image_present", lambda image: image in images)
        ours = sorted(image for image in images if image.startswith(clusters.FAKES_REPOSITORY))
        monkeypatch.setattr(clusters, "local_fakes_image", lambda: ours[-1] if ours else None)
    return pretend


def test_no_docker_engine_stops_the_run_before_any_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest("--cluster", "kind", "--topology", "virtual-pods")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--cluster kind: no Docker Engine is running (start one with"
                                 " scripts/docker-engine.sh up)*"])


def test_a_missing_node_image_names_the_build_script_and_the_variable(docker_with: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    docker_with()
    monkeypatch.setenv(kind.NODE_IMAGE_ENV, "acme/kind-node:v1")
    problem = kind_problem(VIRTUAL)
    assert problem is not None and problem.startswith("node image acme/kind-node:v1 is not in Docker")
    assert "build-kind-node.sh" in problem and kind.NODE_IMAGE_ENV in problem


def test_a_missing_kind_config_is_named(docker_with: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    docker_with(kind.node_image())
    monkeypatch.setenv(kind.CONFIG_ENV, "/nonexistent/kind.yaml")
    assert kind_problem(VIRTUAL) == f"{kind.CONFIG_ENV}=/nonexistent/kind.yaml: no such file"


def test_a_missing_kind_cli_names_the_build_script(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(kind, "docker_running", lambda: True)
    monkeypatch.setattr(kind, "image_present", lambda image: True)
    monkeypatch.setenv("EPPCONF_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    problem = kind_problem(VIRTUAL)
    assert problem is not None and problem.startswith("the kind CLI is not built")
    assert "build-kind-node.sh" in problem


def test_a_named_cluster_must_run(docker_with: Any) -> None:
    docker_with(clusters_running=("eppconf-dev",))
    assert kind_problem(ConformanceOptions(cluster="kind", topology="virtual-pods", kind_cluster="eppconf-dev")) is None
    problem = kind_problem(ConformanceOptions(cluster="kind", topology="virtual-pods", kind_cluster="other"))
    assert problem == "no kind cluster named other runs here (kind get clusters: eppconf-dev)"


def test_in_cluster_images_must_be_in_docker_to_be_loaded(docker_with: Any) -> None:
    docker_with(kind.node_image(), "acme/epp:1")
    problem = kind_problem(IN_CLUSTER)
    assert problem is not None and problem.startswith("no eppconf.local/fakes:")
    assert "scripts/build-images.sh or give --fakes-image" in problem
    docker_with(kind.node_image())
    assert kind_problem(IN_CLUSTER) == ("image acme/epp:1 is not in the local Docker Engine, so it cannot be"
                                        " loaded into kind; build or pull it first (scripts/build-images.sh"
                                        " builds this project's images)")
    docker_with(kind.node_image(), "acme/epp:1", "eppconf.local/fakes:0.1.0-abc")
    assert kind_problem(IN_CLUSTER) is None


def test_virtual_pods_on_kind_load_no_image(docker_with: Any) -> None:
    docker_with(kind.node_image())
    assert kind_problem(ConformanceOptions(cluster="kind", topology="virtual-pods", epp_image="acme/epp:1")) is None


def test_a_failed_creation_fails_the_tests_with_its_reason() -> None:
    with pytest.raises(ClusterError, match="^creating kind cluster x failed$"), \
            open_cluster(VIRTUAL, kind=KindProvision(problem="creating kind cluster x failed")):
        pass


class FakeNode:
    def __init__(self) -> None:
        self.workerinput: dict[str, Any] = {}


class FakeConfig:
    def __init__(self, workerinput: dict[str, Any]) -> None:
        self.workerinput = workerinput


def test_workers_get_the_cluster_the_controller_made() -> None:
    owner = KindClusterOwner(VIRTUAL, provision=KindProvision(kubeconfig="/k", fakes_image="f:1"))
    node = FakeNode()
    owner.pytest_configure_node(node)
    assert node.workerinput[KIND_INPUT] == {"kubeconfig": "/k", "fakes_image": "f:1", "problem": None}
    provision = _kind_provision(FakeConfig(node.workerinput))  # type: ignore[arg-type]
    assert provision == KindProvision(kubeconfig="/k", fakes_image="f:1")


ONE_CLUSTER_CONFTEST = """
from pathlib import Path
import conformance.harness.cluster as clusters

LOG = Path(__file__).parent / "kind.log"

class MadeCluster:
    name = "eppconf-made"
    kubeconfig = Path("/made/kubeconfig")

    def stop(self):
        with LOG.open("a") as log:
            log.write("stopped\\n")

def provision_kind(options):
    with LOG.open("a") as log:
        log.write("made\\n")
    return MadeCluster(), None

clusters.provision_kind = provision_kind
clusters.kind_problem = lambda options: None
"""
ONE_CLUSTER_TESTS = """
import pytest
from conformance.plugin import _kind_provision

@pytest.mark.parametrize("n", range(4))
def test_sees_the_cluster(pytestconfig, n):
    assert _kind_provision(pytestconfig).kubeconfig == "/made/kubeconfig"
"""


def test_with_xdist_the_controller_makes_the_one_cluster_and_stops_it_after_the_workers(
        pytester: pytest.Pytester) -> None:
    pytester.makeconftest(ONE_CLUSTER_CONFTEST)
    pytester.makepyfile(test_one_cluster=ONE_CLUSTER_TESTS)
    result = pytester.runpytest_subprocess("-n", "2", "--cluster", "kind", "--topology", "virtual-pods")
    result.assert_outcomes(passed=4)
    assert (pytester.path / "kind.log").read_text().split() == ["made", "stopped"]

