"""Closing a fake port while clients connect leaves no connection open (no ``ResourceWarning``)."""

from __future__ import annotations

import gc
import socket
import threading
import time
import warnings

from fakes import FakePort, FakeRuntime

ROUNDS = 10


def _connect_until(port: FakePort, stop: threading.Event, held: list[socket.socket]) -> None:
    """Open connections to ``port`` (and keep them) until ``stop`` is set or it refuses them."""
    while not stop.is_set():
        try:
            held.append(socket.create_connection((port.address, port.port), timeout=1.0))
        except OSError:
            return


def test_closing_a_port_under_connections_leaves_no_transport_open() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with FakeRuntime() as runtime:
            for _ in range(ROUNDS):
                port = runtime.serve("127.0.0.1", 0)
                stop, held = threading.Event(), []
                client = threading.Thread(target=_connect_until, args=(port, stop, held))
                client.start()
                try:
                    time.sleep(0.01)
                    runtime.close(port)
                finally:
                    stop.set()
                    client.join()
                    for connection in held:
                        connection.close()
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
