"""Helpers of the kind tests: wait for the node image that ``scripts/with-images.sh`` builds in the
background, skip (or, with ``EPPCONF_REQUIRE_KIND=1``, fail) where Docker, the kind CLI or the node
image is missing; the conformance suite run in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import conformance
from eppconf.controlplane import cache_root
from eppconf.kind import NODE_IMAGE_ENV, unavailable_reason

REQUIRE_ENV = "EPPCONF_REQUIRE_KIND"
NODE_BUILD_ENV = "EPPCONF_KIND_NODE_BUILD"
"""The directory of the background node-image build of ``scripts/with-images.sh``."""
NODE_BUILD_TIMEOUT = 3600
"""Seconds a kind test waits for that build: a cold one on 2 cores beside the other tests."""
KIND_TEST_TIMEOUT = NODE_BUILD_TIMEOUT + 2400
"""pytest-timeout of a kind test: the wait for the node image, then the test itself."""
KIND_TEST_MARKS = [pytest.mark.slow, pytest.mark.kind, pytest.mark.timeout(KIND_TEST_TIMEOUT)]
"""The ``pytestmark`` of a module whose tests need a kind cluster."""
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


def kind_unavailable() -> str | None:
    """Why no kind cluster can be made here, or None; first waits for the background node-image
    build, if one runs, and takes the image it built."""
    directory = os.environ.get(NODE_BUILD_ENV)
    if directory:
        status, deadline = Path(directory) / "status", time.monotonic() + NODE_BUILD_TIMEOUT
        while not status.exists():
            if time.monotonic() > deadline:
                return f"the kind node image build ({directory}/log) has not ended after {NODE_BUILD_TIMEOUT} s"
            time.sleep(5)
        if status.read_text().strip() != "0":
            log = (Path(directory) / "log").read_text().strip().splitlines()
            return "scripts/build-kind-node.sh failed:\n" + "\n".join(log[-20:])
        os.environ[NODE_IMAGE_ENV] = (Path(directory) / "image").read_text().split()[-1]
    return unavailable_reason()


def run_suite(cwd: Path, *args: str, timeout: float = SUITE_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``pytest`` on the conformance suite with ``args``, in ``cwd``, output captured."""
    env = os.environ | {"EPPCONF_CACHE": str(cache_root())}
    return subprocess.run([sys.executable, "-m", "pytest", SUITE_MODULE, "-p", "no:cacheprovider", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=timeout)
