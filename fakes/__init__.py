"""Fakes the conformance suite controls completely: vLLM-compatible model servers and an FMA launcher.

Import from here; the submodules are private. ``FakeServerProcess`` is imported on first use: it
pulls in the process primitive of ``eppconf.controlplane`` (and the Kubernetes client), which a
fake server starting in a pod must not wait for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakes.modelserver.config import ConfigError, PortConfig
from fakes.modelserver.connect import TunnelError, open_tunnel
from fakes.modelserver.control import ControlClient, ControlError, FakeControl, PodControlClient
from fakes.modelserver.runtime import FakePort, FakeRuntime, PortInUseError
from fakes.modelserver.state import RequestRecord, ScrapeRecord

if TYPE_CHECKING:
    from fakes.modelserver.process import FakeServerProcess

__all__ = [
    "ConfigError",
    "ControlClient",
    "ControlError",
    "FakeControl",
    "FakePort",
    "FakeRuntime",
    "FakeServerProcess",
    "PortConfig",
    "PodControlClient",
    "PortInUseError",
    "RequestRecord",
    "ScrapeRecord",
    "TunnelError",
    "open_tunnel",
]


def __getattr__(name: str) -> Any:
    if name == "FakeServerProcess":
        from fakes.modelserver.process import FakeServerProcess

        return FakeServerProcess
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
