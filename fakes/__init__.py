"""Fakes the conformance suite controls completely: vLLM-compatible model servers and an FMA launcher.

Import from here; the submodules are private.
"""

from __future__ import annotations

from fakes.modelserver.config import ConfigError, PortConfig
from fakes.modelserver.control import ControlClient, ControlError, FakeControl
from fakes.modelserver.process import FakeServerProcess
from fakes.modelserver.runtime import FakePort, FakeRuntime, PortInUseError
from fakes.modelserver.state import RequestRecord, ScrapeRecord

__all__ = [
    "ConfigError",
    "ControlClient",
    "ControlError",
    "FakeControl",
    "FakePort",
    "FakeRuntime",
    "FakeServerProcess",
    "PortConfig",
    "PortInUseError",
    "RequestRecord",
    "ScrapeRecord",
]
