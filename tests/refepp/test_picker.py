"""The picker: subset hint parsing, eligibility and least-loaded choice."""

from __future__ import annotations

import random

import pytest

from eppconf.refepp.picker import Candidate, Load, SubsetHint, join_host_port, parse_subset_hint, pick

A1 = Candidate("a-rank-0", "a", "10.0.0.1", 8000)
A2 = Candidate("a-rank-1", "a", "10.0.0.1", 8001)
B1 = Candidate("b-rank-0", "b", "10.0.0.2", 8000)
V6 = Candidate("c-rank-0", "c", "fd00::1", 8000)
NOW = 100.0


def load(waiting: float = 0, kv: float = 0, running: float = 0, *, age: float = 0.1) -> Load:
    return Load(waiting=waiting, kv_cache=kv, running=running, scraped_at=NOW - age)


def test_join_host_port_brackets_ipv6() -> None:
    assert join_host_port("10.0.0.1", 80) == "10.0.0.1:80"
    assert join_host_port("fd00::1", 80) == "[fd00::1]:80"
    assert V6.address == "[fd00::1]:8000"


@pytest.mark.parametrize(("entries", "addresses", "ips"), [
    (["10.0.0.1:8000"], {"10.0.0.1:8000"}, set()),
    (["10.0.0.1"], set(), {"10.0.0.1"}),
    ([" 10.0.0.2:8001 ", "10.0.0.3"], {"10.0.0.2:8001"}, {"10.0.0.3"}),
    (["[fd00::1]:8000", "fd00::2"], {"[fd00::1]:8000"}, {"fd00::2"}),
    ([1, None, {"x": 1}], set(), set()),
    (["not-an-address:80"], set(), {"not-an-address:80"}),
])
def test_parse_subset_hint(entries: list[object], addresses: set[str], ips: set[str]) -> None:
    assert parse_subset_hint(entries) == SubsetHint(frozenset(addresses), frozenset(ips))


def test_exact_entry_allows_only_that_port() -> None:
    hint = parse_subset_hint(["10.0.0.1:8001"])
    assert [c for c in (A1, A2, B1) if hint.allows(c)] == [A2]


def test_ip_entry_allows_every_port_of_that_ip() -> None:
    hint = parse_subset_hint(["10.0.0.1"])
    assert [c for c in (A1, A2, B1) if hint.allows(c)] == [A1, A2]


def test_no_hint_means_every_endpoint_is_eligible() -> None:
    loads = {B1.address: load(0), A1.address: load(3), A2.address: load(2)}
    assert pick([A1, A2, B1], loads, hint=None, now=NOW) == B1


@pytest.mark.parametrize("entries", [[], ["10.9.9.9:8000"], ["10.0.0.1:9999"], [42]])
def test_nothing_eligible_gives_none(entries: list[object]) -> None:
    assert pick([A1, A2, B1], {}, hint=parse_subset_hint(entries), now=NOW) is None


def test_no_candidates_gives_none() -> None:
    assert pick([], {}, hint=None, now=NOW) is None


def test_hint_restricts_choice_even_when_others_are_less_loaded() -> None:
    loads = {A1.address: load(9), A2.address: load(0), B1.address: load(5)}
    assert pick([A1, A2, B1], loads, hint=parse_subset_hint(["10.0.0.2", "10.0.0.1:8000"]), now=NOW) == B1


def test_order_is_waiting_then_kv_cache_then_running() -> None:
    loads = {A1.address: load(1, 0.0, 0), A2.address: load(0, 0.9, 0), B1.address: load(0, 0.5, 7)}
    assert pick([A1, A2, B1], loads, hint=None, now=NOW) == B1
    loads[A2.address] = load(0, 0.5, 3)
    assert pick([A1, A2, B1], loads, hint=None, now=NOW) == A2


def test_stale_and_missing_metrics_rank_after_fresh_ones() -> None:
    loads = {A1.address: load(0, age=5.0), B1.address: load(50, 1.0, 50)}
    assert pick([A1, A2, B1], loads, hint=None, now=NOW) == B1


def test_stale_endpoints_are_still_eligible() -> None:
    loads = {A1.address: load(0, age=5.0)}
    chosen = {pick([A1, A2], loads, hint=None, now=NOW, rng=random.Random(seed)) for seed in range(40)}
    assert chosen == {A1, A2}


def test_ties_are_broken_randomly() -> None:
    loads = {c.address: load(1, 0.2, 1) for c in (A1, A2, B1)}
    chosen = {pick([A1, A2, B1], loads, hint=None, now=NOW, rng=random.Random(seed)) for seed in range(60)}
    assert chosen == {A1, A2, B1}
