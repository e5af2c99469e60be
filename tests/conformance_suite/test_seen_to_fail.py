"""Each conformance test seen to fail against an EPP with its bug, and real EPPs certified.

The suite runs in a subprocess (as a user runs it) against one shared local control plane, used
as ``--cluster existing``: the reference EPP as is, the reference EPP with each ``--fault``, and
GIE's EPP v1.5.0. Without a binary these tests skip, except in CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import conformance
from conformance.implementations import GIE_V1_5_0, REFERENCE, ImplementationError
from conformance.suite import SUITE
from eppconf.controlplane import ControlPlane, cache_root

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow

SUITE_MODULE = str(Path(conformance.__file__).parent / "test_conformance.py")


@pytest.fixture(autouse=True)
def pinned_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep finding cached binaries after ``pytester`` points HOME at its temp dir."""
    monkeypatch.setenv("EPPCONF_CACHE", str(cache_root()))


def run_suite(pytester: pytest.Pytester, control_plane: ControlPlane, *args: str) -> pytest.RunResult:
    """The conformance suite in a subprocess against the shared control plane."""
    return pytester.runpytest_subprocess(SUITE_MODULE, "-p", "no:cacheprovider", "--cluster", "existing",
                                         "--kubeconfig", str(control_plane.admin_kubeconfig), *args)


def test_the_reference_epp_passes(pytester: pytest.Pytester, control_plane: ControlPlane,
                                  tmp_path: Path) -> None:
    result = run_suite(pytester, control_plane, "--report-output", str(tmp_path / "r.yaml"))
    result.assert_outcomes(passed=8)
    assert "result: success" in (tmp_path / "r.yaml").read_text()


#: (fault of the reference EPP, the test that must catch it, expected and observed endpoints)
FAULT_CASES = [
    ("ignore-port-discovery", "PortDiscoveryExpandsPod",
     r"\[(\S+):8001, \1:8002, \1:8003\]", r"\[\S+:8000\]"),
    ("no-target-ports-fallback", "TargetPortsFallback",
     r"\[(\S+):8000, \1:8001, (\S+):8000, \2:8001\]", r"\[\]"),
    ("keep-deleted-pods", "PodDeletionRemovesEndpoints", r"\[(\S+):8000, \1:8001\]",
     r"\[(\S+):8000, \1:8001, (\S+):8000, \2:8001\]"),
    ("ignore-readiness", "UnreadyPodLosesEndpoints", r"\[(\S+):8000, \1:8001\]",
     r"\[(\S+):8000, \1:8001, (\S+):8000, \2:8001\]"),
    ("stale-annotation", "PortDiscoveryFollowsAnnotation", r"\[(\S+):8002, \1:8003\]",
     r"\[(\S+):8001, \1:8002\]"),
    ("ignore-pool-name", "PortDiscoveryIgnoresOtherPools", r"\[(\S+):8001\]",
     r"\[(\S+):8001, \1:8005, \S+:8005\]"),
    ("ignore-active-ports", "ActivePortsFiltersTargetPorts", r"\[(\S+):8000, \1:8002, (\S+):8001\]",
     r"\[(\S+):8000, \1:8001, \1:8002, (\S+):8000, \2:8001, \2:8002, (\S+):8000, \3:8001, \3:8002\]"),
    ("ignore-llmd-active-ports", "LlmdActivePortsTakesPrecedence", r"\[(\S+):8001, (\S+):8002\]",
     r"\[(\S+):8000, \1:8002, (\S+):8000, \2:8001, \2:8002\]"),
]


def test_every_conformance_test_has_a_fault_that_it_catches() -> None:
    assert {test.name for test in SUITE} == {case[1] for case in FAULT_CASES}


@pytest.mark.parametrize(("fault", "test", "expected", "seen"), FAULT_CASES, ids=[case[0] for case in FAULT_CASES])
def test_each_test_fails_against_its_fault(pytester: pytest.Pytester, control_plane: ControlPlane,
                                           fault: str, test: str, expected: str, seen: str) -> None:
    command = f"{REFERENCE.command} --fault {fault}"
    result = run_suite(pytester, control_plane, "--epp-command", command, "-k", test)
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert re.search(rf"FAILED \S*test_conformance\[{test}\]", output), output
    assert re.search(rf"expected: +{expected}", output), output
    assert re.search(rf"observed: +{seen}", output), output


@pytest.fixture
def gie_epp() -> Path:
    assert GIE_V1_5_0.binary is not None
    try:
        return GIE_V1_5_0.binary.find()
    except ImplementationError as err:
        message = str(err)
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def test_gie_epp_passes_target_ports_lifecycle_and_active_ports_but_not_the_newer_keys(
        pytester: pytest.Pytester, control_plane: ControlPlane, gie_epp: Path) -> None:
    result = run_suite(pytester, control_plane, "--epp", "gie-v1.5.0")
    result.assert_outcomes(passed=4, failed=4)
    output = result.stdout.str()
    for test in ("PortDiscoveryExpandsPod", "PortDiscoveryFollowsAnnotation", "PortDiscoveryIgnoresOtherPools",
                 "LlmdActivePortsTakesPrecedence"):
        assert re.search(rf"FAILED \S*test_conformance\[{test}\]", output), output
    assert re.search(r"expected: +\[(\S+):8001, \1:8002, \1:8003\]", output), output
    assert re.search(r"observed: +\[\S+:8000\]", output), output


def test_an_epp_that_exits_early_shows_exit_code_and_output(pytester: pytest.Pytester,
                                                            control_plane: ControlPlane) -> None:
    command = "{python} -c \"import sys; sys.stderr.write('no pool for {pool}\\n'); sys.exit(3)\""
    result = run_suite(pytester, control_plane, "--epp-command", command, "-k", "TargetPortsFallback")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*exited with code 3 before it was ready*", "*no pool for pool"])


def test_no_permission_to_install_the_crd_is_a_clear_error(pytester: pytest.Pytester,
                                                           control_plane: ControlPlane) -> None:
    with ControlPlane(bin_dir=control_plane.bin_dir) as fresh:
        nobody = fresh.add_user("nobody")
        result = pytester.runpytest_subprocess(SUITE_MODULE, "--cluster", "existing", "--kubeconfig",
                                               str(nobody), "-k", "TargetPortsFallback")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*cannot set up the existing cluster: not allowed to *"
                                 " CustomResourceDefinition inferencepools.inference.networking.k8s.io*"])
