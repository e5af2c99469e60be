"""Benchmark of the fake model servers: completions per second and /metrics latency under scraping.

Runs ``eppconf fake-server`` as a child process on 127.0.0.20 and drives it with an aiohttp client:
non-streaming completions on one port and over 32 ports, then 64 ports each scraped every 50 ms,
with the server's CPU time per scrape (what bounds how many ports an EPP can scrape that often).
Exits 1 when the fake misses its budget (>= 1000 completions/s over 32 ports, p99 scrape <= 20 ms).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import aiohttp

from eppconf.controlplane import reserve_port
from fakes import FakeServerProcess

HOST = "127.0.0.20"
DURATION = 3.0
CONCURRENCY = 64
SCRAPE_PORTS = 64
SCRAPE_INTERVAL = 0.05
MIN_COMPLETIONS_PER_SECOND = 1000
MAX_P99_SCRAPE_MS = 20.0


async def completions_per_second(ports: list[int]) -> float:
    body = {"model": "fake-model", "prompt": "hello there", "max_tokens": 8}
    done = 0
    deadline = time.monotonic() + DURATION

    async def worker(session: aiohttp.ClientSession, port: int) -> None:
        nonlocal done
        url = f"http://{HOST}:{port}/v1/completions"
        while time.monotonic() < deadline:
            async with session.post(url, json=body) as response:
                await response.read()
                assert response.status == 200, response.status
            done += 1

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.monotonic()
        await asyncio.gather(*(worker(session, ports[i % len(ports)]) for i in range(CONCURRENCY)))
        return done / (time.monotonic() - start)


async def scrape_latencies(ports: list[int]) -> list[float]:
    latencies: list[float] = []
    deadline = time.monotonic() + DURATION

    async def scraper(session: aiohttp.ClientSession, port: int, offset: float) -> None:
        url = f"http://{HOST}:{port}/metrics"
        await asyncio.sleep(offset)
        next_at = time.monotonic()
        while next_at < deadline:
            start = time.monotonic()
            async with session.get(url) as response:
                await response.read()
            latencies.append((time.monotonic() - start) * 1000)
            next_at += SCRAPE_INTERVAL
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(scraper(session, port, SCRAPE_INTERVAL * i / len(ports))
                               for i, port in enumerate(ports)))
    return latencies


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ports = [reserve_port(HOST) for _ in range(SCRAPE_PORTS)]
    with FakeServerProcess(ports, host=HOST) as server:
        assert server.pid is not None
        one = asyncio.run(completions_per_second(ports[:1]))
        many = asyncio.run(completions_per_second(ports[:32]))
        cpu_before = cpu_seconds(server.pid)
        latencies = asyncio.run(scrape_latencies(ports))
        cpu_per_scrape = (cpu_seconds(server.pid) - cpu_before) / len(latencies)
    p50 = statistics.median(latencies)
    p99 = statistics.quantiles(latencies, n=100)[98]
    rate = len(latencies) / DURATION
    print(f"completions/s, 1 port:       {one:8.0f}")
    print(f"completions/s, 32 ports:     {many:8.0f}   (budget >= {MIN_COMPLETIONS_PER_SECOND})")
    print(f"/metrics, {SCRAPE_PORTS} ports every {SCRAPE_INTERVAL * 1000:.0f} ms: {rate:.0f} scrapes/s, "
          f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {max(latencies):.2f} ms   (budget p99 <= {MAX_P99_SCRAPE_MS} ms)")
    print(f"/metrics server CPU:         {cpu_per_scrape * 1e6:8.0f} us per scrape")
    ok = many >= MIN_COMPLETIONS_PER_SECOND and p99 <= MAX_P99_SCRAPE_MS
    print("within budget" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
