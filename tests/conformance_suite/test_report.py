"""The conformance report built from plain results: sections per profile, states, schema and summary."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from pathlib import Path

import jsonschema
import pytest
import yaml

from conformance import report
from conformance.catalogue import TOPOLOGIES, Registry
from conformance.features import PROFILES, Feature, profiles_named
from conformance.options import CLUSTER_MODES
from conformance.report import ResultState, TestResult
from eppconf.resources import resource

PASSED, FAILED = TestResult(ResultState.PASSED), TestResult(ResultState.FAILED, "AssertionError: boom")
SKIPPED, EXEMPT = TestResult(ResultState.SKIPPED), TestResult(ResultState.EXEMPT)
IMPLEMENTATION = {"project": "x", "version": "1", "command": "x"}
PUBLISHED = Path(__file__).resolve().parents[2] / "docs" / "reports"


def noop(harness: object) -> None:
    """A body that does nothing."""


def registry() -> Registry:
    tests = Registry()
    for name, features, provisional in [("Fallback", {Feature.ENDPOINT_PER_TARGET_PORT}, False),
                                        ("Expand", {Feature.PORT_DISCOVERY}, False),
                                        ("Attributes", {Feature.PORT_DISCOVERY, Feature.PORT_ATTRIBUTES}, False),
                                        ("Newcomer", {Feature.PORT_DISCOVERY}, True)]:
        tests.test(name=name, description=name, features=features, rules=("PD-1",), faults=(),
                   provisional=provisional)(noop)
    return tests


def build(results: dict[str, TestResult], profiles: list[str],
          supported: Collection[str] = tuple(Feature)) -> dict:
    data = report.build_report(registry=registry(), results=results, profiles=profiles_named(profiles),
                               implementation=IMPLEMENTATION, supported_features=supported, mode="local",
                               eppconf_version="0.1.0", spec="0.2.0", date=dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    report.validate(data)
    return data


def test_the_report_is_versioned_and_names_the_implementation() -> None:
    data = build({"Fallback": PASSED}, ["TargetPorts"])
    assert (data["apiVersion"], data["kind"]) == ("eppconf.dev/v1alpha1", "ConformanceReport")
    assert data["date"] == "2026-01-02T00:00:00+00:00"
    assert data["implementation"] == IMPLEMENTATION
    assert (data["mode"], data["eppconfVersion"], data["specVersion"]) == ("local", "0.1.0", "0.2.0")


def test_each_profile_lists_its_core_results() -> None:
    data = build({"Fallback": PASSED, "Expand": FAILED, "Attributes": PASSED, "Newcomer": PASSED},
                 ["TargetPorts", "PortDiscovery"])
    target_ports, port_discovery = data["profiles"]
    assert target_ports == {"name": "TargetPorts", "summary": "core success (1 passed, 0 failed, 0 skipped)",
                            "core": {"result": "success",
                                     "statistics": {"passed": 1, "failed": 0, "skipped": 0, "notApplicable": 0},
                                     "passedTests": ["Fallback"], "failedTests": [], "skippedTests": [],
                                     "notApplicableTests": [], "provisionalTests": []}}
    assert port_discovery["core"]["result"] == "failure"
    assert port_discovery["core"]["failedTests"] == ["Expand"]
    assert port_discovery["extended"]["passedTests"] == ["Attributes"]
    assert port_discovery["extended"]["supportedFeatures"] == ["PortAttributes"]
    assert data["failures"] == [{"test": "Expand", "rules": ["PD-1"], "message": "AssertionError: boom"}]


def test_tests_absent_from_the_results_are_skipped_and_make_a_partial_result() -> None:
    (section,) = build({"Expand": PASSED, "Attributes": SKIPPED}, ["PortDiscovery"])["profiles"]
    assert section["core"]["result"] == "partial"
    assert section["core"]["skippedTests"] == ["Fallback"]
    assert section["extended"]["result"] == "skipped"


def test_an_exempt_extended_feature_is_unsupported_not_partial() -> None:
    data = build({"Fallback": PASSED, "Expand": PASSED, "Attributes": EXEMPT, "Newcomer": PASSED},
                 ["PortDiscovery"], supported=["EndpointPerTargetPort", "PortDiscovery"])
    (section,) = data["profiles"]
    assert section["core"]["result"] == "success"
    assert (section["extended"]["supportedFeatures"], section["extended"]["unsupportedFeatures"]) == (
        [], ["PortAttributes"])
    assert section["extended"]["skippedTests"] == ["Attributes"]
    assert data["supportedFeatures"] == ["EndpointPerTargetPort", "PortDiscovery"]


def test_an_exempt_core_feature_makes_the_core_partial() -> None:
    (section,) = build({"Fallback": EXEMPT, "Expand": PASSED, "Newcomer": PASSED}, ["PortDiscovery"],
                       supported=["PortDiscovery"])["profiles"]
    assert section["core"]["result"] == "partial"


def test_a_provisional_test_fails_no_profile() -> None:
    data = build({"Fallback": PASSED, "Expand": PASSED, "Newcomer": FAILED}, ["PortDiscovery"])
    core = data["profiles"][0]["core"]
    assert (core["result"], core["provisionalTests"], core["failedTests"]) == ("success", ["Newcomer"], [])
    assert data["failures"][0]["test"] == "Newcomer"
    passed = build({"Fallback": PASSED, "Expand": PASSED, "Newcomer": PASSED}, ["PortDiscovery"])
    assert passed["succeededProvisionalTests"] == ["Newcomer"]
    assert "Newcomer" in passed["profiles"][0]["core"]["passedTests"]


def test_extended_features_without_a_test_are_left_out() -> None:
    (section,) = build({"Fallback": PASSED}, ["ActivePorts"])["profiles"]
    assert "extended" not in section  # LlmdActivePorts is extended here, but no test of this registry needs it


def test_the_summary_table_lists_every_part_and_failure() -> None:
    table = report.summary_table(build({"Fallback": PASSED, "Expand": FAILED}, ["PortDiscovery"]))
    lines = table.splitlines()
    assert lines[0] == "x 1 against spec 0.2.0 (eppconf 0.1.0, local mode)"
    assert lines[1].split() == ["profile", "part", "result", "passed", "failed", "skipped"]
    assert lines[2].split() == ["PortDiscovery", "core", "failure", "1", "1", "0"]
    assert lines[3].split() == ["PortDiscovery", "extended", "skipped", "0", "0", "1"]
    assert lines[4] == "FAILED Expand [PD-1]: AssertionError: boom"


def test_the_schema_refuses_a_report_missing_its_spec_version() -> None:
    data = build({"Fallback": PASSED}, ["TargetPorts"])
    del data["specVersion"]
    with pytest.raises(jsonschema.ValidationError, match="'specVersion' is a required property"):
        report.validate(data)


def test_the_spec_version_is_read_from_the_spec() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", report.spec_version())
    assert f"\nVersion: {report.spec_version()}\n" in resource("docs/spec.md").read_text()


def test_write_round_trips_through_yaml(tmp_path: Path) -> None:
    data = build({"Fallback": PASSED}, list(PROFILES))
    path = tmp_path / "deep" / "report.yaml"
    report.write(data, path)
    assert yaml.safe_load(path.read_text()) == data
    assert path.read_text().startswith("apiVersion: eppconf.dev/v1alpha1\nkind: ConformanceReport\n")


@pytest.mark.parametrize("published", sorted(PUBLISHED.glob("*.yaml")), ids=lambda path: path.name)
def test_published_reports_follow_the_schema(published: Path) -> None:
    report.validate(yaml.safe_load(published.read_text()))


def test_the_schema_knows_every_cluster_mode() -> None:
    assert tuple(report.schema()["properties"]["mode"]["enum"]) == CLUSTER_MODES


def test_not_applicable_tests_are_listed_with_their_reason_and_make_no_part_partial() -> None:
    tests = registry()
    tests.test(name="MovesIp", description="d", features={Feature.ENDPOINT_PER_TARGET_PORT}, rules=("PD-2",),
               faults=(), virtual_pods_only="it moves a pod IP")(noop)
    not_applicable = TestResult(ResultState.NOT_APPLICABLE, "it moves a pod IP")
    data = report.build_report(registry=tests, results={"Fallback": PASSED, "MovesIp": not_applicable},
                               profiles=profiles_named(["TargetPorts"]), implementation=IMPLEMENTATION,
                               supported_features=tuple(Feature), mode="existing", topology="in-cluster",
                               eppconf_version="0.1.0", spec="0.2.0")
    report.validate(data)
    core = data["profiles"][0]["core"]
    assert (core["result"], core["notApplicableTests"], core["skippedTests"]) == ("success", ["MovesIp"], [])
    assert core["statistics"] == {"passed": 1, "failed": 0, "skipped": 0, "notApplicable": 1}
    assert data["notApplicable"] == [{"test": "MovesIp", "reason": "it moves a pod IP"}]
    assert data["profiles"][0]["summary"] == "core success (1 passed, 0 failed, 0 skipped, 1 not applicable)"
    lines = report.summary_table(data).splitlines()
    assert lines[0].endswith("(eppconf 0.1.0, existing mode, in-cluster topology)")
    assert lines[-1] == "NOT APPLICABLE MovesIp (in-cluster topology): it moves a pod IP"


def test_the_report_states_the_topology() -> None:
    assert build({"Fallback": PASSED}, ["TargetPorts"])["topology"] == "virtual-pods"
    assert tuple(report.schema()["properties"]["topology"]["enum"]) == TOPOLOGIES
