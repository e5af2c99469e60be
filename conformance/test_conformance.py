"""The one pytest module of the conformance suite: one test per catalogue entry, ids = names."""

from __future__ import annotations

import pytest

from conformance.catalogue import ConformanceTest
from conformance.harness.epp import EppExited
from conformance.harness.session import Harness
from conformance.suite import SUITE

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("conformance_test", list(SUITE), ids=lambda test: test.name)
def test_conformance(conformance_test: ConformanceTest, conformance_harness: Harness) -> None:
    try:
        conformance_test.body(conformance_harness)
    except EppExited:
        raise
    except Exception:
        conformance_harness.epps_must_be_running()  # an EPP that exited explains the failure
        raise
    conformance_harness.epps_must_be_running()
