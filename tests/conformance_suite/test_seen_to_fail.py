"""Each conformance test seen to fail against an EPP with its bug, and real EPPs certified.

The suite runs in a subprocess (as a user runs it) against one shared local control plane, used
as ``--cluster existing``: the reference EPP as is, the reference EPP with each ``--fault``, and
GIE's EPPs v1.5.0 and v1.6.0, each of which must get exactly the results of its published report
in ``docs/reports/``. Without a binary these tests skip, except in CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import conformance
from conformance.implementations import GIE_V1_5_0, GIE_V1_6_0, REFERENCE, Implementation, ImplementationError
from conformance.suite import SUITE
from eppconf.controlplane import ControlPlane, cache_root

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow

SUITE_MODULE = str(Path(conformance.__file__).parent / "test_conformance.py")
REPORTS = Path(__file__).parents[2] / "docs" / "reports"


@pytest.fixture(autouse=True)
def pinned_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep finding cached binaries after ``pytester`` points HOME at its temp dir."""
    monkeypatch.setenv("EPPCONF_CACHE", str(cache_root()))


def run_suite(pytester: pytest.Pytester, control_plane: ControlPlane, *args: str,
              target: str = SUITE_MODULE) -> pytest.RunResult:
    """The conformance suite (or the one test ``target`` names) in a subprocess against the shared
    control plane."""
    return pytester.runpytest_subprocess(target, "-p", "no:cacheprovider", "--cluster", "existing",
                                         "--cluster-kubeconfig", str(control_plane.admin_kubeconfig), *args)


def node(test: str) -> str:
    """The pytest node id of one catalogue test."""
    return f"{SUITE_MODULE}::test_conformance[{test}]"


def test_the_reference_epp_passes(pytester: pytest.Pytester, control_plane: ControlPlane,
                                  tmp_path: Path) -> None:
    result = run_suite(pytester, control_plane, "-n", "2", "--report-output", str(tmp_path / "r.yaml"))
    result.assert_outcomes(passed=len(SUITE))
    assert "result: failure" not in (tmp_path / "r.yaml").read_text()


#: (fault of the reference EPP, the catalogue test that must fail against it), from the registry
FAULT_CASES = [(fault, test.name) for test in SUITE for fault in test.faults]


def test_every_conformance_test_names_a_fault_of_the_reference_epp() -> None:
    from eppconf.refepp.faults import FAULTS

    assert [test.name for test in SUITE if not test.faults] == []
    assert sorted({fault for fault, _ in FAULT_CASES} - set(FAULTS)) == []


@pytest.mark.parametrize(("fault", "test"), FAULT_CASES, ids=[f"{test}-{fault}" for fault, test in FAULT_CASES])
def test_each_test_fails_against_its_fault(pytester: pytest.Pytester, control_plane: ControlPlane,
                                           fault: str, test: str) -> None:
    command = f"{REFERENCE.command} --fault {fault}"
    result = run_suite(pytester, control_plane, "--epp-command", command, target=node(test))
    result.assert_outcomes(failed=1)
    assert re.search(rf"FAILED \S*test_conformance\[{test}\]", result.stdout.str()), result.stdout.str()


#: upstream EPPs certified on every change, each against its published report
CERTIFIED = (GIE_V1_5_0, GIE_V1_6_0)


def require_binary(preset: Implementation) -> None:
    """Skip without the preset's binary; fail in CI, which builds every certified one."""
    try:
        preset.command_template()
    except ImplementationError as err:
        if os.environ.get("CI"):
            pytest.fail(str(err), pytrace=False)
        pytest.skip(str(err))


def results_of(report: dict[str, Any]) -> dict[str, str]:
    """``{test: "passed" | "failed" | "skipped" | "provisional"}`` over every profile of a report."""
    results: dict[str, str] = {}
    for profile in report["profiles"]:
        for part in (profile["core"], profile.get("extended", {})):
            for state in ("passed", "failed", "skipped", "provisional"):
                results.update(dict.fromkeys(part.get(f"{state}Tests", ()), state))
    return results


def changed_results(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """``{test: "before -> after"}`` for each certified test whose result differs; a provisional test's
    result is not certified (its pass depends on how loaded the machine is)."""
    provisional = {test.name for test in SUITE if test.provisional}
    return {test: f"{before.get(test)} -> {state}" for test, state in after.items()
            if before.get(test) != state and test not in provisional}


@pytest.mark.parametrize("preset", CERTIFIED, ids=[preset.name for preset in CERTIFIED])
def test_upstream_epp_gets_its_published_results(pytester: pytest.Pytester, control_plane: ControlPlane,
                                                 tmp_path: Path, preset: Implementation) -> None:
    require_binary(preset)
    published_path = REPORTS / f"{preset.name}.yaml"
    regenerate = f".venv/bin/pytest conformance --epp {preset.name} --report-output docs/reports/{preset.name}.yaml"
    published = results_of(yaml.safe_load(published_path.read_text()))
    missing = sorted({test.name for test in SUITE} - set(published))
    assert not missing, f"{published_path} has no result for {missing}; regenerate it with `{regenerate}`"

    result = run_suite(pytester, control_plane, "--epp", preset.name, "-n", "2", "--report-output",
                       str(tmp_path / "r.yaml"))
    assert (tmp_path / "r.yaml").is_file(), result.stdout.str()
    changed = changed_results(published, results_of(yaml.safe_load((tmp_path / "r.yaml").read_text())))
    assert not changed, (f"{preset.name} no longer gets the results of {published_path} ({changed}); fix the "
                         f"suite, or explain the change in docs/upstream-epps.md and run `{regenerate}`")


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
        result = pytester.runpytest_subprocess(SUITE_MODULE, "--cluster", "existing", "--cluster-kubeconfig",
                                               str(nobody), "-k", "TargetPortsFallback")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*cannot set up the existing cluster: not allowed to *"
                                 " CustomResourceDefinition inferencepools.inference.networking.k8s.io*"])
