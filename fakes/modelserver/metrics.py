"""The Prometheus text a fake port serves at /metrics: the vLLM metrics an EPP reads.

Names, help texts and labels follow vLLM and llm-d-inference-sim: ``model_name`` on the request
and KV-cache gauges, ``block_size``/``num_gpu_blocks`` on ``vllm:cache_config_info`` and
``max_lora``/``running_lora_adapters``/``waiting_lora_adapters`` on ``vllm:lora_requests_info``
(whose value is the time of the last change, as in vLLM).
"""

from __future__ import annotations

import time

from fakes.modelserver.state import PortState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_GAUGES = (
    ("vllm:num_requests_running", "Number of requests currently running on GPU."),
    ("vllm:num_requests_waiting", "Prometheus metric for the number of queued requests."),
    ("vllm:kv_cache_usage_perc",
     "Prometheus metric for the fraction of KV-cache blocks currently in use (from 0 to 1)."),
)


def escape_label(value: str) -> str:
    """A label value escaped for the Prometheus text format."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class MetricsRenderer:
    """Renders one port's /metrics; the parts that never change are built once."""

    def __init__(self, state: PortState) -> None:
        config = state.config
        model_label = f'{{model_name="{escape_label(config.models[0])}"}} '
        self._gauge_heads = tuple(f"# HELP {name} {text}\n# TYPE {name} gauge\n{name}{model_label}"
                                  for name, text in _GAUGES)
        self._static = (
            "# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig.\n"
            "# TYPE vllm:cache_config_info gauge\n"
            f'vllm:cache_config_info{{block_size="{config.block_size}",'
            f'num_gpu_blocks="{config.num_gpu_blocks}"}} 1\n'
            "# HELP vllm:lora_requests_info Running stats on lora requests.\n"
            "# TYPE vllm:lora_requests_info gauge\n"
            f'vllm:lora_requests_info{{max_lora="{config.max_loras}",'
        )
        self._state = state
        self._lora_key: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        self._lora_changed = time.time()
        self._body_key: tuple[object, ...] | None = None
        self._body = b""

    def body(self) -> bytes:
        """The /metrics body, rendered again only when a value it shows has changed."""
        values = self._state.metric_values()
        key = (values, self._current_lora_key())
        if key != self._body_key:
            self._body_key, self._body = key, self._render(values).encode()
        return self._body

    def _render(self, values: tuple[float, float, float]) -> str:
        gauges = "".join(f"{head}{_number(value)}\n" for head, value in zip(self._gauge_heads, values, strict=True))
        running, waiting = self._lora_lists()
        return (f"{gauges}{self._static}running_lora_adapters=\"{running}\","
                f"waiting_lora_adapters=\"{waiting}\"}} {_number(self._lora_changed)}\n")

    def _current_lora_key(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        state = self._state
        return (tuple(sorted(state.running_loras)) if state.running_loras else (),
                tuple(sorted(state.waiting_loras)) if state.waiting_loras else ())

    def _lora_lists(self) -> tuple[str, str]:
        key = self._current_lora_key()
        if key != self._lora_key:
            self._lora_key, self._lora_changed = key, time.time()
        running, waiting = (escape_label(",".join(names)) for names in key)
        return running, waiting
