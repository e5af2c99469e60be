"""/metrics as an EPP reads it: names and labels, values that follow real requests, overrides."""

from __future__ import annotations

import time

from fake_helpers import Background, eventually, scrape, value

from fakes import FakeRuntime, PortConfig

SLOW = PortConfig(models=("m",), lora_adapters=("ad1", "ad2"), time_to_first_token=0.4, max_num_seqs=2,
                  block_size=8, num_gpu_blocks=10, max_loras=4)


def test_metric_names_and_labels_match_vllm(runtime: FakeRuntime) -> None:
    port = runtime.serve("127.0.0.9", 0, PortConfig(models=("llama", "alias")))
    metrics = scrape(port.base_url)
    for name in ("vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc"):
        assert metrics[name] == [({"model_name": "llama"}, 0.0)]
    assert metrics["vllm:cache_config_info"] == [({"block_size": "16", "num_gpu_blocks": "1024"}, 1.0)]
    [(labels, stamp)] = metrics["vllm:lora_requests_info"]
    assert labels == {"max_lora": "1", "running_lora_adapters": "", "waiting_lora_adapters": ""}
    assert abs(stamp - time.time()) < 60


def test_values_follow_requests_in_flight(runtime: FakeRuntime) -> None:
    port = runtime.serve("127.0.0.9", 0, SLOW)
    url = f"{port.base_url}/v1/completions"
    background = Background()
    for model in ("ad1", "ad1", "ad2"):
        background.post(url, {"model": model, "prompt": " ".join(["w"] * 20)})
    eventually(lambda: value(port.base_url, "vllm:num_requests_waiting") == 1)
    metrics = scrape(port.base_url)
    assert metrics["vllm:num_requests_running"][0][1] == 2
    # two running requests, each with a 20-token prompt, hold 3 blocks of 8 tokens out of 10
    assert metrics["vllm:kv_cache_usage_perc"][0][1] == 0.6
    [(labels, _)] = metrics["vllm:lora_requests_info"]
    assert labels["max_lora"] == "4"
    running = set(labels["running_lora_adapters"].split(","))
    assert running <= {"ad1", "ad2"} and labels["waiting_lora_adapters"] in {"ad1", "ad2"}
    assert [status for status, _ in background.join()] == [200, 200, 200]
    after = scrape(port.base_url)
    assert [after[n][0][1] for n in ("vllm:num_requests_waiting", "vllm:num_requests_running",
                                     "vllm:kv_cache_usage_perc")] == [0, 0, 0]
    assert after["vllm:lora_requests_info"][0][0]["running_lora_adapters"] == ""


def test_overrides_replace_values_until_cleared(runtime: FakeRuntime) -> None:
    port = runtime.serve("127.0.0.9", 0)
    port.set_metrics(waiting=7, kv_cache_usage=0.25)
    metrics = scrape(port.base_url)
    assert metrics["vllm:num_requests_waiting"][0][1] == 7
    assert metrics["vllm:kv_cache_usage_perc"][0][1] == 0.25
    assert metrics["vllm:num_requests_running"][0][1] == 0
    port.clear_metrics()
    assert value(port.base_url, "vllm:num_requests_waiting") == 0


def test_every_scrape_is_logged_with_time_and_client(runtime: FakeRuntime) -> None:
    port = runtime.serve("127.0.0.9", 0, PortConfig(log_capacity=3))
    before = time.time()
    for _ in range(5):
        scrape(port.base_url)
    records = port.scrapes()
    assert len(records) == 3, "the scrape log is a ring buffer of log_capacity entries"
    assert all(r.client == "127.0.0.1" and before <= r.time <= time.time() for r in records)
    assert port.scrapes(since=time.time() + 1) == []
    port.reset_logs()
    assert port.scrapes() == []
