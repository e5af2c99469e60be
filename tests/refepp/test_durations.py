"""Go-style duration parsing for --refresh-metrics-interval."""

from __future__ import annotations

import pytest

from eppconf.refepp.durations import DurationError, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("50ms", 0.05), ("1s", 1.0), ("1.5s", 1.5), ("1m30s", 90.0), ("2h", 7200.0), ("250us", 0.00025),
    ("100µs", 0.0001), ("10ns", 1e-8), ("0", 0.0), (".5s", 0.5), ("1h1m1s1ms", 3661.001),
])
def test_valid(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "50", "ms", "5 s", "-1s", "1d", "1s2", "abc", "1.2.3s"])
def test_invalid(text: str) -> None:
    with pytest.raises(DurationError, match="duration"):
        parse_duration(text)
