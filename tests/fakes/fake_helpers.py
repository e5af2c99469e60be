"""Small HTTP helpers shared by the fakes' tests."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families


def http(method: str, url: str, body: Any = None, *, timeout: float = 10.0) -> tuple[int, bytes]:
    """Status and body of one request; HTTP errors are answers, not exceptions."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def scrape(base_url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """/metrics parsed by prometheus_client: metric name -> [(labels, value)]."""
    status, body = http("GET", f"{base_url}/metrics")
    assert status == 200
    return {family.name: [(dict(s.labels), s.value) for s in family.samples]
            for family in text_string_to_metric_families(body.decode())}


def value(base_url: str, name: str) -> float:
    [(_, sample)] = scrape(base_url)[name]
    return sample


def eventually(check: Callable[[], bool], *, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


class Background:
    """Requests sent from threads; ``join()`` returns their (status, body) in order."""

    def __init__(self) -> None:
        self.results: list[tuple[int, bytes]] = []
        self.threads: list[threading.Thread] = []

    def post(self, url: str, body: Any) -> None:
        thread = threading.Thread(target=lambda: self.results.append(http("POST", url, body)))
        thread.start()
        self.threads.append(thread)

    def join(self) -> list[tuple[int, bytes]]:
        for thread in self.threads:
            thread.join()
        return self.results
