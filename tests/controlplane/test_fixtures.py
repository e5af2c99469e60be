"""The shared ``control_plane`` fixture without binaries: a skip locally, a failure in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


def _run_without_binaries(tmp_path: Path, *, ci: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(CONFTEST.read_text())
    (tmp_path / "test_uses_it.py").write_text("def test_it(control_plane):\n    pass\n")
    env = {key: value for key, value in os.environ.items() if key not in ("CI", "KUBEBUILDER_ASSETS")}
    env["EPPCONF_CACHE"] = str(tmp_path / "empty-cache")
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-rs", "-p", "no:eppconf", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )


@pytest.mark.parametrize(("ci", "outcome"), [(False, "1 skipped"), (True, "1 error")])
def test_missing_binaries(tmp_path: Path, ci: bool, outcome: str) -> None:
    result = _run_without_binaries(tmp_path, ci=ci)
    assert outcome in result.stdout, result.stdout
    assert "--control-plane-bin-dir" in result.stdout and "KUBEBUILDER_ASSETS" in result.stdout
    assert "build-control-plane.sh" in result.stdout
