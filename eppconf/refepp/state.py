"""The state every part of the reference EPP shares: the current endpoints and their scraped load.

The watch publishes a new immutable tuple of candidates after each datastore change; the scraper
records loads per ``ip:port``; ext_proc reads both without locks (a tuple swap and single dict
operations are atomic in CPython), which keeps the decision path short.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from eppconf.refepp.picker import Candidate, Load


class EndpointState:
    """Candidates, their loads, pool problems and whether the pool has synced."""

    def __init__(self, *, pool_name: str, pool_namespace: str) -> None:
        self.pool_name = pool_name
        self.pool_namespace = pool_namespace
        self._candidates: tuple[Candidate, ...] = ()
        self._addresses: frozenset[str] = frozenset()
        self._by_ip: dict[str, tuple[Candidate, ...]] = {}
        self._loads: dict[str, Load] = {}
        self._problems: tuple[Any, ...] = ()
        self._synced = threading.Event()

    def candidates(self) -> tuple[Candidate, ...]:
        """The endpoints of the pool right now."""
        return self._candidates

    def at_ips(self, ips: Iterable[str]) -> list[Candidate]:
        """The endpoints at any of ``ips`` (each IP once), found without scanning every endpoint."""
        by_ip = self._by_ip
        return [candidate for ip in dict.fromkeys(ips) for candidate in by_ip.get(ip, ())]

    @property
    def loads(self) -> Mapping[str, Load]:
        """The latest load per ``ip:port``."""
        return self._loads

    def problems(self) -> tuple[Any, ...]:
        """The datastore's problems (pods whose annotation is invalid) at the last publish."""
        return self._problems

    def publish(self, candidates: Iterable[Candidate], *, problems: Iterable[Any] = ()) -> None:
        """Replace the endpoints; loads of endpoints that are gone are forgotten."""
        self._candidates = tuple(candidates)
        self._problems = tuple(problems)
        self._addresses = frozenset(candidate.address for candidate in self._candidates)
        by_ip: dict[str, list[Candidate]] = {}
        for candidate in self._candidates:
            by_ip.setdefault(candidate.ip, []).append(candidate)
        self._by_ip = {ip: tuple(group) for ip, group in by_ip.items()}
        # list() copies the keys atomically; the scraper thread may be recording meanwhile.
        for address in list(self._loads):
            if address not in self._addresses:
                self._loads.pop(address, None)

    def record(self, address: str, load: Load) -> None:
        """Store a scrape of ``address`` if it is still an endpoint."""
        if address in self._addresses:
            self._loads[address] = load

    @property
    def synced(self) -> bool:
        """Whether the pool and its pods have been listed at least once."""
        return self._synced.is_set()

    def mark_synced(self, synced: bool = True) -> None:
        """Record whether the pool is synced (readiness follows it)."""
        if synced:
            self._synced.set()
        else:
            self._synced.clear()
