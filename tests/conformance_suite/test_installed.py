"""The suite as a new user meets it: eppconf's wheel installed into a fresh virtualenv, run from an
empty directory with ``pytest conformance`` and ``eppconf conformance``, beside pytest-profiling.

The wheel is built from this checkout; its dependencies come from the package index, pinned by
``constraints.txt``. The run against the reference EPP needs the control-plane binaries: without
them it skips, except in CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conformance import report
from conformance.suite import SUITE
from eppconf.controlplane import BinariesNotFound, cache_root, find_binaries

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def run(argv: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with an environment that knows nothing of this checkout or its virtualenv."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTEST_ADDOPTS") and not key.startswith("PYTEST_XDIST")}
    env["EPPCONF_CACHE"] = str(cache_root())
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def must(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtualenv holding eppconf's wheel, its pinned dependencies and pytest-profiling."""
    work = tmp_path_factory.mktemp("installed")
    must(run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(work / "dist"), str(ROOT)],
             cwd=work))
    (wheel,) = (work / "dist").glob("eppconf-*.whl")
    must(run([sys.executable, "-m", "venv", str(work / "venv")], cwd=work))
    must(run([str(work / "venv" / "bin" / "pip"), "install", "--quiet", "-c", str(ROOT / "constraints.txt"),
              str(wheel), "pytest-profiling"], cwd=work))
    yield work / "venv"


@pytest.fixture
def empty_dir(tmp_path: Path) -> Path:
    empty = tmp_path / "empty"
    empty.mkdir()
    return empty


def test_the_installed_package_is_the_wheel(venv: Path, empty_dir: Path) -> None:
    code = "import conformance, eppconf.resources as r; print(conformance.__file__); print(r.resource('docs/spec.md'))"
    for line in must(run([str(venv / "bin" / "python"), "-c", code], cwd=empty_dir)).splitlines():
        assert line.startswith(str(venv)), line


@pytest.mark.parametrize("command", [["pytest", "conformance"], ["eppconf", "conformance"]])
def test_the_catalogue_is_collected_from_an_empty_dir(venv: Path, empty_dir: Path, command: list[str]) -> None:
    out = must(run([str(venv / "bin" / command[0]), *command[1:], "--collect-only", "-q", "-p", "no:cacheprovider"],
                   cwd=empty_dir))
    assert f"{len(SUITE)} tests collected" in out
    assert list(empty_dir.iterdir()) == []


def test_a_run_writes_a_report_that_follows_the_schema(venv: Path, empty_dir: Path) -> None:
    try:
        find_binaries()
    except BinariesNotFound as err:
        if os.environ.get("CI"):
            pytest.fail(str(err), pytrace=False)
        pytest.skip(str(err))
    result = run([str(venv / "bin" / "pytest"), "conformance", "-p", "no:cacheprovider", "-k", "TargetPortsFallback",
                  "--report-output", "report.yaml", "--profile"], cwd=empty_dir)
    out = must(result)
    assert "1 passed" in out, out
    data = yaml.safe_load((empty_dir / "report.yaml").read_text())
    report.validate(data)
    assert data["implementation"]["project"] == "eppconf-reference-epp"
    assert {section["core"]["result"] for section in data["profiles"]} == {"partial"}
    assert "eppconf conformance report" in out and "TargetPorts    core      partial" in out
