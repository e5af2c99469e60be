"""``FakeRuntime``: one asyncio loop in a background thread serving any number of fake ports."""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from fakes.modelserver.app import RENDERER_KEY, make_app
from fakes.modelserver.config import PortConfig
from fakes.modelserver.fastpath import MetricsFastPath
from fakes.modelserver.state import Failure, MetricOverrides, PortState, RequestRecord, ScrapeRecord

T = TypeVar("T")

#: Seconds a closing port waits for requests in flight before it cuts them off.
SHUTDOWN_GRACE = 0.5
#: Loop iterations a closing port gives the connections it accepted last to reach aiohttp.
_ACCEPTED_CONNECTION_ITERATIONS = 3


class PortInUseError(OSError):
    """The address and port asked for are taken by another listener."""


class FakePort:
    """One served port; its ``FakeControl`` operations are thread-safe (most run on the runtime's loop)."""

    def __init__(self, runtime: FakeRuntime, address: str, port: int, state: PortState, runner: web.AppRunner,
                 listener: socket.socket, server: asyncio.Server, fast: set[MetricsFastPath]) -> None:
        self.address = address
        self.port = port
        self.config = state.config
        self._runtime = runtime
        self._state = state
        self._runner = runner
        self._listener = listener
        self._server = server
        self._fast = fast

    @property
    def base_url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def __repr__(self) -> str:
        return f"FakePort({self.address}:{self.port})"

    def _call(self, fn: Callable[[PortState], T]) -> T:
        return self._runtime.call(lambda: fn(self._state))

    # Overrides are set (one atomic assignment) and logs read (under their lock) from the calling
    # thread, not on the loop: an observer steers and polls hundreds of ports while the loop answers
    # thousands of scrapes a second.
    def set_metrics(self, *, waiting: float | None = None, running: float | None = None,
                    kv_cache_usage: float | None = None) -> None:
        self._state.overrides = MetricOverrides(waiting=waiting, running=running, kv_cache_usage=kv_cache_usage)

    def clear_metrics(self) -> None:
        self._state.overrides = MetricOverrides()

    def scrapes(self, *, since: float = 0.0) -> list[ScrapeRecord]:
        return self._state.scrapes_since(since)

    def requests(self) -> list[RequestRecord]:
        return self._state.requests()

    def reset_logs(self) -> None:
        self._call(PortState.reset_logs)

    def sleep(self, level: int = 1) -> None:
        self._call(lambda state: state.sleep(level))

    def wake_up(self) -> None:
        self._call(PortState.wake_up)

    def is_sleeping(self) -> bool:
        return self._call(lambda state: state.is_sleeping)

    def inject_failure(self, *, scope: str = "inference", status: int = 500, latency: float = 0.0,
                       count: int | None = None, message: str = "injected failure") -> None:
        failure = Failure(status=status, latency=latency, count=count, message=message)
        self._call(lambda state: state.inject_failure(scope, failure))

    def clear_failures(self) -> None:
        self._call(PortState.clear_failures)

    def in_flight(self) -> tuple[int, int]:
        """Real (waiting, running) request counts, whatever the overrides."""
        return self._call(lambda state: (state.waiting, state.running))


class FakeRuntime:
    """Serves fake vLLM ports from one event loop in a daemon thread.

    Use as a context manager, or call ``start()`` and ``stop()``; ``stop()`` closes every port.
    ``serve()`` and ``close()`` may be called from any thread.
    """

    def __init__(self, *, call_timeout: float = 30.0) -> None:
        self.call_timeout = call_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ports: dict[tuple[str, int], FakePort] = {}

    def __enter__(self) -> FakeRuntime:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def ports(self) -> list[FakePort]:
        return list(self._ports.values())

    def start(self) -> None:
        if self._thread is not None:
            return
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        thread = threading.Thread(target=self._run_loop, args=(loop, ready), name="eppconf-fakes", daemon=True)
        thread.start()
        ready.wait()
        self._loop, self._thread = loop, thread

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    def stop(self) -> None:
        """Close every port and end the loop thread; safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self.submit(self._close_all())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._loop = self._thread = None

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the loop thread and return its result."""
        if self._thread is threading.current_thread():
            return fn()

        async def run() -> T:
            return fn()
        return self.submit(run())

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result (at most ``call_timeout`` seconds)."""
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("FakeRuntime is not started: call start() or use it as a context manager")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(self.call_timeout)

    def serve(self, address: str, port: int, config: PortConfig | None = None) -> FakePort:
        """Serve a fake vLLM on ``address:port`` (port 0 picks a free one); ``PortInUseError`` if taken."""
        return self.submit(self.serve_async(address, port, config or PortConfig()))

    def close(self, port: FakePort) -> None:
        """Stop serving ``port``; requests in flight get ``SHUTDOWN_GRACE`` seconds to finish."""
        self.submit(self.close_async(port))

    async def serve_async(self, address: str, port: int, config: PortConfig) -> FakePort:
        """``serve`` for code already running on the runtime's loop."""
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            listener = socket.create_server((address, port), family=family)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUseError(error.errno, f"{address}:{port} is already in use") from None
            raise OSError(error.errno, f"cannot serve on {address}:{port}: {error.strerror}") from None
        state = PortState(config)
        app = make_app(state)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
        fast: set[MetricsFastPath] = set()
        try:
            await runner.setup()
            handler = runner.server
            assert handler is not None
            server = await asyncio.get_running_loop().create_server(
                lambda: MetricsFastPath(state, app[RENDERER_KEY], handler, fast), sock=listener)
        except BaseException:
            listener.close()
            await runner.cleanup()
            raise
        bound = listener.getsockname()[1]
        state.served_by = f"{address}:{bound}"
        fake = FakePort(self, address, bound, state, runner, listener, server, fast)
        self._ports[(address, bound)] = fake
        return fake

    async def close_async(self, port: FakePort) -> None:
        """``close`` for code already running on the runtime's loop."""
        if self._ports.pop((port.address, port.port), None) is not None:
            await _stop_accepting(port._listener)
            port._server.close()
            for connection in list(port._fast):
                connection.close()
            await port._runner.cleanup()

    async def _close_all(self) -> None:
        for port in list(self._ports.values()):
            await self.close_async(port)


async def _stop_accepting(listener: socket.socket) -> None:
    """Stop accepting on ``listener``, then let the connections accepted last reach their protocol.

    Python 3.11's asyncio leaves a connection accepted in the loop iteration that closes its
    server half-made and open (``ResourceWarning: unclosed transport``), and the port's cleanup
    closes only the connections its protocols have seen; so the listener stops first, and the
    server closes once every accepted connection has its protocol.
    """
    asyncio.get_running_loop().remove_reader(listener.fileno())
    for _ in range(_ACCEPTED_CONNECTION_ITERATIONS):
        await asyncio.sleep(0)
