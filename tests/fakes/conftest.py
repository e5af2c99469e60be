"""Fixtures for the fakes' tests: a runtime per test and free loopback ports."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from fakes import FakeRuntime


@pytest.fixture
def runtime() -> Iterator[FakeRuntime]:
    with FakeRuntime() as fake_runtime:
        yield fake_runtime


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` ports free on ``host`` right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
