"""``--epp-image`` in the virtual-pod topology: the EPP under test as a Docker container with host
networking against the local control plane.

The argv and the errors are checked without Docker. The slow tests need Docker Engine
(``scripts/docker-engine.sh up``) and the images of ``scripts/build-images.sh``; without them
they skip, unless ``scripts/with-images.sh`` runs them (``make test`` does). An image is taken
from ``$EPPCONF_REFERENCE_IMAGE`` / ``$EPPCONF_GIE_V1_5_0_IMAGE``, else it is the newest local
image of its repository.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

import pytest
import yaml
from test_seen_to_fail import REPORTS, SUITE_MODULE, changed_results, results_of, run_suite

from conformance.harness.container import KUBECONFIG_IN_CONTAINER, ContainerEpp, docker_problem
from conformance.harness.epp import EppPorts
from conformance.implementations import GIE_V1_5_0, REFERENCE
from conformance.options import ConformanceOptions
from conformance.plugin import implementation_of
from conformance.suite import SUITE
from eppconf.controlplane import ControlPlane, ProcessStartError, cache_root
from eppconf.kind import newest_image

pytest_plugins = ["pytester"]

CATALOGUE_TIMEOUT = 1800
"""Seconds a whole catalogue run may take: about 8 min on a loaded 2-core machine, beyond
pytest-timeout's default of 10 min when several such runs overlap."""
IMAGES = {"reference": ("EPPCONF_REFERENCE_IMAGE", "eppconf.local/reference-epp", ""),
          "gie-v1.5.0": ("EPPCONF_GIE_V1_5_0_IMAGE", "eppconf.local/gie-epp", "v1.5.0-")}
"""Preset -> (environment variable naming its image, local repository, tag prefix)."""
REQUIRE_IMAGES_ENV = "EPPCONF_REQUIRE_IMAGES"


def test_the_container_runs_with_host_network_and_a_read_only_kubeconfig(tmp_path: Path) -> None:
    launcher = ContainerEpp("epp:1", REFERENCE.args_template(), log_dir=tmp_path)
    ports = EppPorts(grpc=1, grpc_health=2, metrics=3)
    argv = launcher.command(container="c", pool="p", namespace="ns", kubeconfig=Path("/k"), ports=ports,
                            cid_file=tmp_path / "c.cid")
    image = argv.index("epp:1")
    assert argv[:3] == ["docker", "run", "--rm"] and "--network" in argv[:image]
    assert argv[argv.index("--network") + 1] == "host"
    assert argv[argv.index("--volume") + 1] == f"/k:{KUBECONFIG_IN_CONTAINER}:ro"
    assert argv[argv.index("--env") + 1] == f"KUBECONFIG={KUBECONFIG_IN_CONTAINER}"
    assert argv[image + 1:] == ["--pool-name", "p", "--pool-namespace", "ns", "--grpc-port", "1",
                                "--grpc-health-port", "2", "--metrics-port", "3", "--bind-address", "127.0.0.1"]


def test_no_docker_cli_is_one_clear_error() -> None:
    problem = docker_problem("epp:1", docker="/nonexistent/docker")
    assert problem is not None and "is not installed; scripts/docker-engine.sh up installs" in problem


def test_docker_not_running_names_the_script_that_starts_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    problem = docker_problem("epp:1")
    if problem is not None and "not installed" in problem:
        pytest.skip(problem)
    assert problem is not None and "Docker Engine is not running" in problem
    assert problem.endswith("start it with scripts/docker-engine.sh up")


def test_the_report_states_the_image_and_its_arguments() -> None:
    options = ConformanceOptions(epp_image="eppconf.local/gie-epp:v1.5.0-x", epp="gie-v1.5.0")
    implementation = implementation_of(options)
    assert implementation["image"] == "eppconf.local/gie-epp:v1.5.0-x"
    assert implementation["version"] == "v1.5.0"
    assert implementation["command"].startswith("--pool-name pool --pool-namespace {namespace}")


def local_image(preset: str) -> str:
    """The image of ``preset``; skips while Docker or the image is missing (fails instead with
    ``EPPCONF_REQUIRE_IMAGES=1``, as ``scripts/with-images.sh`` sets)."""
    variable, repository, prefix = IMAGES[preset]
    problem = docker_problem("scratch")
    if problem is not None and "not present" not in problem:
        unavailable(problem)
    image = os.environ.get(variable) or newest_image(repository, prefix)
    if image is None or docker_problem(image) is not None:
        unavailable(f"no image for {preset} ({image or repository + ':' + prefix + '*'}): build it with"
                    f" scripts/build-images.sh or name one in ${variable}")
    return image


