"""Per-port state of a fake model server: in-flight requests, metric overrides, sleep, failures, logs.

A ``PortState`` belongs to the asyncio loop that serves its port; only that loop changes it, except
for ``overrides`` (one atomic assignment) and the logs, which any thread may read under their lock.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from fakes.modelserver.config import PortConfig

#: Failure scopes: which requests an injected failure applies to.
FAILURE_SCOPES = ("inference", "metrics")


@dataclass(frozen=True)
class ScrapeRecord:
    """One ``GET /metrics``: when (``time.time()``) and from which client address."""

    time: float
    client: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RequestRecord:
    """One inference request as it arrived, with every header (those a gateway added among them)."""

    time: float
    method: str
    path: str
    model: str | None
    client: str
    headers: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MetricOverrides:
    """Values that replace the real ones in /metrics; ``None`` follows the in-flight requests."""

    waiting: float | None = None
    running: float | None = None
    kv_cache_usage: float | None = None

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or value < 0 or not math.isfinite(value)):
                raise ValueError(f"metric override {name} must be a finite number >= 0 or null, got {value!r}")
        if self.kv_cache_usage is not None and self.kv_cache_usage > 1:
            raise ValueError(f"metric override kv_cache_usage is a fraction 0-1, got {self.kv_cache_usage!r}")


@dataclass
class Failure:
    """An injected failure: answer ``status`` (0 = answer normally) after ``latency`` seconds.

    ``count`` is how many requests it still applies to; ``None`` means until cleared.
    """

    status: int = 500
    latency: float = 0.0
    count: int | None = None
    message: str = "injected failure"

    def __post_init__(self) -> None:
        if self.status != 0 and not 400 <= self.status <= 599:
            raise ValueError(f"failure status must be 0 (no error) or 400-599, got {self.status!r}")
        if isinstance(self.latency, bool) or not isinstance(self.latency, int | float) or self.latency < 0:
            raise ValueError(f"failure latency must be seconds >= 0, got {self.latency!r}")
        if self.count is not None and (isinstance(self.count, bool) or not isinstance(self.count, int)
                                       or self.count < 1):
            raise ValueError(f"failure count must be a positive integer or null, got {self.count!r}")

    def take(self) -> bool:
        """Consume one use; False once the failure is used up."""
        if self.count is None:
            return True
        self.count -= 1
        return self.count >= 0


class HeldTooLong(Exception):
    """An inference request waited for a sleeping port longer than ``sleep_hold_timeout``."""


class PortState:
    """Everything that changes while a port serves; owned by the port's event loop."""

    def __init__(self, config: PortConfig) -> None:
        self.config = config
        self.served_by = ""
        """``address:port`` this state is served on, set once the port is bound."""
        self.waiting = 0
        self.running = 0
        self.used_blocks = 0
        self.waiting_loras: Counter[str] = Counter()
        self.running_loras: Counter[str] = Counter()
        self.overrides = MetricOverrides()
        self.failures: dict[str, Failure] = {}
        self._scrape_log: deque[ScrapeRecord] = deque(maxlen=config.log_capacity)
        self._request_log: deque[RequestRecord] = deque(maxlen=config.log_capacity)
        self._log_lock = threading.Lock()
        self.sleep_level = 0
        self._awake = asyncio.Event()
        self._awake.set()
        self._slots = asyncio.Semaphore(config.max_num_seqs)

    # sleep -----------------------------------------------------------------------------------
    @property
    def is_sleeping(self) -> bool:
        return self.sleep_level > 0

    def sleep(self, level: int) -> None:
        """Fall asleep at vLLM ``level`` 1 or 2; new inference requests are held."""
        if level not in (1, 2):
            raise ValueError(f"sleep level must be 1 or 2, got {level!r}")
        self.sleep_level = level
        self._awake.clear()

    def wake_up(self) -> None:
        """Wake up and release every held request."""
        self.sleep_level = 0
        self._awake.set()

    async def wait_awake(self) -> bool:
        """Wait until awake, at most ``sleep_hold_timeout`` seconds; False on timeout."""
        if self._awake.is_set():
            return True
        try:
            await asyncio.wait_for(self._awake.wait(), self.config.sleep_hold_timeout)
        except TimeoutError:
            return False
        return True

    # failures ---------------------------------------------------------------------------------
    def inject_failure(self, scope: str, failure: Failure) -> None:
        if scope not in FAILURE_SCOPES:
            raise ValueError(f"failure scope must be one of {', '.join(FAILURE_SCOPES)}, got {scope!r}")
        self.failures[scope] = failure

    def clear_failures(self) -> None:
        self.failures.clear()

    def failure_for(self, scope: str) -> Failure | None:
        """The failure to apply to one request of ``scope`` now, if any (consumes a use)."""
        failure = self.failures.get(scope)
        if failure is None:
            return None
        if not failure.take():
            del self.failures[scope]
            return None
        return failure

    # logs -------------------------------------------------------------------------------------
    def log_scrape(self, client: str) -> None:
        record = ScrapeRecord(time.time(), client)
        with self._log_lock:
            self._scrape_log.append(record)

    def log_request(self, record: RequestRecord) -> None:
        with self._log_lock:
            self._request_log.append(record)

    def scrapes_since(self, since: float) -> list[ScrapeRecord]:
        """The scrapes logged at or after ``since``, oldest first; costs only the records returned."""
        with self._log_lock:
            recent = list(itertools.takewhile(lambda record: record.time >= since, reversed(self._scrape_log)))
        recent.reverse()
        return recent

    def requests(self) -> list[RequestRecord]:
        """The inference requests logged, oldest first."""
        with self._log_lock:
            return list(self._request_log)

    def reset_logs(self) -> None:
        with self._log_lock:
            self._scrape_log.clear()
            self._request_log.clear()

    # in-flight accounting ---------------------------------------------------------------------
    def blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.config.block_size)

    @asynccontextmanager
    async def admitted(self, lora: str | None) -> AsyncIterator[_Slot]:
        """Count a request as waiting while the port sleeps or every slot is taken, then as running.

        Raises ``HeldTooLong`` when the port stays asleep past ``sleep_hold_timeout``.
        """
        self.waiting += 1
        if lora:
            self.waiting_loras[lora] += 1
        try:
            if not await self.wait_awake():
                raise HeldTooLong(f"the server slept for more than {self.config.sleep_hold_timeout:g}s")
            await self._slots.acquire()
        finally:
            self.waiting -= 1
            if lora:
                _decrement(self.waiting_loras, lora)
        slot = _Slot(self, lora)
        try:
            yield slot
        finally:
            slot.release()
            self._slots.release()

    def metric_values(self) -> tuple[float, float, float]:
        """(running, waiting, kv_cache_usage) as /metrics shows them, from one read of ``overrides``."""
        overrides = self.overrides
        return (self.running if overrides.running is None else overrides.running,
                self.waiting if overrides.waiting is None else overrides.waiting,
                min(1.0, self.used_blocks / self.config.num_gpu_blocks) if overrides.kv_cache_usage is None
                else overrides.kv_cache_usage)


class _Slot:
    """A running request: counted in ``running`` and its KV blocks until released."""

    def __init__(self, state: PortState, lora: str | None) -> None:
        self._state = state
        self._lora = lora
        self._blocks = 0
        state.running += 1
        if lora:
            state.running_loras[lora] += 1

    def hold_tokens(self, tokens: int) -> None:
        """Occupy the KV blocks ``tokens`` tokens need (prompt plus generated so far)."""
        blocks = self._state.blocks_for(tokens)
        self._state.used_blocks += blocks - self._blocks
        self._blocks = blocks

    def release(self) -> None:
        state = self._state
        state.used_blocks -= self._blocks
        state.running -= 1
        if self._lora:
            _decrement(state.running_loras, self._lora)


def _decrement(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
