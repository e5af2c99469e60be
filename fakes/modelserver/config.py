"""Per-port configuration of a fake model server, and parsing of port lists."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields
from typing import Any

MAX_PORT = 65535


class ConfigError(ValueError):
    """A fake-server setting is invalid; the message names the setting and the value."""


@dataclass(frozen=True)
class PortConfig:
    """How one fake vLLM port behaves. Every field has the default of a fresh vLLM or simulator."""

    models: tuple[str, ...] = ("fake-model",)
    """Served model names (``--served-model-name``); the first one is the base model."""
    lora_adapters: tuple[str, ...] = ()
    """LoRA adapters this port serves, listed by /v1/models with the base model as parent."""
    max_loras: int = 1
    """The ``max_lora`` label of ``vllm:lora_requests_info`` (vLLM ``--max-loras``, default 1)."""
    time_to_first_token: float = 0.0
    """Seconds before the first token of a response (default 0)."""
    inter_token_latency: float = 0.0
    """Seconds between two tokens of a response (default 0)."""
    output_tokens: int = 8
    """Tokens in a response unless ``max_tokens`` asks for fewer (default 8)."""
    max_num_seqs: int = 256
    """Requests running at once; more wait and count in ``num_requests_waiting`` (vLLM default 256)."""
    block_size: int = 16
    """KV-cache block size in tokens, the ``block_size`` label of ``vllm:cache_config_info``."""
    num_gpu_blocks: int = 1024
    """KV-cache blocks; running requests fill them, which drives ``vllm:kv_cache_usage_perc``."""
    max_model_len: int = 1024
    """Context window reported by /v1/models as ``max_model_len``."""
    sleep_hold_timeout: float = 30.0
    """Seconds an inference request is held while the port sleeps before it gets a 503 (default 30)."""
    log_capacity: int = 10_000
    """Entries kept in each of the request and scrape logs (ring buffers, default 10000)."""
    served_by_header: bool = True
    """Add ``x-eppconf-served-by: address:port`` to inference responses (default on)."""

    def __post_init__(self) -> None:
        if not self.models or any(not isinstance(m, str) or not m for m in self.models):
            raise ConfigError(f"models must be a non-empty list of names, got {list(self.models)!r}")
        for name in ("max_loras", "output_tokens", "max_num_seqs", "block_size", "num_gpu_blocks",
                     "max_model_len", "log_capacity"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("time_to_first_token", "inter_token_latency", "sleep_hold_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"{name} must be a number of seconds >= 0, got {value!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base: PortConfig | None = None, where: str = "config") -> PortConfig:
        """A config from JSON-like data; unknown keys and wrong types raise ``ConfigError``."""
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = dict(data)
        for name in ("models", "lora_adapters"):
            if name in values:
                if not isinstance(values[name], list | tuple):
                    raise ConfigError(f"{where}: {name} must be a list of names, got {values[name]!r}")
                values[name] = tuple(values[name])
        try:
            return replace_config(base or cls(), **values)
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form that ``from_dict`` reads back."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}


def replace_config(config: PortConfig, **changes: Any) -> PortConfig:
    """``config`` with ``changes`` applied and validated."""
    return PortConfig(**{**{f.name: getattr(config, f.name) for f in fields(config)}, **changes})


def parse_ports(text: str) -> list[int]:
    """Ports from ``8000,8001,8010-8013``; order kept, duplicates and bad items raise ``ConfigError``."""
    ports: list[int] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            raise ConfigError(f"empty item in port list {text!r}")
        low_text, _, high_text = item.partition("-")
        low, high = _port(low_text, item), _port(high_text or low_text, item)
        if high < low:
            raise ConfigError(f"port range {item!r} ends before it starts")
        ports.extend(range(low, high + 1))
    duplicates = sorted(port for port, count in Counter(ports).items() if count > 1)
    if duplicates:
        raise ConfigError(f"port list {text!r} names port(s) {duplicates} more than once")
    return ports


def _port(text: str, item: str) -> int:
    if not text.strip().isdigit():
        raise ConfigError(f"{item!r} is not a port or a port range (like 8000 or 8010-8013)")
    port = int(text)
    if not 1 <= port <= MAX_PORT:
        raise ConfigError(f"port {port} in {item!r} is outside 1-{MAX_PORT}")
    return port
