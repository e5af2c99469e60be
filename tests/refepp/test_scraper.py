"""Metrics parsing and the scraper against real HTTP /metrics endpoints on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from eppconf.refepp.picker import Candidate
from eppconf.refepp.scraper import MetricsFormatError, Scraper, parse_load
from eppconf.refepp.state import EndpointState

PAGE = """# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 3
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="m"} 5
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="m"} 0.25
"""


def test_parse_load() -> None:
    load = parse_load(PAGE, scraped_at=1.0)
    assert (load.waiting, load.running, load.kv_cache, load.scraped_at) == (5, 3, 0.25, 1.0)


def test_parse_load_falls_back_to_gpu_cache_usage() -> None:
    old = PAGE.replace("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
    assert parse_load(old, scraped_at=0).kv_cache == 0.25


def test_parse_load_names_what_is_missing() -> None:
    with pytest.raises(MetricsFormatError, match="vllm:num_requests_waiting, vllm:kv_cache_usage_perc"):
        parse_load("vllm:num_requests_running 1\n", scraped_at=0)


class _Pages:
    """Serves PAGE at /metrics and counts scrapes per port."""

    def __init__(self) -> None:
        self.hits = 0
        pages = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                pages.hits += 1
                body = PAGE.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def page() -> Iterator[_Pages]:
    pages = _Pages()
    pages.thread.start()
    try:
        yield pages
    finally:
        pages.server.shutdown()
        pages.server.server_close()
        pages.thread.join()


def test_scraper_keeps_loads_fresh_and_skips_dead_endpoints(page: _Pages) -> None:
    live = Candidate("live-rank-0", "live", "127.0.0.1", page.server.server_address[1])
    dead = Candidate("dead-rank-0", "dead", "127.0.0.1", 1)
    state = EndpointState(pool_name="pool", pool_namespace="ns")
    state.publish([live, dead])
    scraper = Scraper(state, interval=0.02)
    scraper.start()
    try:
        deadline = time.monotonic() + 5
        while page.hits < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        scraper.stop()
    assert page.hits >= 5, "the endpoint is scraped again and again"
    load = state.loads[live.address]
    assert load.waiting == 5 and load.is_fresh(time.monotonic())
    assert dead.address not in state.loads


def test_scraper_stops_scraping_removed_endpoints(page: _Pages) -> None:
    live = Candidate("live-rank-0", "live", "127.0.0.1", page.server.server_address[1])
    state = EndpointState(pool_name="pool", pool_namespace="ns")
    state.publish([live])
    scraper = Scraper(state, interval=0.02)
    scraper.start()
    try:
        deadline = time.monotonic() + 5
        while page.hits < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        state.publish([])
        time.sleep(0.1)
        hits = page.hits
        time.sleep(0.2)
    finally:
        scraper.stop()
    assert page.hits <= hits + 1
    assert state.loads == {}
