"""Fixtures for the fakes' tests: a runtime per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakes import FakeRuntime


@pytest.fixture
def runtime() -> Iterator[FakeRuntime]:
    with FakeRuntime() as fake_runtime:
        yield fake_runtime

