"""Shipped files (schemas, build scripts, the spec) and ``eppconf build``, from a checkout or a wheel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from eppconf import build, resources
from eppconf.resources import resource


def test_the_installed_copy_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    installed, checkout = tmp_path / "site" / "eppconf", tmp_path / "checkout"
    for root in (installed, checkout):
        (root / "docs").mkdir(parents=True)
        (root / "docs" / "spec.md").write_text(str(root))
    monkeypatch.setattr(resources, "ROOTS", (installed, checkout))
    assert resource("docs/spec.md") == installed / "docs" / "spec.md"
    monkeypatch.setattr(resources, "ROOTS", (tmp_path / "nowhere", checkout))
    assert resource("docs/spec.md") == checkout / "docs" / "spec.md"
    with pytest.raises(FileNotFoundError, match="docs/missing.md not found in .*nowhere or .*checkout"):
        resource("docs/missing.md")


def test_every_build_target_has_its_script() -> None:
    for target in build.TARGETS:
        assert build.script(target).is_file()
    assert build.build_command("gie-epp", "v1.6.0", "lwepp") == "eppconf build gie-epp v1.6.0 lwepp"


def test_eppconf_build_runs_the_script(tmp_path: Path) -> None:
    """The script prints the path it builds; an existing executable there counts as cached."""
    binary = tmp_path / "llm-d-inference-sim"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    result = subprocess.run([sys.executable, "-m", "eppconf", "build", "inference-sim", str(tmp_path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(binary)
    assert "[build-inference-sim] cached:" in result.stderr


def test_an_unknown_target_is_a_usage_error() -> None:
    result = subprocess.run([sys.executable, "-m", "eppconf", "build", "kubelet"], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 2
    assert "invalid choice: 'kubelet'" in result.stderr
