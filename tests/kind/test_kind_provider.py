"""``pytest conformance --cluster kind``: one kind cluster for the run, made by the pytest-xdist
controller for both workers (virtual pods), kept with ``--keep-kind-cluster`` and then used again,
never deleted, through ``--kind-cluster`` in the in-cluster topology; and the whole catalogue
in-cluster, against the reference EPP's image, on a cluster of its own. Each test deletes the
cluster it made.

Skipped without Docker, the kind CLI, the node image or the images of ``scripts/build-images.sh``
(``EPPCONF_REQUIRE_KIND=1`` fails instead).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml
from kind_helpers import KIND_TEST_MARKS, kind_unavailable, run_suite, skip_unless
from kubernetes import client, config

from conformance.catalogue import IN_CLUSTER
from conformance.harness.cluster import local_fakes_image
from conformance.suite import SUITE
from eppconf import __version__
from eppconf.kind import KindCluster, newest_image
from eppconf.kind.cluster import cluster_names, kind_binary

pytestmark = KIND_TEST_MARKS

TESTS = ("TargetPortsFallback", "PodIpChangeMovesEndpoints", "TerminatingPodLosesEndpoints")
REFERENCE_REPOSITORY = "eppconf.local/reference-epp"
REFERENCE_IMAGE_ENV = "EPPCONF_REFERENCE_IMAGE"
PROVIDER_NAME = re.compile(r"eppconf-[0-9a-f]{6}")
"""How the provider names a cluster it makes (other tests' clusters may appear meanwhile)."""
CATALOGUE_TIMEOUT = 2400
"""Seconds the whole catalogue in-cluster may take on a loaded 2-core machine (about 9 min quiet)."""
SCALE_TEST_TIMEOUT = 1500
"""pytest-timeout of one catalogue test in that run: ScaleHundredPodsFourPorts starts 100 pods,
about 7 min beside a Go build, longer than the 600 s of pyproject.toml."""


def _reference_image() -> str | None:
    """``$EPPCONF_REFERENCE_IMAGE`` (scripts/with-images.sh sets it), else the newest reference EPP
    image of this eppconf version that scripts/build-images.sh built."""
    return os.environ.get(REFERENCE_IMAGE_ENV) or newest_image(REFERENCE_REPOSITORY, f"{__version__}-")


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


def _images_or_skip() -> str:
    """The reference EPP's image; skips (fails with ``EPPCONF_REQUIRE_KIND``) without kind or the images."""
    skip_unless(kind_unavailable())
    reference = _reference_image()
    skip_unless(None if reference and local_fakes_image() else
                f"no {REFERENCE_REPOSITORY} or fakes image of eppconf {__version__}; run scripts/build-images.sh")
    assert reference is not None
    return reference


def test_one_cluster_serves_every_worker_is_kept_on_request_and_reused(tmp_path: Path) -> None:
    reference = _images_or_skip()
    before = set(cluster_names())
    result = run_suite(tmp_path, "--cluster", "kind", "--topology", "virtual-pods", "--keep-kind-cluster",
                       "-n", "2", "-k", " or ".join(TESTS), "--report-output", str(tmp_path / "first.yaml"))
    made = sorted(name for name in set(cluster_names()) - before if PROVIDER_NAME.fullmatch(name))
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

        again = run_suite(tmp_path, "--cluster", "kind", "--kind-cluster", name, "--epp-image", reference,
                          "-k", TESTS[0], "--report-output", str(tmp_path / "again.yaml"))
        assert again.returncode == 0, again.stdout + again.stderr
        assert _passed(tmp_path / "again.yaml") == {TESTS[0]}
        assert name in cluster_names(), "a cluster named by --kind-cluster was deleted"
    finally:
        for name in made:
            KindCluster(name).stop()


def test_the_whole_catalogue_passes_in_cluster_with_the_reference_image(tmp_path: Path) -> None:
    """Every test passes with the EPP as a Deployment and the fakes as real pods, but those the
    catalogue declares virtual-pods-only, which are reported not applicable with their reason. The
    cluster is this test's own (not named as the provider names its clusters: the test above
    counts those)."""
    reference = _images_or_skip()
    report = tmp_path / "in-cluster.yaml"
    with KindCluster(f"eppconf-catalogue-{os.getpid()}") as kind:
        result = run_suite(tmp_path, "--cluster", "kind", "--kind-cluster", kind.name, "--epp-image", reference,
                           "-n", "2", "--timeout", str(SCALE_TEST_TIMEOUT), "--report-output", str(report),
                           timeout=CATALOGUE_TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr
    data = yaml.safe_load(report.read_text())
    assert data["topology"] == IN_CLUSTER
    virtual_only = {test.name: test.virtual_pods_only for test in SUITE if test.virtual_pods_only}
    assert {entry["test"]: entry["reason"] for entry in data["notApplicable"]} == virtual_only
    assert _passed(report) == {test.name for test in SUITE} - set(virtual_only)
