"""The conformance report: result states, the versioned YAML document and its terminal summary.

Modelled on Gateway API's ConformanceReport: apiVersion/kind, implementation metadata, one
section per profile with core and extended results, and per-profile summaries. Every catalogue
test a profile covers appears in that profile's section; one absent from the results (deselected
with ``-k`` or a node id) counts as skipped. The document is described by
``schemas/conformance-report.schema.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from conformance.catalogue import VIRTUAL_PODS, ConformanceTest, Registry
from conformance.features import Feature, Profile
from eppconf.resources import resource

API_VERSION = "eppconf.dev/v1alpha1"
KIND = "ConformanceReport"
SCHEMA = "schemas/conformance-report.schema.json"
SPEC = "docs/spec.md"


class ResultState(StrEnum):
    """What became of one conformance test in a run."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Skipped by its body, or deselected (absent from the results)."""
    NOT_SUPPORTED = "not-supported"
    """Its features are outside the chosen profiles, so it did not run."""
    EXEMPT = "exempt"
    """It needs a feature the implementation does not declare (``--supported-features``,
    ``--exempt-features``), so it did not run."""
    NOT_APPLICABLE = "not-applicable"
    """It needs what the run's topology cannot do (``virtual_pods_only``), so it did not run; its
    message says why. It makes no profile partial."""


@dataclass(frozen=True)
class TestResult:
    """The state of one test and, for a failure, the first line of its message."""

    __test__ = False  # not a pytest test class

    state: ResultState
    message: str = ""


DESELECTED = TestResult(ResultState.SKIPPED, "deselected")


def spec_version() -> str:
    """The ``Version:`` line of docs/spec.md (shipped in the wheel)."""
    match = re.search(r"^Version: (\S+)$", resource(SPEC).read_text(encoding="utf-8"), re.MULTILINE)
    if match is None:
        raise ValueError(f"{resource(SPEC)} has no 'Version: ...' line")
    return match.group(1)


def build_report(*, registry: Registry, results: Mapping[str, TestResult], profiles: Iterable[Profile],
                 implementation: Mapping[str, Any], supported_features: Collection[str], mode: str,
                 eppconf_version: str, spec: str, topology: str = VIRTUAL_PODS,
                 date: dt.datetime | None = None) -> dict[str, Any]:
    """The report as plain data; tests absent from ``results`` count as skipped (deselected).

    ``supported_features`` are the features the implementation declares; features no test of
    ``registry`` needs are left out of the report.
    """
    tested = {feature for test in registry for feature in test.features}
    supported = [str(feature) for feature in sorted(tested) if feature in supported_features]
    sections = [_profile_section(profile, registry, results, set(supported), tested) for profile in profiles]
    in_scope = [test for test in registry if any(p.covers(test.features) for p in profiles)]
    state = {test.name: results.get(test.name, DESELECTED) for test in in_scope}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "date": (date or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        "implementation": dict(implementation),
        "specVersion": spec,
        "eppconfVersion": eppconf_version,
        "mode": mode,
        "topology": topology,
        "supportedFeatures": supported,
        "profiles": sections,
        "succeededProvisionalTests": [test.name for test in in_scope
                                      if test.provisional and state[test.name].state is ResultState.PASSED],
        "failures": [{"test": test.name, "rules": list(test.rules), "message": state[test.name].message}
                     for test in in_scope if state[test.name].state is ResultState.FAILED],
        "notApplicable": [{"test": test.name, "reason": state[test.name].message} for test in in_scope
                          if state[test.name].state is ResultState.NOT_APPLICABLE],
    }


def _profile_section(profile: Profile, registry: Registry, results: Mapping[str, TestResult],
                     supported: set[str], tested: set[Feature]) -> dict[str, Any]:
    core = [test for test in registry if profile.is_core(test.features)]
    section: dict[str, Any] = {"name": profile.name, "core": _status(core, results, blocking_exempt=True)}
    extended_features = sorted(feature for feature in profile.extended if feature in tested)
    if extended_features:
        extended = [test for test in registry if profile.covers(test.features) and not profile.is_core(test.features)]
        section["extended"] = _status(extended, results, blocking_exempt=False) | {
            "supportedFeatures": [str(f) for f in extended_features if f in supported],
            "unsupportedFeatures": [str(f) for f in extended_features if f not in supported],
        }
    section["summary"] = "; ".join(f"{part} {_describe(section[part])}" for part in ("core", "extended")
                                   if part in section)
    return section


