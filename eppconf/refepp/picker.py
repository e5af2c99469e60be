"""Endpoint choice, pure: candidates + scraped load + the gateway's subset hint -> one endpoint.

Eligible endpoints are those the hint allows (no hint: all). A hint entry ``ip:port`` allows that
endpoint only; an entry that is a bare IP allows every endpoint at that IP. The least loaded
eligible endpoint wins, ordered by (requests waiting, KV-cache usage, requests running) from fresh
metrics; endpoints whose metrics are stale or missing stay eligible but rank after every endpoint
with fresh metrics. Ties are broken at random.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

#: Metrics older than this (seconds) no longer order endpoints.
STALE_AFTER = 2.0


def join_host_port(ip: str, port: int) -> str:
    """``ip:port``, with IPv6 addresses in brackets (Go's ``net.JoinHostPort``)."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One endpoint the picker may choose: a virtual pod's name, its pod, IP, port and labels."""

    name: str
    pod_name: str
    ip: str
    port: int
    labels: Mapping[str, str] = field(default_factory=dict, compare=False)
    #: The ``ip:port`` the gateway routes to, computed once: the picker reads it for every candidate.
    address: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", join_host_port(self.ip, self.port))


@dataclass(frozen=True, slots=True)
class Load:
    """One scrape of an endpoint's load; ``scraped_at`` is a ``time.monotonic()`` reading."""

    waiting: float
    kv_cache: float
    running: float
    scraped_at: float

    def is_fresh(self, now: float, *, stale_after: float = STALE_AFTER) -> bool:
        """Whether this scrape is recent enough to rank by."""
        return now - self.scraped_at <= stale_after


@dataclass(frozen=True, slots=True)
class SubsetHint:
    """The endpoints a gateway allows: exact ``ip:port`` addresses and bare IPs."""

    addresses: frozenset[str]
    ips: frozenset[str]

    def allows(self, candidate: Candidate) -> bool:
        """Whether ``candidate`` is in the hint."""
        return candidate.ip in self.ips or candidate.address in self.addresses


def parse_subset_hint(entries: Iterable[object]) -> SubsetHint:
    """A hint from the gateway's list; entries that are not strings are ignored (as in GIE)."""
    addresses: set[str] = set()
    ips: set[str] = set()
    for entry in entries:
        if not isinstance(entry, str):
            continue
        ip, port = _split_entry(entry.strip())
        if port is None:
            ips.add(ip)
        else:
            addresses.add(join_host_port(ip, port))
    return SubsetHint(frozenset(addresses), frozenset(ips))


def _split_entry(entry: str) -> tuple[str, int | None]:
    """``(ip, port)`` of an ``ip:port`` or ``[ipv6]:port`` entry, ``(ip, None)`` for a bare IP."""
    if _is_ip(entry):
        return entry, None
    host, sep, port = entry.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if sep and port.isdigit() and _is_ip(host):
        return host, int(port)
    # Not an address at all: kept as an IP-only entry so that it matches nothing.
    return entry, None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def pick(candidates: Sequence[Candidate], loads: Mapping[str, Load], *, hint: SubsetHint | None,
         now: float, rng: random.Random | None = None,
         stale_after: float = STALE_AFTER) -> Candidate | None:
    """The least loaded candidate the hint allows, or None when none is eligible."""
    # One pass with freshness and rank inlined: with no hint this loop runs over the whole pool.
    fresh_after = now - stale_after
    best_key: tuple[float, ...] | None = None
    best: list[Candidate] = []
    for candidate in candidates:
        if hint is not None and not hint.allows(candidate):
            continue
        load = loads.get(candidate.address)
        if load is None or load.scraped_at < fresh_after:
            key: tuple[float, ...] = _UNRANKED
        else:
            key = (0.0, load.waiting, load.kv_cache, load.running)
        if best_key is None or key < best_key:
            best_key, best = key, [candidate]
        elif key == best_key:
            best.append(candidate)
    if not best:
        return None
    return best[0] if len(best) == 1 else (rng or random).choice(best)


_UNRANKED = (1.0, 0.0, 0.0, 0.0)
