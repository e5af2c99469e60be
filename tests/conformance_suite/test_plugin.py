"""The plugin run end to end on stand-in test bodies: result states, report output, xdist."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytest_plugins = ["pytester"]

STAND_IN_SUITE = '''
import dataclasses
import pytest
from conformance.suite import SUITE

def passes(harness):
    assert harness == "harness"

def fails(harness):
    raise AssertionError("expected: [a]  observed: [b]")

def skips(harness):
    pytest.skip("nothing to see")

BODIES = {"TargetPortsFallback": passes, "PodDeletionRemovesEndpoints": fails,
          "PortDiscoveryExpandsPod": passes}
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


@pytest.fixture
def stand_in(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_stand_in=STAND_IN_SUITE)
    return pytester


def test_states_reach_the_report(stand_in: pytest.Pytester, tmp_path: Path) -> None:
    out = tmp_path / "report.yaml"
    result = stand_in.runpytest("--profile", "TargetPorts", "--report-output", str(out), "-rs")
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*eppconf conformance report*", "apiVersion: eppconf.dev/v1alpha1",
                                 f"report written to {out}",
                                 "*SKIPPED*not supported by the chosen profiles (needs PortDiscovery)*"])
    data = yaml.safe_load(out.read_text())
    assert [section["name"] for section in data["profiles"]] == ["TargetPorts"]
    core = data["profiles"][0]["core"]
    assert (core["passedTests"], core["failedTests"]) == (["TargetPortsFallback"],
                                                          ["PodDeletionRemovesEndpoints"])
    assert data["implementation"]["name"] == "reference"


def test_unsupported_tests_are_listed_as_skipped_where_a_profile_covers_them(
        stand_in: pytest.Pytester, tmp_path: Path) -> None:
    out = tmp_path / "report.yaml"
    stand_in.runpytest("--profile", "TargetPorts", "--profile", "PortDiscovery",
                       "--report-output", str(out))
    sections = {s["name"]: s for s in yaml.safe_load(out.read_text())["profiles"]}
    assert sections["PortDiscovery"]["core"]["passedTests"] == ["PortDiscoveryExpandsPod",
                                                                "TargetPortsFallback"]
    assert sections["TargetPorts"]["core"]["skippedTests"] == []


def test_a_skip_inside_a_test_is_skipped_not_unsupported(pytester: pytest.Pytester,
                                                         tmp_path: Path) -> None:
    pytester.makepyfile(test_stand_in=STAND_IN_SUITE.replace('"PortDiscoveryExpandsPod": passes',
                                                             '"PortDiscoveryExpandsPod": skips'))
    out = tmp_path / "report.yaml"
    pytester.runpytest("--report-output", str(out)).assert_outcomes(passed=2, failed=1, skipped=1)
    sections = {s["name"]: s for s in yaml.safe_load(out.read_text())["profiles"]}
    assert sections["PortDiscovery"]["core"]["skippedTests"] == ["PortDiscoveryExpandsPod"]
    assert sections["PortDiscovery"]["core"]["result"] == "failure"


def test_the_custom_command_is_reported(stand_in: pytest.Pytester, tmp_path: Path) -> None:
    out = tmp_path / "report.yaml"
    stand_in.runpytest("--epp-command", "my-epp --pool {pool}", "--report-output", str(out))
    assert yaml.safe_load(out.read_text())["implementation"] == {
        "name": "custom", "version": "unknown", "command": "my-epp --pool {pool}"}


def test_options_file_metadata_reaches_the_report(stand_in: pytest.Pytester, tmp_path: Path) -> None:
    out = tmp_path / "report.yaml"
    options = stand_in.makefile(".yaml", opts="implementation: {name: acme-epp, version: 2.1.0}\n"
                                              f"report-output: {out}\n")
    stand_in.runpytest("--conformance-config", str(options))
    assert yaml.safe_load(out.read_text())["implementation"]["name"] == "acme-epp"


def test_no_report_without_conformance_tests(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    out = tmp_path / "report.yaml"
    result = pytester.runpytest("--report-output", str(out))
    result.assert_outcomes(passed=1)
    assert "conformance report" not in result.stdout.str()
    assert not out.exists()


def test_xdist_workers_feed_one_report(stand_in: pytest.Pytester, tmp_path: Path) -> None:
    out = tmp_path / "report.yaml"
    result = stand_in.runpytest_subprocess("-n", "2", "--report-output", str(out))
    result.assert_outcomes(passed=3, failed=1)
    sections = {s["name"]: s for s in yaml.safe_load(out.read_text())["profiles"]}
    assert sections["PortDiscovery"]["core"]["statistics"] == {"passed": 2, "failed": 1, "skipped": 0}
