"""The plugin run end to end on stand-in test bodies: result states, report output, JUnit XML, xdist,
and the word ``conformance`` naming the installed suite."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

import conformance
from conformance import report
from conformance.features import PROFILES
from conformance.plugin import suite_path
from conformance.suite import SUITE

pytest_plugins = ["pytester"]

STAND_IN_SUITE = '''
import dataclasses
import pytest
from conformance.suite import SUITE

def passes(harness):
    assert harness == "harness"

def fails(harness):
    raise AssertionError("expected: [a]  observed: [b]\\nmore detail")

def skips(harness):
    pytest.skip("nothing to see")

BODIES = {"TargetPortsFallback": passes, "PodDeletionRemovesEndpoints": fails,
          "PortDiscoveryExpandsPod": passes, "LlmdActivePortsTakesPrecedence": passes}
TESTS = [dataclasses.replace(SUITE.get(name), body=body) for name, body in BODIES.items()]

@pytest.fixture
def conformance_harness():
    return "harness"

@pytest.mark.parametrize("conformance_test", TESTS, ids=lambda test: test.name)
def test_conformance(conformance_test, conformance_harness):
    conformance_test.body(conformance_harness)

def test_not_a_conformance_test():
    pass
'''
STAND_INS = ("TargetPortsFallback", "PodDeletionRemovesEndpoints", "PortDiscoveryExpandsPod",
             "LlmdActivePortsTakesPrecedence")


@pytest.fixture
def stand_in(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_stand_in=STAND_IN_SUITE)
    return pytester


def written(path: Path) -> dict[str, Any]:
    """The report at ``path``, checked against the JSON Schema."""
    data = yaml.safe_load(path.read_text())
    report.validate(data)
    return data


def sections(path: Path) -> dict[str, dict[str, Any]]:
    return {section["name"]: section for section in written(path)["profiles"]}


def core_of(profile: str) -> list[str]:
    """Every catalogue test in the core of ``profile``."""
    return sorted(test.name for test in SUITE if PROFILES[profile].is_core(test.features))


def test_states_reach_the_report(stand_in: pytest.Pytester, tmp_path: Path) -> None:
    out = tmp_path / "report.yaml"
    result = stand_in.runpytest("--conformance-profile", "TargetPorts", "--report-output", str(out), "-rs")
    result.assert_outcomes(passed=2, failed=1, skipped=2)
    result.stdout.fnmatch_lines(["*eppconf conformance report*", f"report written to {out}",
                                 "*SKIPPED*not supported by the chosen profiles (needs PortDiscovery)*"])
    data = written(out)
    assert [section["name"] for section in data["profiles"]] == ["TargetPorts"]
    core = data["profiles"][0]["core"]
    assert (core["passedTests"], core["failedTests"]) == (["TargetPortsFallback"],
                                                          ["PodDeletionRemovesEndpoints"])
    assert data["implementation"]["project"] == "eppconf-reference-epp"
    assert data["specVersion"] == report.spec_version()


def test_a_failure_states_its_rules_and_first_line(stand_in: pytest.Pytester, tmp_path: Path) -> None:
    out = tmp_path / "report.yaml"
    result = stand_in.runpytest("--report-output", str(out))
    assert written(out)["failures"] == [{"test": "PodDeletionRemovesEndpoints",
                                         "rules": list(SUITE.get("PodDeletionRemovesEndpoints").rules),
                                         "message": "AssertionError: expected: [a]  observed: [b]"}]
    rules = ", ".join(SUITE.get("PodDeletionRemovesEndpoints").rules)
    result.stdout.fnmatch_lines([
        "*eppconf conformance report*",
        "eppconf-reference-epp * against spec *",
        "profile * part * result * passed * failed * skipped",
        "TargetPorts * core * failure * 1 * 1 *",
        f"FAILED PodDeletionRemovesEndpoints [[]{rules}[]]: AssertionError: expected: [[]a[]]  observed: [[]b[]]",
    ])


def test_deselected_tests_count_as_skipped_and_make_the_profile_partial(
        stand_in: pytest.Pytester, tmp_path: Path) -> None:
    out = tmp_path / "report.yaml"
    result = stand_in.runpytest("-k", "TargetPortsFallback", "--report-output", str(out))
    result.assert_outcomes(passed=1)
    for name, section in sections(out).items():
        assert section["core"]["result"] == "partial", name
        assert section["core"]["passedTests"] == ["TargetPortsFallback"]
        provisional = {test.name for test in SUITE if test.provisional}
        others = [t for t in core_of(name) if t != "TargetPortsFallback"]
        assert section["core"]["skippedTests"] == [t for t in others if t not in provisional]
        assert section["core"]["provisionalTests"] == [t for t in others if t in provisional]


def test_unsupported_tests_stay_out_of_the_profiles_that_do_not_cover_them(
        stand_in: pytest.Pytester, tmp_path: Path) -> None:
    out = tmp_path / "report.yaml"
    stand_in.runpytest("--conformance-profile", "TargetPorts", "--conformance-profile", "PortDiscovery",
                       "--report-output", str(out))
    found = sections(out)
    assert found["PortDiscovery"]["core"]["passedTests"] == ["PortDiscoveryExpandsPod", "TargetPortsFallback"]
    listed = {name for part in ("passedTests", "failedTests", "skippedTests", "provisionalTests")
              for name in found["TargetPorts"]["core"][part]}
    assert listed == set(core_of("TargetPorts"))


def test_a_skip_inside_a_test_is_skipped_not_unsupported(pytester: pytest.Pytester,
                                                         tmp_path: Path) -> None:
    pytester.makepyfile(test_stand_in=STAND_IN_SUITE.replace('"PortDiscoveryExpandsPod": passes',
                                                             '"PortDiscoveryExpandsPod": skips'))
    out = tmp_path / "report.yaml"
    pytester.runpytest("--report-output", str(out)).assert_outcomes(passed=3, failed=1, skipped=1)
    found = sections(out)
    assert "PortDiscoveryExpandsPod" in found["PortDiscovery"]["core"]["skippedTests"]
    assert found["PortDiscovery"]["core"]["result"] == "failure"


def test_declared_features_decide_what_runs_and_what_is_reported(stand_in: pytest.Pytester,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "report.yaml"
    result = stand_in.runpytest("--conformance-profile", "ActivePorts", "--exempt-features", "LlmdActivePorts",
                                "--report-output", str(out), "-rs")
    result.stdout.fnmatch_lines(["*SKIPPED*not supported by the implementation (needs ActivePorts,"
                                 " EndpointPerTargetPort, LlmdActivePorts)*"])
    data = written(out)
    assert "LlmdActivePorts" not in data["supportedFeatures"]
    extended = data["profiles"][0]["extended"]
    assert (extended["supportedFeatures"], extended["unsupportedFeatures"]) == ([], ["LlmdActivePorts"])
    assert "LlmdActivePortsTakesPrecedence" in extended["skippedTests"]
    assert extended["result"] == "skipped"


def test_extended_features_without_a_test_are_not_reported(stand_in: pytest.Pytester, tmp_path: Path) -> None:
    out = tmp_path / "report.yaml"
    stand_in.runpytest("--report-output", str(out))
    data = written(out)
    tested = {feature for test in SUITE for feature in test.features}
    reported = set(data["supportedFeatures"])
    for section in data["profiles"]:
        extended = section.get("extended", {})
        reported |= set(extended.get("supportedFeatures", [])) | set(extended.get("unsupportedFeatures", []))
    assert reported <= tested


def test_the_command_run_is_reported_by_program_name_with_ports_and_namespace_elided(stand_in: pytest.Pytester,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "report.yaml"
    stand_in.runpytest("--epp-command", "{python} -m my_epp --pool {pool} --ns {namespace} --grpc {grpc_port}",
                       "--report-output", str(out))
    assert written(out)["implementation"] == {
        "project": "custom", "version": "unknown",
        "command": f"{Path(sys.executable).name} -m my_epp --pool pool --ns {{namespace}} --grpc {{grpc_port}}"}


def test_implementation_metadata_comes_from_flags_or_the_options_file(stand_in: pytest.Pytester,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "report.yaml"
    options = stand_in.makefile(".yaml", opts="implementation: {organization: acme, project: acme-epp,"
                                              " version: 2.1.0, contact: ['@acme']}\n"
                                              f"report-output: {out}\n")
    stand_in.runpytest("--conformance-config", str(options), "--epp-command", "acme-epp {pool}",
                       "--implementation-url", "https://acme.example/epp")
    assert written(out)["implementation"] == {
        "organization": "acme", "project": "acme-epp", "url": "https://acme.example/epp",
        "version": "2.1.0", "contact": ["@acme"], "command": "acme-epp pool"}


def test_junit_xml_names_each_case_after_its_catalogue_test(stand_in: pytest.Pytester, tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    stand_in.runpytest("--junitxml", str(out))
    cases = {case.get("name"): case for case in ET.parse(out).iter("testcase")}
    assert set(cases) == {*STAND_INS, "test_not_a_conformance_test"}
    properties = {p.get("name"): p.get("value") for p in cases["PodDeletionRemovesEndpoints"].iter("property")}
    assert properties["eppconf-rules"] == " ".join(SUITE.get("PodDeletionRemovesEndpoints").rules)
    assert cases["PodDeletionRemovesEndpoints"].find("failure") is not None


def test_no_report_without_conformance_tests(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    out = tmp_path / "report.yaml"
    result = pytester.runpytest("--report-output", str(out))
    result.assert_outcomes(passed=1)
    assert "conformance report" not in result.stdout.str()
    assert not out.exists()


def test_xdist_workers_feed_one_report(stand_in: pytest.Pytester, tmp_path: Path) -> None:
    out = tmp_path / "report.yaml"
    junit = tmp_path / "junit.xml"
    result = stand_in.runpytest_subprocess("-n", "2", "--report-output", str(out), "--junitxml", str(junit))
    result.assert_outcomes(passed=4, failed=1)
    core = sections(out)["PortDiscovery"]["core"]
    provisional = [name for name in core_of("PortDiscovery") if SUITE.get(name).provisional]
    skipped = len(core_of("PortDiscovery")) - 3 - len(provisional)
    assert core["statistics"] == {"passed": 2, "failed": 1, "skipped": skipped, "notApplicable": 0}
    names = {case.get("name") for case in ET.parse(junit).iter("testcase")}
    assert names == {*STAND_INS, "test_not_a_conformance_test"}


@pytest.mark.parametrize(("arg", "mapped"), [
    ("conformance", ""),
    ("conformance/", ""),
    ("conformance/test_conformance.py::test_conformance[X]", "/test_conformance.py::test_conformance[X]"),
])
def test_the_word_conformance_names_the_installed_suite(tmp_path: Path, arg: str, mapped: str) -> None:
    assert suite_path(arg, tmp_path) == str(Path(conformance.__file__).parent) + mapped
    (tmp_path / "conformance").mkdir()
    assert suite_path(arg, tmp_path) == arg


@pytest.mark.parametrize("arg", ["tests", "conformance_extra", "-k"])
def test_other_arguments_are_left_alone(tmp_path: Path, arg: str) -> None:
    assert suite_path(arg, tmp_path) == arg


def test_pytest_conformance_collects_the_catalogue_anywhere(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("conformance", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines([f"*test_conformance.py::test_conformance[[]{test.name}[]]" for test in SUITE])


@pytest.mark.parametrize("where", ["empty dir", "checkout"])
def test_eppconf_conformance_is_pytest_conformance(tmp_path: Path, where: str) -> None:
    cwd = tmp_path if where == "empty dir" else Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-m", "eppconf", "conformance", "--collect-only", "-q",
                             "-p", "no:cacheprovider"], cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(SUITE)} tests collected" in result.stdout


def test_in_cluster_a_virtual_pods_only_test_is_not_applicable_with_its_reason(pytester: pytest.Pytester,
                                                                               tmp_path: Path) -> None:
    pytester.makepyfile(test_stand_in=STAND_IN_SUITE.replace(
        '"PortDiscoveryExpandsPod": passes,', '"PortDiscoveryExpandsPod": passes, "PodIpChangeMovesEndpoints": fails,'))
    kubeconfig, out = tmp_path / "kubeconfig", tmp_path / "report.yaml"
    kubeconfig.write_text("")
    result = pytester.runpytest("--cluster", "existing", "--cluster-kubeconfig", str(kubeconfig), "--epp-image",
                                "acme/epp:1", "--fakes-image", "acme/fakes:1", "--conformance-profile",
                                "TargetPorts", "-k", "TargetPortsFallback or PodIpChange", "--report-output",
                                str(out), "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    reason = SUITE.get("PodIpChangeMovesEndpoints").virtual_pods_only
    result.stdout.fnmatch_lines(["*existing mode, in-cluster topology)",
                                 f"NOT APPLICABLE PodIpChangeMovesEndpoints (in-cluster topology): {reason}",
                                 f"*SKIPPED*not applicable to the in-cluster topology: {reason}*"])
    data = written(out)
    assert (data["topology"], data["notApplicable"]) == (
        "in-cluster", [{"test": "PodIpChangeMovesEndpoints", "reason": reason}])
    core = data["profiles"][0]["core"]
    assert core["notApplicableTests"] == ["PodIpChangeMovesEndpoints"]
    assert "PodIpChangeMovesEndpoints" not in core["skippedTests"]
    assert data["implementation"]["command"] == ("--pool-name pool --pool-namespace {namespace} --grpc-port 9002"
                                                 " --grpc-health-port 9003 --metrics-port 9090 --bind-address 0.0.0.0")
