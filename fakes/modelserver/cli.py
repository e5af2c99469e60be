"""``eppconf fake-server``: fake vLLM servers on one or many ports of one address, until SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from fakes.modelserver.config import ConfigError, PortConfig, parse_ports
from fakes.modelserver.podcontrol import PodPorts, start_pod_control
from fakes.modelserver.runtime import FakeRuntime

#: Start of the line printed once every port is bound.
READY_LINE = '{"serving"'


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ports", help="ports to serve, e.g. 8000,8001,8010-8013 (required unless"
                        " --pod-control-port is given)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--model", action="append", dest="models", metavar="NAME",
                        help="served model name; repeat for aliases (default fake-model)")
    parser.add_argument("--lora", action="append", dest="loras", default=[], metavar="NAME",
                        help="LoRA adapter served on every port; repeatable")
    parser.add_argument("--max-loras", type=int, default=1, help="max_lora label value (default 1)")
    parser.add_argument("--time-to-first-token", type=float, default=0.0, metavar="MS",
                        help="simulated time to first token in milliseconds (default 0)")
    parser.add_argument("--inter-token-latency", type=float, default=0.0, metavar="MS",
                        help="simulated time between tokens in milliseconds (default 0)")
    parser.add_argument("--output-tokens", type=int, default=8, help="tokens per response (default 8)")
    parser.add_argument("--max-num-seqs", type=int, default=256, help="requests running at once (default 256)")
    parser.add_argument("--block-size", type=int, default=16, help="KV-cache block size (default 16)")
    parser.add_argument("--kv-cache-size", type=int, default=1024, help="KV-cache blocks (default 1024)")
    parser.add_argument("--max-model-len", type=int, default=1024, help="context window (default 1024)")
    parser.add_argument("--sleep-hold-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="how long a sleeping port holds inference requests before a 503 (default 30)")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="JSON or YAML object mapping a port or range (\"8001\", \"8010-8013\") to "
                             "PortConfig settings that override the flags for those ports")
    parser.add_argument("--pod-control-port", type=int, metavar="PORT",
                        help="serve the pod-control API here (readiness for a probe, ports opened and closed"
                             " at runtime; fakes/modelserver/podcontrol.py)")
    parser.add_argument("--decoy-ports", metavar="PORTS",
                        help="ports with a decoy that fails every inference request with 502 (needs"
                             " --pod-control-port)")
    parser.add_argument("--not-ready", action="store_true",
                        help="start with GET /ready answering 503 (needs --pod-control-port)")
    parser.add_argument("--pod-name", default="this pod", help="the pod named in decoys' error messages")


def base_config(args: argparse.Namespace) -> PortConfig:
    """The ``PortConfig`` the flags describe."""
    return PortConfig(models=tuple(args.models or ("fake-model",)), lora_adapters=tuple(args.loras),
                      max_loras=args.max_loras, time_to_first_token=args.time_to_first_token / 1000,
                      inter_token_latency=args.inter_token_latency / 1000, output_tokens=args.output_tokens,
                      max_num_seqs=args.max_num_seqs, block_size=args.block_size, num_gpu_blocks=args.kv_cache_size,
                      max_model_len=args.max_model_len, sleep_hold_timeout=args.sleep_hold_timeout)


def port_configs(args: argparse.Namespace) -> dict[int, PortConfig]:
    """One config per port named in ``--ports``, with ``--config`` applied."""
    ports = parse_ports(args.ports) if args.ports else []
    base = base_config(args)
    configs = dict.fromkeys(ports, base)
    for key, settings in _read_config_file(args.config).items():
        where = f"{args.config}: {key!r}"
        for port in parse_ports(str(key)):
            if port not in configs:
                raise ConfigError(f"{where} names port {port}, which --ports does not serve")
            configs[port] = PortConfig.from_dict(settings, base=base, where=where)
    return configs


def _read_config_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as error:
        raise ConfigError(f"cannot read --config {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"--config {path} is not valid JSON or YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path} must hold an object of port -> settings")
    return data


def run(args: argparse.Namespace) -> int:
    try:
        _check_pod_flags(args)
        configs = port_configs(args)
        decoys = parse_ports(args.decoy_ports) if args.decoy_ports else []
    except ConfigError as error:
        return _usage_error(str(error))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with FakeRuntime() as runtime:
        pod = PodPorts(runtime, host=args.host, config=base_config(args), pod=args.pod_name)
        pod.ready = not args.not_ready
        try:
            runtime.submit(pod.serve(configs, configs))
            runtime.submit(pod.close(decoys))
            if args.pod_control_port is not None:
                runtime.submit(start_pod_control(pod, args.host, args.pod_control_port))
        except OSError as error:
            return _usage_error(error.strerror or str(error))
        print(json.dumps({"serving": args.host, "ports": list(configs), "decoys": decoys}), flush=True)
        while not stop.wait(0.5):
            pass
    return 0


def _check_pod_flags(args: argparse.Namespace) -> None:
    if args.pod_control_port is not None:
        return
    if not args.ports:
        raise ConfigError("--ports is required without --pod-control-port")
    for flag, given in (("--decoy-ports", args.decoy_ports), ("--not-ready", args.not_ready)):
        if given:
            raise ConfigError(f"{flag} needs --pod-control-port")


def _usage_error(message: str) -> int:
    print(f"eppconf fake-server: error: {message}", file=sys.stderr)
    return 2

