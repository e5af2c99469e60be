"""The conformance suite: catalogue, harness, pytest plugin and report.

What a test author needs: ``Registry`` (a suite module's ``tests``), ``Feature`` and ``Harness``
(the type of a test body's argument; imported on first use, as it pulls in the Kubernetes and
gRPC clients that the plugin, loaded in every pytest run, must not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conformance.catalogue import Registry
from conformance.features import Feature

if TYPE_CHECKING:
    from conformance.harness.session import Harness

__all__ = ["Feature", "Harness", "Registry"]


def __getattr__(name: str) -> Any:
    if name == "Harness":
        from conformance.harness.session import Harness

        return Harness
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
