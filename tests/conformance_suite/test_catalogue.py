"""The feature and profile catalogue, the test registry and the suite's first entries."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conformance.catalogue import ConformanceTest, Registry
from conformance.features import PROFILES, Feature, profiles_named
from conformance.suite import SUITE


def body(harness: object) -> None:
    """A body that does nothing."""


def test_the_registry_keeps_order_and_refuses_duplicate_names() -> None:
    registry = Registry()
    registry.test(name="B", description="b", features={Feature.POD_LIFECYCLE}, rules=("PD-1",), faults=())(body)
    registry.test(name="A", description="a", features=(), rules=(), faults=())(body)
    assert [t.name for t in registry] == ["B", "A"]
    assert registry.get("B") == ConformanceTest("B", "b", frozenset({Feature.POD_LIFECYCLE}), ("PD-1",), body)
    with pytest.raises(ValueError, match="'A' is registered twice"):
        registry.test(name="A", description="again", features=(), rules=(), faults=())(body)


def test_merged_registries_keep_every_test() -> None:
    first, second = Registry(), Registry()
    first.test(name="A", description="a", features=(), rules=(), faults=())(body)
    second.test(name="B", description="b", features=(), rules=(), faults=())(body)
    assert [t.name for t in Registry.merge(first, second)] == ["A", "B"]


def test_the_first_tests_are_in_the_suite() -> None:
    assert {"PortDiscoveryExpandsPod", "TargetPortsFallback", "PodDeletionRemovesEndpoints"} <= {
        t.name for t in SUITE}


def test_every_suite_test_is_covered_by_some_profile() -> None:
    for test in SUITE:
        assert any(profile.covers(test.features) for profile in PROFILES.values()), test.name


def test_profiles_split_core_from_extended() -> None:
    port_discovery = PROFILES["PortDiscovery"]
    assert port_discovery.is_core({Feature.PORT_DISCOVERY})
    assert not port_discovery.is_core({Feature.PORT_ATTRIBUTES})
    assert port_discovery.covers({Feature.PORT_ATTRIBUTES})
    assert not PROFILES["TargetPorts"].covers({Feature.PORT_DISCOVERY})


def test_an_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown profile 'Gold'; known profiles: TargetPorts, "
                                         "ActivePorts, PortDiscovery"):
        profiles_named(["Gold"])


def test_the_catalogue_imports_without_the_harness() -> None:
    code = ("import sys, conformance.suite, conformance.report, conformance.options;"
            "heavy = {'kubernetes', 'grpc', 'conformance.harness.session'} & set(sys.modules);"
            "print(sorted(heavy))")
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert output.stdout.strip() == "[]"
