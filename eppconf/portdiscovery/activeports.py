"""The ``active-ports`` annotations: a comma-separated filter over the pool's targetPorts (PD-12)."""

from __future__ import annotations

import re
from collections.abc import Sequence

_DECIMAL = re.compile(r"\+?[0-9]+")


def parse_active_ports(value: str, target_ports: Sequence[int]) -> tuple[int, ...]:
    """The targetPorts that ``value`` keeps, in targetPorts order.

    Items are trimmed; an item that is not a positive decimal integer, or not a targetPort, is
    ignored; duplicates collapse; the empty string keeps nothing.
    """
    listed = set()
    for item in value.split(","):
        item = item.strip()
        if _DECIMAL.fullmatch(item) and int(item) > 0:
            listed.add(int(item))
    return tuple(port for port in target_ports if port in listed)
