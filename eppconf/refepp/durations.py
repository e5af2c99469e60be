"""Go-style durations (``50ms``, ``1s``, ``1m30s``, ``1.5h``) as used by GIE's flags."""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


class DurationError(ValueError):
    """A text that is not a Go duration."""


def parse_duration(text: str) -> float:
    """Seconds in a Go duration; ``0`` alone is allowed, as in Go; a sign is not."""
    value = text.strip()
    if value == "0":
        return 0.0
    if not value:
        raise DurationError("empty duration")
    total, position = 0.0, 0
    for match in _PART.finditer(value):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(value):
        raise DurationError(f"invalid duration {text!r}: expected numbers with units ns, us, ms, s, m or h, "
                            "for example 50ms or 1m30s")
    return total
