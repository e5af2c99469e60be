"""Unit tests of port lists and per-port configuration."""

from __future__ import annotations

import pytest

from fakes import ConfigError, PortConfig
from fakes.modelserver.config import parse_ports


def test_port_list_with_ranges() -> None:
    assert parse_ports("8000,8001,8010-8013") == [8000, 8001, 8010, 8011, 8012, 8013]


@pytest.mark.parametrize(("text", "says"), [
    ("8000,,8001", "empty item"),
    ("80a0", "not a port"),
    ("8013-8010", "ends before it starts"),
    ("70000", "outside 1-65535"),
    ("8000,8000-8001", "more than once"),
])
def test_bad_port_lists_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_ports(text)


def test_config_from_dict_round_trips() -> None:
    config = PortConfig(models=("a", "b"), lora_adapters=("x",), time_to_first_token=0.1)
    assert PortConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(("data", "says"), [
    ({"modles": ["a"]}, "unknown setting"),
    ({"models": []}, "models must be a non-empty list"),
    ({"models": "a"}, "models must be a list"),
    ({"max_num_seqs": 0}, "max_num_seqs must be a positive integer"),
    ({"time_to_first_token": -1}, "time_to_first_token must be a number of seconds"),
])
def test_bad_config_names_the_setting(data: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError, match=f"port 8000: .*{says}"):
        PortConfig.from_dict(data, where="port 8000")
