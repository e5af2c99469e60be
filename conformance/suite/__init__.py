"""The conformance catalogue: every test module's registry, merged into ``SUITE``."""

from __future__ import annotations

from conformance.catalogue import Registry
from conformance.suite import activeports, lifecycle, portdiscovery, targetports

SUITE = Registry.merge(targetports.tests, lifecycle.tests, activeports.tests, portdiscovery.tests)
"""Every conformance test, in run order."""
