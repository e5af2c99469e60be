"""Concurrent writers and readers: snapshots stay consistent and the end state is exact."""

from __future__ import annotations

import threading

from datastore_builders import NS, make_pod, make_pool

from eppconf.datastore import Datastore, compute_endpoints


def test_concurrent_writers_and_readers() -> None:
    store = Datastore(make_pool())
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(prefix: str) -> None:
        try:
            for i in range(300):
                store.upsert_pod(make_pod(f"{prefix}-{i % 20}", ip=f"10.0.{i % 7}.1", ready=i % 3 != 0))
                if i % 5 == 0:
                    store.delete_pod(NS, f"{prefix}-{(i + 3) % 20}")
        except BaseException as error:  # noqa: BLE001 (reported by the main thread)
            errors.append(error)

    def reader() -> None:
        try:
            while not stop.is_set():
                snapshot = store.endpoints()
                pods = {key[1] for key in snapshot}
                # a snapshot holds whole pods: both targetPorts of each pod or neither
                assert len(snapshot) == 2 * len(pods)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    writers = [threading.Thread(target=writer, args=(name,)) for name in ("w1", "w2", "w3")]
    readers = [threading.Thread(target=reader) for _ in range(2)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=30)
    stop.set()
    for thread in readers:
        thread.join(timeout=30)
    assert not errors
    assert dict(store.endpoints()) == compute_endpoints(store.pool, store.pods())
