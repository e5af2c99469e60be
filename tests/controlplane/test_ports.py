"""reserve_port: free loopback ports, never handed out twice while claimed."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from eppconf.controlplane import ports


@pytest.fixture(autouse=True)
def claim_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(ports, "CLAIM_DIR", tmp_path / "claims")
    return tmp_path / "claims"


def test_ports_are_distinct_and_bindable() -> None:
    reserved = [ports.reserve_port("127.0.0.1") for _ in range(20)]
    assert len(set(reserved)) == 20
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", reserved[0]))


def test_a_claimed_port_is_not_handed_out_again(monkeypatch: pytest.MonkeyPatch) -> None:
    offers = iter([40001, 40001, 40002])
    monkeypatch.setattr(ports, "_kernel_free_port", lambda host: next(offers))
    assert ports.reserve_port() == 40001
    assert ports.reserve_port() == 40002


def test_an_expired_claim_is_reused(monkeypatch: pytest.MonkeyPatch, claim_dir: Path) -> None:
    monkeypatch.setattr(ports, "_kernel_free_port", lambda host: 40003)
    assert ports.reserve_port() == 40003
    monkeypatch.setattr(ports, "CLAIM_TTL", -1.0)
    assert ports.reserve_port() == 40003


def test_other_loopback_addresses_work_and_others_are_refused() -> None:
    assert ports.reserve_port("127.0.0.42") > 0
    with pytest.raises(ValueError, match="10.1.2.3 is not a loopback address"):
        ports.reserve_port("10.1.2.3")


def test_address_blocks_are_distinct_while_held_and_released_on_request() -> None:
    first, second = ports.reserve_address_block(), ports.reserve_address_block()
    assert first != second and first.prefixlen == second.prefixlen == 16
    ports.release_address_block(first)
    assert ports.reserve_address_block() == first


def test_a_block_of_a_dead_process_is_taken_over(claim_dir: Path) -> None:
    claim_dir.mkdir()
    (claim_dir / "block-127.20").write_text("999999999")  # no such pid
    (claim_dir / "block-127.21").write_text(str(1))  # pid 1 is alive
    assert str(ports.reserve_address_block()) == "127.20.0.0/16"
    assert str(ports.reserve_address_block()) == "127.22.0.0/16"


def test_block_claims_outlive_the_port_claim_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    held = ports.reserve_address_block()
    monkeypatch.setattr(ports, "CLAIM_TTL", -1.0)
    ports.reserve_port()
    assert ports.reserve_address_block() != held