def _status(tests: list[ConformanceTest], results: Mapping[str, TestResult], *,
            blocking_exempt: bool) -> dict[str, Any]:
    """Results of one part of a profile. An extended test skipped because the implementation does
    not declare its feature does not make the part partial: the feature is listed as unsupported."""
    state = {test.name: results.get(test.name, DESELECTED).state for test in tests}
    provisional = [t.name for t in tests if t.provisional and state[t.name] is not ResultState.PASSED]
    counted = [t.name for t in tests if t.name not in provisional]
    passed = [name for name in counted if state[name] is ResultState.PASSED]
    failed = [name for name in counted if state[name] is ResultState.FAILED]
    not_applicable = [name for name in counted if state[name] is ResultState.NOT_APPLICABLE]
    skipped = [name for name in counted if name not in {*passed, *failed, *not_applicable}]
    blocking = [name for name in skipped if blocking_exempt or state[name] is not ResultState.EXEMPT]
    if failed:
        result = "failure"
    elif not passed:
        result = "skipped"
    else:
        result = "partial" if blocking else "success"
    return {
        "result": result,
        "statistics": {"passed": len(passed), "failed": len(failed), "skipped": len(skipped),
                       "notApplicable": len(not_applicable)},
        "passedTests": sorted(passed),
        "failedTests": sorted(failed),
        "skippedTests": sorted(skipped),
        "notApplicableTests": sorted(not_applicable),
        "provisionalTests": sorted(provisional),
    }


def _describe(status: Mapping[str, Any]) -> str:
    stats = status["statistics"]
    not_applicable = f", {stats['notApplicable']} not applicable" if stats["notApplicable"] else ""
    return (f"{status['result']} ({stats['passed']} passed, {stats['failed']} failed, {stats['skipped']} skipped"
            f"{not_applicable})")


def render(report: Mapping[str, Any]) -> str:
    """The report as YAML, keys in document order."""
    return yaml.safe_dump(dict(report), sort_keys=False, default_flow_style=False)


def summary_table(report: Mapping[str, Any]) -> str:
    """A readable table of the report for the end of the terminal output, then each failure."""
    rows = [("profile", "part", "result", "passed", "failed", "skipped")]
    for section in report["profiles"]:
        for part in ("core", "extended"):
            if part in section:
                status, stats = section[part], section[part]["statistics"]
                rows.append((section["name"], part, status["result"], str(stats["passed"]),
                             str(stats["failed"]), str(stats["skipped"])))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) if column < 3 else cell.rjust(width)
                       for column, (cell, width) in enumerate(zip(row, widths, strict=True))).rstrip()
             for row in rows]
    implementation = report["implementation"]
    topology = f", {report['topology']} topology" if report.get("topology", VIRTUAL_PODS) != VIRTUAL_PODS else ""
    lines.insert(0, f"{implementation['project']} {implementation['version']} against spec"
                    f" {report['specVersion']} (eppconf {report['eppconfVersion']}, {report['mode']} mode{topology})")
    lines += [f"FAILED {failure['test']} [{', '.join(failure['rules'])}]: {failure['message']}"
              for failure in report["failures"]]
    lines += [f"NOT APPLICABLE {entry['test']} ({report['topology']} topology): {entry['reason']}"
              for entry in report.get("notApplicable", [])]
    return "\n".join(lines) + "\n"


def write(report: Mapping[str, Any], path: Path) -> None:
    """Write the YAML report to ``path``, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report))


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of the report document."""
    return json.loads(resource(SCHEMA).read_text(encoding="utf-8"))


def validate(report: Mapping[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` if ``report`` does not follow the schema."""
    import jsonschema

    jsonschema.validate(dict(report), schema(), cls=jsonschema.Draft202012Validator)
