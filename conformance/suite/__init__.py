"""The conformance catalogue: every test module's registry, merged into ``SUITE``."""

from __future__ import annotations

from conformance.catalogue import Registry
from conformance.suite import (
    activeports,
    convergence,
    deployments,
    identity,
    lifecycle,
    pools,
    portdiscovery,
    precedence,
    selection,
    targetports,
    validation,
)

SUITE = Registry.merge(targetports.tests, lifecycle.tests, activeports.tests, portdiscovery.tests,
                       precedence.tests, pools.tests, deployments.tests, validation.tests, selection.tests,
                       identity.tests, convergence.tests)
"""Every conformance test, in run order."""
