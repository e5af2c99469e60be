"""The fake model server answers like llm-d-inference-sim wherever an EPP could notice.

Runs fakes/compat/compare.sh (both servers in a loopback-only network namespace) against the
simulator built by scripts/build-inference-sim.sh; without the binary this skips, except in CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eppconf.controlplane import cache_root

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SIM = cache_root() / "inference-sim" / "v0.10.2" / "llm-d-inference-sim"


def test_every_probe_row_matches_the_simulator() -> None:
    if not SIM.is_file():
        message = f"no simulator at {SIM}; build it with `bash scripts/build-inference-sim.sh`"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    done = subprocess.run(["bash", str(ROOT / "fakes" / "compat" / "compare.sh"), str(SIM)],
                          env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines()
            if line.startswith("| ") and not line.startswith(("| probe |", "| --- |"))]
    assert len(rows) >= 15, done.stdout
    assert all(line.rstrip().endswith("| yes |") for line in rows), done.stdout
