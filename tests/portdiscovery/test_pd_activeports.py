"""The active-ports filter over targetPorts (PD-12)."""

from __future__ import annotations

import pytest

from eppconf.portdiscovery import parse_active_ports

TARGETS = (8000, 8001, 8002)


@pytest.mark.parametrize(("value", "kept"), [
    ("8000,8002", (8000, 8002)),
    ("", ()),
    (" 8002 , 8000 ", (8000, 8002)),
    ("8001,8001,8001", (8001,)),
    ("9000,8001", (8001,)),
    ("0,-8000,abc,8000.0,8000abc,,", ()),
    ("+8001", (8001,)),
    ("\t8000\n", (8000,)),
])
def test_pd12_active_ports(value: str, kept: tuple[int, ...]) -> None:
    assert parse_active_ports(value, TARGETS) == kept


def test_pd12_keeps_target_ports_order() -> None:
    assert parse_active_ports("8002,8000", (8002, 8001, 8000)) == (8002, 8000)
