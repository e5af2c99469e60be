"""Settings of the endpoint observer, importable without the harness (the options file sets them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObserverSettings:
    """Knobs of the endpoint observer; every default suits an EPP scraping every 50 ms."""

    model: str = "fake-model"
    """Model named in probe requests (default ``fake-model``, what fake servers serve)."""
    probe_timeout: float = 2.0
    """Longest wait, in seconds, for the EPP to scrape overridden metrics before probing (default 2)."""
    scrape_window: float = 1.0
    """A port scraped within this many seconds before an observation counts as scraped (default 1)."""
    unscraped_wait: float = 0.2
    """How long a port without recent scrapes is watched for one after an override (default 0.2 s)."""
    scrapes_after_override: int = 2
    """Scrapes of each scraped port to wait for after an override; the second proves the EPP has
    processed the first (default 2)."""
    settle: float = 1.0
    """How long, in seconds, the observed set must stay equal to the expected one (default 1)."""
    poll_interval: float = 0.1
    """Pause, in seconds, between two observations in ``eventually`` (default 0.1)."""
    busy_waiting: float = 50.0
    """``num_requests_waiting`` reported by ports made unattractive (default 50; KV cache full)."""
