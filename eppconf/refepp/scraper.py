"""Per-endpoint ``/metrics`` scraping: one asyncio loop in a thread, bounded concurrency.

Every endpoint is scraped at ``http://ip:port/metrics`` every ``interval`` seconds; at most
``concurrency`` scrapes run at once. A failed scrape keeps the previous load, which goes stale
after two seconds (:data:`eppconf.refepp.picker.STALE_AFTER`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from eppconf.refepp.picker import Load
from eppconf.refepp.state import EndpointState

WAITING = "vllm:num_requests_waiting"
RUNNING = "vllm:num_requests_running"
KV_CACHE = "vllm:kv_cache_usage_perc"
KV_CACHE_OLD = "vllm:gpu_cache_usage_perc"
_WANTED = frozenset({WAITING, RUNNING, KV_CACHE, KV_CACHE_OLD})

log = logging.getLogger(__name__)


class MetricsFormatError(ValueError):
    """A /metrics page without the metrics the picker needs."""


def parse_load(text: str, *, scraped_at: float) -> Load:
    """The load in a Prometheus text page; the first sample of each metric counts."""
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in _WANTED and sample.name not in values:
                values[sample.name] = float(sample.value)
    missing = [name for name in (WAITING, RUNNING) if name not in values]
    if KV_CACHE not in values and KV_CACHE_OLD not in values:
        missing.append(KV_CACHE)
    if missing:
        raise MetricsFormatError(f"metrics missing: {', '.join(missing)}")
    return Load(waiting=values[WAITING], running=values[RUNNING],
                kv_cache=values.get(KV_CACHE, values.get(KV_CACHE_OLD, 0.0)), scraped_at=scraped_at)


class Scraper:
    """Keeps :class:`EndpointState` loads fresh for every current endpoint."""

    def __init__(self, state: EndpointState, *, interval: float, concurrency: int = 32,
                 timeout: float = 1.0) -> None:
        self._state = state
        self._interval = interval
        self._concurrency = concurrency
        self._timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="metrics-scraper", daemon=True)

    def start(self) -> None:
        """Start scraping in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop scraping and wait for the thread; the event loop is closed."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._request_stop)
            self._thread.join()
        if not self._loop.is_closed():
            self._loop.close()

    def _request_stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        limit = asyncio.Semaphore(self._concurrency)
        tasks: dict[str, asyncio.Task[None]] = {}
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                while not self._stopping.is_set():
                    self._reconcile(tasks, session, limit)
                    try:
                        await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)
                    except TimeoutError:
                        pass
            finally:
                for task in tasks.values():
                    task.cancel()
                await asyncio.gather(*tasks.values(), return_exceptions=True)

    def _reconcile(self, tasks: dict[str, asyncio.Task[None]], session: aiohttp.ClientSession,
                   limit: asyncio.Semaphore) -> None:
        wanted = {candidate.address for candidate in self._state.candidates()}
        for address in [address for address in tasks if address not in wanted]:
            tasks.pop(address).cancel()
        for address in wanted - tasks.keys():
            tasks[address] = asyncio.create_task(self._scrape_forever(address, session, limit))

    async def _scrape_forever(self, address: str, session: aiohttp.ClientSession,
                              limit: asyncio.Semaphore) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            async with limit:
                await self._scrape_once(address, session)
            await asyncio.sleep(max(0.0, self._interval - (loop.time() - started)))

    async def _scrape_once(self, address: str, session: aiohttp.ClientSession) -> None:
        try:
            async with session.get(f"http://{address}/metrics") as response:
                response.raise_for_status()
                text = await response.text()
            self._state.record(address, parse_load(text, scraped_at=time.monotonic()))
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            log.debug("scrape of %s failed: %s", address, error)
