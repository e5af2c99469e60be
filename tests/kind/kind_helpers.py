"""Helpers of the kind tests: skip (or, with ``EPPCONF_REQUIRE_KIND=1``, fail) where Docker, the
kind CLI or the node image is missing; the conformance suite run in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import conformance
from eppconf.controlplane import cache_root

REQUIRE_ENV = "EPPCONF_REQUIRE_KIND"
SUITE_MODULE = str(Path(conformance.__file__).parent / "test_conformance.py")
SUITE_TIMEOUT = 1200
"""Seconds one suite run (a kind cluster's creation included) may take on a loaded 2-core machine."""


def skip_unless(reason: str | None) -> None:
    """Skip the test for ``reason`` (fail it with ``EPPCONF_REQUIRE_KIND`` set); nothing if None."""
    if reason is None:
        return
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def run_suite(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``pytest`` on the conformance suite with ``args``, in ``cwd``, output captured."""
    env = os.environ | {"EPPCONF_CACHE": str(cache_root())}
    return subprocess.run([sys.executable, "-m", "pytest", SUITE_MODULE, "-p", "no:cacheprovider", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=SUITE_TIMEOUT)