def unavailable(reason: str) -> NoReturn:
    """Skip for ``reason``, or fail when the run requires the images."""
    if os.environ.get(REQUIRE_IMAGES_ENV) == "1":
        pytest.fail(f"{REQUIRE_IMAGES_ENV}=1: {reason}")
    pytest.skip(reason)


@pytest.fixture
def pinned_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep finding cached binaries after ``pytester`` points HOME at its temp dir."""
    monkeypatch.setenv("EPPCONF_CACHE", str(cache_root()))


def container_gone(container_id: str) -> bool:
    return subprocess.run(["docker", "container", "inspect", container_id], capture_output=True).returncode != 0


@pytest.mark.slow
def test_a_started_container_is_removed_by_its_id_on_stop(tmp_path: Path, control_plane: ControlPlane,
                                                          namespace: str) -> None:
    launcher = ContainerEpp(local_image("reference"), REFERENCE.args_template(), log_dir=tmp_path,
                            name="reference", tls=True)
    epp = launcher.start(pool="p", namespace=namespace, kubeconfig=control_plane.admin_kubeconfig,
                         wait_until_serving=False)
    assert epp.cid_file is not None
    container_id = epp.cid_file.read_text().strip()
    try:
        assert epp.exit_status() is None and not container_gone(container_id)
    finally:
        epp.stop()
    assert container_gone(container_id)


@pytest.mark.slow
def test_an_exiting_container_shows_its_exit_code_and_output(tmp_path: Path,
                                                             control_plane: ControlPlane) -> None:
    launcher = ContainerEpp(local_image("reference"), "--no-such-flag", log_dir=tmp_path, name="reference")
    refused = r"(?s)exited with code 2 before it was ready.*eppconf reference-epp: error"
    with pytest.raises(ProcessStartError, match=refused):
        launcher.start(pool="p", namespace="ns", kubeconfig=control_plane.admin_kubeconfig)
    assert not list(tmp_path.glob("*.cid"))


@pytest.mark.slow
@pytest.mark.timeout(CATALOGUE_TIMEOUT)
def test_the_catalogue_passes_with_the_reference_image(pytester: pytest.Pytester, control_plane: ControlPlane,
                                                       tmp_path: Path, pinned_cache: None) -> None:
    image = local_image("reference")
    report = tmp_path / "r.yaml"
    result = run_suite(pytester, control_plane, "--topology", "virtual-pods", "--epp-image", image, "-n", "2",
                       "--report-output", str(report))
    result.assert_outcomes(passed=len(SUITE))
    assert yaml.safe_load(report.read_text())["implementation"]["image"] == image


@pytest.mark.slow
@pytest.mark.timeout(CATALOGUE_TIMEOUT)
def test_gie_image_gets_the_results_of_its_process_run(pytester: pytest.Pytester, control_plane: ControlPlane,
                                                       tmp_path: Path, pinned_cache: None) -> None:
    """The process run of GIE's EPP v1.5.0 is held to its published report (test_seen_to_fail);
    its image must get the same result in every certified test."""
    image = local_image(GIE_V1_5_0.name)
    report = tmp_path / "r.yaml"
    result = run_suite(pytester, control_plane, "--topology", "virtual-pods", "--epp", GIE_V1_5_0.name,
                       "--epp-image", image, "-n", "2",
                       "--report-output", str(report))
    assert report.is_file(), result.stdout.str()
    published = results_of(yaml.safe_load((REPORTS / f"{GIE_V1_5_0.name}.yaml").read_text()))
    assert changed_results(published, results_of(yaml.safe_load(report.read_text()))) == {}


@pytest.mark.slow
def test_ctrl_c_mid_run_removes_the_container(tmp_path: Path) -> None:
    image = local_image("reference")
    env = {**os.environ, "EPPCONF_CACHE": str(cache_root())}
    run = subprocess.Popen([sys.executable, "-m", "pytest", SUITE_MODULE, "-p", "no:cacheprovider", "--epp-image",
                            image, "-k", "PodDeletionRemovesEndpoints"], cwd=tmp_path, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        containers = wait_for_containers(run, timeout=90)
        run.send_signal(signal.SIGINT)
        run.wait(timeout=60)
        assert [container for container in containers if not container_gone(container)] == []
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()


def wait_for_containers(run: subprocess.Popen[bytes], *, timeout: float) -> list[str]:
    """The ids of the containers the run ``run`` started, once there is one."""
    deadline = time.monotonic() + timeout
    while True:
        assert run.poll() is None, f"the run ended (exit {run.returncode}) before its EPP container started"
        listed = subprocess.run(["docker", "ps", "-q", "--filter", f"label=eppconf.dev/harness-pid={run.pid}"],
                                capture_output=True, text=True, check=True).stdout.split()
        if listed:
            return listed
        assert time.monotonic() < deadline, f"no EPP container within {timeout:g} s"
        time.sleep(0.5)

