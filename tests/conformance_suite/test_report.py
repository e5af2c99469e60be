"""The conformance report built from plain results: sections per profile, states and summary."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from conformance import report
from conformance.catalogue import Registry
from conformance.features import PROFILES, Feature, profiles_named
from conformance.report import ResultState


def noop(harness: object) -> None:
    """A body that does nothing."""


def registry() -> Registry:
    tests = Registry()
    for name, features in [("Fallback", {Feature.ENDPOINT_PER_TARGET_PORT}),
                           ("Expand", {Feature.PORT_DISCOVERY}),
                           ("Attributes", {Feature.PORT_DISCOVERY, Feature.PORT_ATTRIBUTES})]:
        tests.test(name=name, description=name, features=features, rules=())(noop)
    return tests


def build(results: dict[str, ResultState], profiles: list[str]) -> dict:
    return report.build_report(registry=registry(), results=results, profiles=profiles_named(profiles),
                               implementation={"name": "x", "version": "1", "command": "x"},
                               mode="local", eppconf_version="0.1.0",
                               date=dt.datetime(2026, 1, 2, tzinfo=dt.UTC))


def test_the_report_is_versioned_and_names_the_implementation() -> None:
    data = build({"Fallback": ResultState.PASSED}, ["TargetPorts"])
    assert data["apiVersion"] == "eppconf.dev/v1alpha1"
    assert data["kind"] == "ConformanceReport"
    assert data["date"] == "2026-01-02T00:00:00+00:00"
    assert data["implementation"] == {"name": "x", "version": "1", "command": "x"}
    assert (data["mode"], data["eppconfVersion"]) == ("local", "0.1.0")


def test_each_profile_lists_its_core_results() -> None:
    data = build({"Fallback": ResultState.PASSED, "Expand": ResultState.FAILED,
                  "Attributes": ResultState.PASSED}, ["TargetPorts", "PortDiscovery"])
    target_ports, port_discovery = data["profiles"]
    assert target_ports["core"] == {"result": "success",
                                    "statistics": {"passed": 1, "failed": 0, "skipped": 0},
                                    "passedTests": ["Fallback"], "failedTests": [], "skippedTests": []}
    assert "extended" not in target_ports
    assert port_discovery["core"]["result"] == "failure"
    assert port_discovery["core"]["failedTests"] == ["Expand"]
    assert port_discovery["extended"]["passedTests"] == ["Attributes"]
    assert port_discovery["extended"]["supportedFeatures"] == ["PortAttributes"]
    assert data["summary"].startswith("TargetPorts: core success (1 passed, 0 failed, 0 skipped);")


def test_skipped_and_unsupported_tests_make_a_partial_result() -> None:
    data = build({"Fallback": ResultState.SKIPPED, "Expand": ResultState.PASSED,
                  "Attributes": ResultState.NOT_SUPPORTED}, ["PortDiscovery"])
    (section,) = data["profiles"]
    assert section["core"]["result"] == "partial"
    assert section["core"]["skippedTests"] == ["Fallback"]
    assert section["extended"]["skippedTests"] == ["Attributes"]
    assert section["extended"]["unsupportedFeatures"] == ["PortAttributes"]


def test_write_round_trips_through_yaml(tmp_path: Path) -> None:
    data = build({"Fallback": ResultState.PASSED}, list(PROFILES))
    path = tmp_path / "deep" / "report.yaml"
    report.write(data, path)
    assert yaml.safe_load(path.read_text()) == data
    assert path.read_text().startswith("apiVersion: eppconf.dev/v1alpha1\nkind: ConformanceReport\n")
