"""``eppconf reference-epp`` flags, and the EPP's behaviour when the cluster is unreachable."""

from __future__ import annotations

import argparse
import gc
import logging
import socket
import time
from pathlib import Path

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from eppconf.cli import build_parser, main
from eppconf.controlplane import reserve_port
from eppconf.refepp.app import Options, ReferenceEPP, StartError


def parse(*flags: str) -> argparse.Namespace:
    argv = ["reference-epp", *flags]
    return build_parser(argv).parse_args(argv)


def test_defaults_match_gie() -> None:
    args = parse("--pool-name", "p")
    assert (args.pool_namespace, args.grpc_port, args.grpc_health_port, args.metrics_port) == ("default", 9002,
                                                                                               9003, 9090)
    assert args.secure_serving is True and args.refresh_metrics_interval == pytest.approx(0.05)
    assert args.bind_address == "127.0.0.1" and args.fault == [] and args.verbosity == 0


def test_go_style_values() -> None:
    args = parse("--pool-name", "p", "--secure-serving=false", "--refresh-metrics-interval", "1s",
                 "--fault", "ignore-readiness", "--fault", "keep-deleted-pods", "--v=2")
    assert args.secure_serving is False and args.refresh_metrics_interval == 1.0 and args.verbosity == 2
    assert args.fault == ["ignore-readiness", "keep-deleted-pods"]
    assert parse("--pool-name", "p", "--secure-serving").secure_serving is True


@pytest.mark.parametrize(("flags", "message"), [
    ((), "--pool-name"),
    (("--pool-name", "p", "--grpc-port", "70000"), "must be between 0 and 65535"),
    (("--pool-name", "p", "--metrics-port", "x"), "invalid port 'x'"),
    (("--pool-name", "p", "--refresh-metrics-interval", "50"), "invalid duration '50'"),
    (("--pool-name", "p", "--refresh-metrics-interval", "0"), "must be greater than zero"),
    (("--pool-name", "p", "--secure-serving=maybe"), "invalid boolean 'maybe'"),
    (("--pool-name", "p", "--fault", "bogus"), "invalid choice: 'bogus'"),
    (("--pool-name", " "), "must not be empty"),
])
def test_bad_flags_exit_2_with_one_clear_error(flags: tuple[str, ...], message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["reference-epp", *flags])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("which", ["grpc_port", "grpc_health_port", "metrics_port"])
def test_port_in_use_is_a_start_error(which: str) -> None:
    ports = {"grpc_port": reserve_port(), "grpc_health_port": reserve_port(), "metrics_port": reserve_port()}
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports[which]))
        holder.listen()
        options = Options(pool_name="p", pool_namespace="ns", secure_serving=False, kubeconfig="/nonexistent",
                          **ports)
        with pytest.raises(StartError, match=f"cannot listen for .* on 127.0.0.1:{ports[which]}"):
            ReferenceEPP(options).start()


def test_bad_kubeconfig_is_a_start_error(tmp_path: Path) -> None:
    options = Options(pool_name="p", pool_namespace="ns", grpc_port=reserve_port(), grpc_health_port=reserve_port(),
                      metrics_port=reserve_port(), secure_serving=False, kubeconfig=str(tmp_path / "missing"))
    with pytest.raises(StartError, match="cannot load Kubernetes configuration from .*missing"):
        ReferenceEPP(options).start()


def unreachable_kubeconfig(path: Path) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{reserve_port()}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    return path


def test_a_running_epp_keeps_its_start_up_objects_out_of_full_collections(tmp_path: Path) -> None:
    options = Options(pool_name="p", pool_namespace="ns", grpc_port=reserve_port(), grpc_health_port=reserve_port(),
                      metrics_port=reserve_port(), secure_serving=False,
                      kubeconfig=str(unreachable_kubeconfig(tmp_path / "kubeconfig")))
    with ReferenceEPP(options):
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_unreachable_cluster_keeps_retrying_without_becoming_ready(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    health = reserve_port()
    options = Options(pool_name="p", pool_namespace="ns", grpc_port=reserve_port(), grpc_health_port=health,
                      metrics_port=reserve_port(), secure_serving=True,
                      kubeconfig=str(unreachable_kubeconfig(tmp_path / "kubeconfig")))
    caplog.set_level(logging.WARNING, logger="eppconf.refepp.watch")
    with ReferenceEPP(options), grpc.insecure_channel(f"127.0.0.1:{health}") as channel:
        deadline = time.monotonic() + 5
        while len([r for r in caplog.records if r.name == "eppconf.refepp.watch"]) < 4 \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        stub = health_pb2_grpc.HealthStub(channel)
        status = {service: stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
                  for service in ("liveness", "readiness")}
    assert status == {"liveness": health_pb2.HealthCheckResponse.SERVING,
                      "readiness": health_pb2.HealthCheckResponse.NOT_SERVING}
    messages = [record.getMessage() for record in caplog.records if record.name == "eppconf.refepp.watch"]
    assert len(messages) >= 4 and all("retrying in" in message for message in messages)
    assert any("InferencePool ns/p" in message for message in messages)
