"""``pytest conformance --cluster kind``: one kind cluster for the run, made by the pytest-xdist
controller for both workers (virtual pods), kept with ``--keep-kind-cluster`` and then used again,
never deleted, through ``--kind-cluster`` in the in-cluster topology (the reference EPP's image and
the fakes' loaded into it). One cluster is created; the test deletes it.

Skipped without Docker, the kind CLI, the node image or the images of ``scripts/build-images.sh``
(``EPPCONF_REQUIRE_KIND=1`` fails instead).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from kind_helpers import run_suite, skip_unless
from kubernetes import client, config

from conformance.harness.cluster import local_fakes_image
from eppconf import __version__
from eppconf.kind import unavailable_reason
from eppconf.kind.cluster import cluster_names, kind_binary

pytestmark = pytest.mark.slow

TESTS = ("TargetPortsFallback", "PodIpChangeMovesEndpoints", "TerminatingPodLosesEndpoints")
REFERENCE_REPOSITORY = "eppconf.local/reference-epp"


def _reference_image() -> str | None:
    """The newest reference EPP image of this eppconf version that scripts/build-images.sh built."""
    listed = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", REFERENCE_REPOSITORY],
                            capture_output=True, text=True, check=False).stdout.split()
    return next((image for image in listed if image.startswith(f"{REFERENCE_REPOSITORY}:{__version__}-")), None)


def _passed(report: Path) -> set[str]:
    data = yaml.safe_load(report.read_text())
    assert data["mode"] == "kind"
    return {name for profile in data["profiles"] for part in (profile["core"], profile.get("extended", {}))
            for name in part.get("passedTests", ())}


def _controller_manager_command(kubeconfig: Path) -> list[str]:
    api = config.new_client_from_config(str(kubeconfig))
    try:
        pods = client.CoreV1Api(api).list_namespaced_pod("kube-system",
                                                          label_selector="component=kube-controller-manager")
        return list(pods.items[0].spec.containers[0].command)
    finally:
        api.close()


def test_one_cluster_serves_every_worker_is_kept_on_request_and_reused(tmp_path: Path) -> None:
    skip_unless(unavailable_reason())
    reference = _reference_image()
    skip_unless(None if reference and local_fakes_image() else
                f"no {REFERENCE_REPOSITORY} or fakes image of eppconf {__version__}; run scripts/build-images.sh")
    before = set(cluster_names())
    result = run_suite(tmp_path, "--cluster", "kind", "--topology", "virtual-pods", "--keep-kind-cluster",
                       "-n", "2", "-k", " or ".join(TESTS), "--report-output", str(tmp_path / "first.yaml"))
    made = sorted(set(cluster_names()) - before)
    try:
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert len(made) == 1, f"clusters made by one run on two workers: {made}"
        (name,) = made
        assert re.search(rf"kind cluster {name} kept: reuse it with --cluster kind --kind-cluster {name}", output)
        assert _passed(tmp_path / "first.yaml") == set(TESTS)

        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(subprocess.run([str(kind_binary()), "get", "kubeconfig", "--name", name],
                                             capture_output=True, text=True, check=True).stdout)
        assert "--controllers=*,-pod-garbage-collector-controller" in _controller_manager_command(kubeconfig)

        again = run_suite(tmp_path, "--cluster", "kind", "--kind-cluster", name, "--epp-image", str(reference),
                          "-k", TESTS[0], "--report-output", str(tmp_path / "again.yaml"))
        assert again.returncode == 0, again.stdout + again.stderr
        assert _passed(tmp_path / "again.yaml") == {TESTS[0]}
        assert name in cluster_names(), "a cluster named by --kind-cluster was deleted"
    finally:
        for name in made:
            subprocess.run([str(kind_binary()), "delete", "cluster", "--name", name], capture_output=True,
                           check=False, timeout=300)
