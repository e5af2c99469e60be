"""Probe vLLM-compatible servers with the same requests and print what an EPP could notice as a table.

Usage: ``python -m fakes.compat.probe --model NAME LABEL=URL [LABEL=URL ...]`` (e.g.
``fake=http://127.0.0.1:8100 sim=http://127.0.0.1:8000``). The first target is the reference the
others are compared with.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

EPP_METRICS = ("vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc",
               "vllm:cache_config_info", "vllm:lora_requests_info")


def _http(method: str, url: str, body: bytes | None = None) -> tuple[int, bytes, str]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read(), error.headers.get("Content-Type", "")


def _keys(payload: bytes) -> str:
    try:
        data = json.loads(payload)
    except ValueError:
        return f"not JSON ({len(payload)} bytes)"
    return ",".join(sorted(data)) if isinstance(data, dict) else type(data).__name__


class Prober:
    """Runs every probe against one base URL; each probe returns one observation string."""

    def __init__(self, base_url: str, model: str) -> None:
        self.base = base_url.rstrip("/")
        self.model = model

    def _post_json(self, path: str, body: Any) -> tuple[int, bytes, str]:
        return _http("POST", self.base + path, json.dumps(body).encode())

    def probes(self) -> dict[str, Callable[[], str]]:
        return {
            "GET /health": lambda: str(_http("GET", self.base + "/health")[0]),
            "GET /v1/models": self.models,
            "POST /v1/completions": lambda: self.completion("/v1/completions", {"prompt": "hello there"}),
            "POST /v1/chat/completions": lambda: self.completion(
                "/v1/chat/completions", {"messages": [{"role": "user", "content": "hello"}]}),
            "stream: true (chat)": self.stream,
            "unknown model": self.unknown_model,
            "malformed JSON body": self.malformed,
            **{f"/metrics {name}": functools.partial(self.metric, name) for name in EPP_METRICS},
            "/metrics content type": lambda: _http("GET", self.base + "/metrics")[2].split(";")[0],
            "POST /sleep?level=1": lambda: str(_http("POST", self.base + "/sleep?level=1")[0]),
            "GET /is_sleeping (asleep)": lambda: _http("GET", self.base + "/is_sleeping")[1].decode(),
            "GET /health (asleep)": lambda: str(_http("GET", self.base + "/health")[0]),
            "GET /metrics (asleep)": lambda: str(_http("GET", self.base + "/metrics")[0]),
            "GET /v1/models (asleep)": lambda: str(_http("GET", self.base + "/v1/models")[0]),
            "POST /wake_up": lambda: str(_http("POST", self.base + "/wake_up")[0]),
            "GET /is_sleeping (awake)": lambda: _http("GET", self.base + "/is_sleeping")[1].decode(),
        }

    def run(self) -> dict[str, str]:
        results = {}
        for name, probe in self.probes().items():
            try:
                results[name] = probe()
            except OSError as error:
                results[name] = f"error: {error}"
            time.sleep(0.05)
        return results

    def models(self) -> str:
        status, body, _ = _http("GET", self.base + "/v1/models")
        entry = json.loads(body)["data"][0]
        return f"{status} data[].{{{','.join(sorted(entry))}}}"

    def completion(self, path: str, fields: dict[str, Any]) -> str:
        status, body, _ = self._post_json(path, {"model": self.model, "max_tokens": 4, **fields})
        data = json.loads(body)
        return f"{status} {data.get('object')} usage.{{{','.join(sorted(data.get('usage', {})))}}}"

    def stream(self) -> str:
        status, body, content_type = self._post_json("/v1/chat/completions", {
            "model": self.model, "max_tokens": 3, "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "hi"}]})
        events = [line[6:] for line in body.decode().splitlines() if line.startswith("data: ")]
        last_usage = "usage" in json.loads(events[-2]) if len(events) > 1 else False
        return f"{status} {content_type.split(';')[0]} last={events[-1] if events else None} usage chunk={last_usage}"

    def unknown_model(self) -> str:
        status, body, _ = self._post_json("/v1/completions", {"model": "no-such-model", "prompt": "x"})
        error = json.loads(body).get("error", {})
        return f"{status} error.{{{','.join(sorted(error))}}} type={error.get('type')}"

    def malformed(self) -> str:
        status, body, _ = _http("POST", self.base + "/v1/completions", b"{not json")
        return f"{status} {_keys(body)}"

    def metric(self, name: str) -> str:
        _, body, _ = _http("GET", self.base + "/metrics")
        for family in text_string_to_metric_families(body.decode()):
            if family.name == name:
                labels = sorted({label for sample in family.samples for label in sample.labels})
                return f"{family.type} {{{','.join(labels)}}}"
        return "absent"


def table(results: dict[str, dict[str, str]]) -> str:
    """A markdown table: one row per probe, one column per target, and whether all agree."""
    labels = list(results)
    lines = [f"| probe | {' | '.join(labels)} | same |", "|" + " --- |" * (len(labels) + 2)]
    for probe in results[labels[0]]:
        values = [results[label].get(probe, "-") for label in labels]
        cells = " | ".join(f"`{v}`" for v in values)
        lines.append(f"| {probe} | {cells} | {'yes' if len(set(values)) == 1 else '**no**'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakes.compat.probe", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fake-model", help="model every target serves (default fake-model)")
    parser.add_argument("targets", nargs="+", metavar="LABEL=URL")
    args = parser.parse_args(argv)
    targets = dict(target.partition("=")[::2] for target in args.targets)
    if any(not url.startswith("http://") for url in targets.values()):
        parser.error("each target is LABEL=http://host:port")
    results = {label: Prober(url, args.model).run() for label, url in targets.items()}
    print(table(results))
    return 0 if all(len({r[p] for r in results.values()}) == 1 for p in results[next(iter(results))]) else 1


if __name__ == "__main__":
    sys.exit(main())
