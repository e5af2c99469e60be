"""The conformance report: result states and the versioned YAML document written at session end.

Modelled on Gateway API's ConformanceReport: apiVersion/kind, implementation metadata, one
section per profile with core and extended results, and a summary.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from conformance.catalogue import ConformanceTest, Registry
from conformance.features import Feature, Profile

API_VERSION = "eppconf.dev/v1alpha1"
KIND = "ConformanceReport"


class ResultState(StrEnum):
    """What became of one conformance test in a run."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_SUPPORTED = "not-supported"
    """Its features are outside the chosen profiles, so it did not run."""


def build_report(*, registry: Registry, results: Mapping[str, ResultState],
                 profiles: Iterable[Profile], implementation: Mapping[str, str], mode: str,
                 eppconf_version: str, date: dt.datetime | None = None) -> dict[str, Any]:
    """The report as plain data. Tests absent from ``results`` did not run and count as skipped."""
    tests = [test for test in registry if test.name in results]
    sections = [_profile_section(profile, tests, results) for profile in profiles]
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "date": (date or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        "implementation": dict(implementation),
        "eppconfVersion": eppconf_version,
        "mode": mode,
        "profiles": sections,
        "summary": _summary(sections),
    }


def _profile_section(profile: Profile, tests: list[ConformanceTest],
                     results: Mapping[str, ResultState]) -> dict[str, Any]:
    core = [t for t in tests if profile.is_core(t.features)]
    extended = [t for t in tests if profile.covers(t.features) and not profile.is_core(t.features)]
    section: dict[str, Any] = {"name": profile.name, "core": _results(core, results)}
    if profile.extended:
        section["extended"] = _results(extended, results) | _extended_support(profile, extended, results)
    return section


def _results(tests: list[ConformanceTest], results: Mapping[str, ResultState]) -> dict[str, Any]:
    by_state = {state: sorted(t.name for t in tests if results[t.name] is state) for state in ResultState}
    failed, passed = by_state[ResultState.FAILED], by_state[ResultState.PASSED]
    skipped = by_state[ResultState.SKIPPED] + by_state[ResultState.NOT_SUPPORTED]
    result = "failure" if failed else ("partial" if skipped else "success")
    return {
        "result": result,
        "statistics": {"passed": len(passed), "failed": len(failed), "skipped": len(skipped)},
        "passedTests": passed,
        "failedTests": failed,
        "skippedTests": sorted(skipped),
    }


def _extended_support(profile: Profile, tests: list[ConformanceTest],
                      results: Mapping[str, ResultState]) -> dict[str, list[str]]:
    """An extended feature is supported when at least one test needs it and all of those passed."""
    def supported(feature: Feature) -> bool:
        states = [results[t.name] for t in tests if feature in t.features]
        return bool(states) and all(state is ResultState.PASSED for state in states)
    ordered = sorted(profile.extended)
    return {"supportedFeatures": [str(f) for f in ordered if supported(f)],
            "unsupportedFeatures": [str(f) for f in ordered if not supported(f)]}


def _summary(sections: list[dict[str, Any]]) -> str:
    parts = []
    for section in sections:
        stats = section["core"]["statistics"]
        parts.append(f"{section['name']}: core {section['core']['result']} ({stats['passed']} passed,"
                     f" {stats['failed']} failed, {stats['skipped']} skipped)")
    return "; ".join(parts)


def render(report: Mapping[str, Any]) -> str:
    """The report as YAML, keys in document order."""
    return yaml.safe_dump(dict(report), sort_keys=False, default_flow_style=False)


def write(report: Mapping[str, Any], path: Path) -> None:
    """Write the YAML report to ``path``, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report))
