"""The subscriber process: holds every subscriber of a scenario, apart from the publisher.

The coordinator starts it with :func:`start` and talks to it over a ``multiprocessing``
pipe. Kinds of subscriber:

- ``ws``: WebSocket clients (handshake over HTTP POST, then connect cycle and subscribe over
  the socket), deliveries recorded.
- ``lp``: long-polling clients, each looping ``/meta/connect`` over HTTP POST on its own
  keep-alive connection (:class:`LongPollConnection`, or httpx with ``lp_client: httpx``).
- ``idle``: WebSocket clients that handshake, connect and subscribe, then sit still; first a
  few warm-up clients, then the coordinator reads the server's memory and says ``go``.

Commands (a tuple, the first item names it): ``count step``, ``stats step start_ns end_ns``,
``go``, ``health``, ``stop``. Each gets one reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import os
import time
from multiprocessing.connection import Connection
from typing import Any

import httpx

from bench.loadgen import (
    CHANNEL,
    BayeuxError,
    LongPollConnection,
    Recorder,
    WebSocketClient,
    handshake,
    open_subscriber,
    post,
)
from bench.system import cpu_seconds, raise_nofile_limit, run_event_loop

__all__ = ["Worker", "start"]

SETUP_CONCURRENCY = 50
SETUP_TIMEOUT = 30.0
JSON = {"Content-Type": "application/json"}


class Subscribers:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.url: str = spec["url"]
        self.recorder = Recorder()
        self.sockets: list[WebSocketClient] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.failures: dict[str, int] = {}
        self.http = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=SETUP_CONCURRENCY, max_keepalive_connections=SETUP_CONCURRENCY),
            timeout=httpx.Timeout(120.0, connect=30.0),
        )
        self.polls = 0

    def _failed(self, exc: BaseException) -> None:
        key = f"{type(exc).__name__}: {exc}"[:160]
        self.failures[key] = self.failures.get(key, 0) + 1

    async def open(self, count: int) -> int:
        """Open ``count`` subscribers with bounded concurrency; returns how many succeeded."""
        gate = asyncio.Semaphore(SETUP_CONCURRENCY)
        kind = self.spec["kind"]

        async def one() -> bool:
            async with gate:
                try:
                    if kind == "lp":
                        await asyncio.wait_for(self._open_longpoll(), SETUP_TIMEOUT)
                    else:
                        recorder = self.recorder if kind == "ws" else None
                        client = await asyncio.wait_for(open_subscriber(self.http, self.url, recorder), SETUP_TIMEOUT)
                        self.sockets.append(client)
                    return True
                except (OSError, BayeuxError, httpx.HTTPError, TimeoutError) as exc:
                    self._failed(exc)
                    return False

        results = await asyncio.gather(*(one() for _ in range(count)))
        return sum(results)

    async def _open_longpoll(self) -> None:
        client_id = await handshake(self.http, self.url)
        replies = await post(self.http, self.url, [
            {"channel": "/meta/subscribe", "clientId": client_id, "subscription": CHANNEL, "id": "2"},
        ])
        if not any(r.get("channel") == "/meta/subscribe" and r.get("successful") for r in replies):
            raise BayeuxError(f"subscribe failed: {replies}")
        self.tasks.append(asyncio.create_task(self._poll(client_id)))

    async def _poll(self, client_id: str) -> None:
        """Loop ``/meta/connect`` over HTTP POST; deliveries come back in the connect response."""
        recorder = self.recorder
        last_seq = [-1]
        use_httpx = self.spec.get("lp_client") == "httpx"
        http = httpx.AsyncClient(timeout=httpx.Timeout(120.0, connect=30.0), verify=False) if use_httpx else None
        connection: LongPollConnection | None = None
        number = 2
        try:
            while True:
                number += 1
                body = b'[{"channel":"/meta/connect","clientId":"%s","connectionType":"long-polling","id":"%d"}]' % (
                    client_id.encode(), number)
                try:
                    if http is not None:
                        response = await http.post(self.url, content=body, headers=JSON)
                        status, payload, received_ns = response.status_code, response.content, time.monotonic_ns()
                    else:
                        if connection is None or connection.transport is None:
                            connection = await LongPollConnection.open(self.url)
                        status, payload, received_ns = await connection.post(body)
                except (OSError, BayeuxError, httpx.HTTPError) as exc:
                    self._failed(exc)
                    connection = None
                    await asyncio.sleep(1.0)
                    continue
                self.polls += 1
                if status != 200:
                    recorder.errors[f"connect: HTTP {status}"] += 1
                    await asyncio.sleep(1.0)
                    continue
                for reply in recorder.scan(payload, received_ns, last_seq):
                    if reply.get("channel") == "/meta/connect" and not reply.get("successful"):
                        recorder.errors[f"connect: {reply.get('error')}"] += 1
                        return
        finally:
            if connection is not None:
                connection.close()
            if http is not None:
                await http.aclose()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for client in self.sockets:
            client.close()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.sleep(0.2)
        await self.http.aclose()

    def health(self) -> dict[str, Any]:
        return {
            "open_sockets": sum(1 for c in self.sockets if not c.closed.done()),
            "long_polls": sum(1 for t in self.tasks if not t.done()),
            "polls": self.polls,
            "connect_failures": sum(c.connect_failures for c in self.sockets),
            "errors": dict(self.recorder.errors),
            "setup_failures": dict(self.failures),
            "out_of_order": self.recorder.out_of_order,
            "cpu_seconds": cpu_seconds(os.getpid()),
        }


async def _serve(conn: Connection, spec: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    subs = Subscribers(spec)
    started = time.monotonic()
    warm = spec.get("warmup", 0)
    if warm:
        opened = await subs.open(warm)
        conn.send(("warm", opened))
        go: asyncio.Future[None] = loop.create_future()
        def on_go() -> None:
            if not go.done():
                go.set_result(None)

        loop.add_reader(conn.fileno(), on_go)
        await go
        loop.remove_reader(conn.fileno())
        conn.recv()
    opened = await subs.open(spec["count"])
    # Keep full collections of the set-up objects from pausing the measurement.
    gc.collect()
    gc.freeze()
    conn.send(("ready", opened, time.monotonic() - started, dict(subs.failures)))

    stop: asyncio.Future[None] = loop.create_future()

    def on_command() -> None:
        try:
            command = conn.recv()
        except EOFError:
            command = ("stop",)
        name = command[0]
        if name == "count":
            conn.send(subs.recorder.count(command[1]))
        elif name == "stats":
            _, step, start_ns, end_ns = command
            summary = subs.recorder.summary(step)
            summary["arrived_in_window"] = subs.recorder.arrived_between(start_ns, end_ns)
            summary["frames_in_window"] = subs.recorder.arrived_between(start_ns, end_ns, subs.recorder.frames)
            summary.update(subs.health())
            conn.send(summary)
        elif name == "health":
            conn.send(subs.health())
        else:
            loop.remove_reader(conn.fileno())
            if not stop.done():
                stop.set_result(None)

    loop.add_reader(conn.fileno(), on_command)
    await stop
    await subs.close()
    with contextlib.suppress(OSError):
        conn.send(("stopped",))


def _main(conn: Connection, spec: dict[str, Any]) -> None:
    raise_nofile_limit()
    run_event_loop(_serve(conn, spec))


class Worker:
    """The coordinator's handle on a subscriber process."""

    def __init__(self, spec: dict[str, Any]) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_main, args=(child, spec), name=f"bench-{spec['kind']}", daemon=True)
        self.process.start()
        child.close()

    async def receive(self, within: float) -> Any:
        loop = asyncio.get_running_loop()
        ready = await loop.run_in_executor(None, self.conn.poll, within)
        if not ready:
            raise TimeoutError(f"subscriber process did not answer within {within:.0f} s")
        try:
            return self.conn.recv()
        except EOFError:
            raise RuntimeError(f"subscriber process exited (code {self.process.exitcode})") from None

    async def ask(self, *command: Any, within: float = 60.0) -> Any:
        self.conn.send(command)
        return await self.receive(within)

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    async def stop(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError, EOFError, TimeoutError):
                self.conn.send(("stop",))
                await self.receive(15.0)
        self.process.join(5.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5.0)
        self.conn.close()


def start(spec: dict[str, Any]) -> Worker:
    return Worker(spec)
