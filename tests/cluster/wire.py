"""Raw Bayeux against a cluster of real brokers: httpx for long-polling, ``websockets`` for WebSocket.

Deliveries are told from replies by the ``successful`` field (a reply has it, a delivered
copy never does). Every published message gets a unique ``id``, which its deliveries carry,
so that duplicates and losses can be counted per recipient.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import secrets
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

__all__ = [
    "HANDSHAKE_ADVICE",
    "Inbox",
    "LongPoller",
    "Message",
    "WsClient",
    "assert_exactly_once",
    "connect",
    "cpu_seconds",
    "handshake",
    "http_client",
    "lp_session",
    "new_channel",
    "post",
    "publish",
    "subscribe",
]

Message = dict[str, Any]
HANDSHAKE_ADVICE = {"reconnect": "handshake"}
_ids = itertools.count(1)


def _next_id() -> str:
    return f"q{next(_ids)}-{secrets.token_hex(3)}"


def new_channel(prefix: str = "c") -> str:
    """A channel root nobody else uses, e.g. ``/c-1a2b3c4d``."""
    return f"/{prefix}-{secrets.token_hex(4)}"


def http_client(*, connections: int = 100) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(timeout=httpx.Timeout(15.0), limits=limits)


# --- long-polling -------------------------------------------------------------------------


async def post(http: httpx.AsyncClient, url: str, body: Any) -> list[Message]:
    """POST a JSON batch; the HTTP status must be 200 and the body a JSON array."""
    response = await http.post(url, json=body)
    assert response.status_code == 200, (url, body, response.status_code, response.text)
    replies = response.json()
    assert isinstance(replies, list), (url, body, replies)
    return replies


async def handshake(http: httpx.AsyncClient, url: str) -> str:
    [reply] = await post(http, url, {"channel": "/meta/handshake", "version": "1.0",
                                     "supportedConnectionTypes": ["long-polling"], "id": _next_id()})
    assert reply["successful"] is True, (url, reply)
    client_id: str = reply["clientId"]
    return client_id


async def connect(http: httpx.AsyncClient, url: str, client_id: str, *, timeout_ms: int | None = None) -> list[Message]:
    """One ``/meta/connect``; returns ``[reply, *deliveries]``."""
    message: Message = {"channel": "/meta/connect", "clientId": client_id, "connectionType": "long-polling",
                        "id": _next_id()}
    if timeout_ms is not None:
        message["advice"] = {"timeout": timeout_ms}
    replies = await post(http, url, message)
    assert replies, (url, message, replies)
    assert replies[0].get("channel") == "/meta/connect", (url, message, replies)
    return replies


async def subscribe(http: httpx.AsyncClient, url: str, client_id: str, *subscriptions: str) -> None:
    for name in subscriptions:
        message = {"channel": "/meta/subscribe", "clientId": client_id, "subscription": name, "id": _next_id()}
        [reply] = await post(http, url, message)
        assert reply["successful"] is True, (url, message, reply)


async def publish(http: httpx.AsyncClient, url: str, channel: str, data: Any, message_id: str) -> None:
    message = {"channel": channel, "data": data, "id": message_id}
    [reply] = await post(http, url, message)
    assert reply == {"id": message_id, "channel": channel, "successful": True}, (url, message, reply)


async def lp_session(http: httpx.AsyncClient, url: str, *subscriptions: str) -> str:
    """Handshake, use up the first connect (answered at once), subscribe: all on ``url``."""
    client_id = await handshake(http, url)
    first = await connect(http, url, client_id)
    assert first[0]["successful"] is True, (url, first)
    await subscribe(http, url, client_id, *subscriptions)
    return client_id


# --- what a client received ---------------------------------------------------------------


class Inbox:
    """Deliveries received by one client, in arrival order."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.deliveries: list[Message] = []

    def add(self, messages: Sequence[Message]) -> None:
        for message in messages:
            assert "successful" not in message, (self.label, "a reply where a delivery was expected", message)
            self.deliveries.append(message)

    def ids(self) -> list[str]:
        return [str(message.get("id")) for message in self.deliveries]

    def has_all(self, expected: Sequence[str]) -> bool:
        return set(expected) <= set(self.ids())

    async def wait_for(self, expected: Sequence[str], within: float) -> None:
        """Wait until every expected id arrived; on time-out, say which are missing."""
        deadline = time.monotonic() + within
        while not self.has_all(expected):
            if time.monotonic() > deadline:
                missing = sorted(set(expected) - set(self.ids()))
                raise AssertionError(f"{self.label}: {len(missing)} of {len(expected)} messages not delivered "
                                     f"within {within} s, e.g. {missing[:5]}; received {self.ids()[:20]}")
            await asyncio.sleep(0.02)


def assert_exactly_once(inbox: Inbox, expected: Sequence[str], *, ordered: bool = False) -> None:
    """Every expected id exactly once, nothing else (and, if asked, in publish order)."""
    counts = Counter(inbox.ids())
    duplicates = {key: n for key, n in counts.items() if n > 1}
    missing = [key for key in expected if key not in counts]
    unexpected = [key for key in counts if key not in set(expected)]
    summary = (f"{inbox.label}: {len(missing)} missing (e.g. {missing[:5]}), {len(duplicates)} duplicated "
               f"(e.g. {dict(list(duplicates.items())[:5])}), {len(unexpected)} unexpected (e.g. {unexpected[:5]})")
    assert not duplicates, summary
    assert not missing, summary
    assert not unexpected, summary
    if ordered:
        assert inbox.ids() == list(expected), f"{inbox.label}: out of order: {inbox.ids()}"


class LongPoller:
    """Keeps one ``/meta/connect`` outstanding for a client, sending each to the next URL in turn.

    A failed connect is recorded in ``failures`` (:meth:`check` raises on any); after ``retry``
    advice the loop goes on as a faye client would, after any other advice it stops.
    """

    def __init__(self, http: httpx.AsyncClient, client_id: str, urls: Sequence[str], label: str = "") -> None:
        self.http = http
        self.client_id = client_id
        self.urls = list(urls)
        self.inbox = Inbox(label or f"long-poll {client_id}")
        self.failures: list[Message] = []
        self.connects = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> LongPoller:
        self._task = asyncio.ensure_future(self._run())
        return self

    async def _run(self) -> None:
        for index in itertools.count():
            url = self.urls[index % len(self.urls)]
            replies = await connect(self.http, url, self.client_id)
            self.connects += 1
            if replies[0].get("successful") is not True:
                # recorded (check() fails on it), then handled as a faye client would
                self.failures.append(replies[0])
                advice = replies[0].get("advice") or {}
                if advice.get("reconnect") != "retry":
                    return
                await asyncio.sleep(advice.get("interval", 1000) / 1000)
            self.inbox.add(replies[1:])

    async def wait(self) -> None:
        """Wait for the loop to end: it ends only on a failed connect (returns) or an error (raised)."""
        assert self._task is not None
        await self._task

    def check(self) -> None:
        """Raise what went wrong in the loop (a failed connect, an HTTP error)."""
        assert not self.failures, (self.inbox.label, self.failures)
        if self._task is not None and self._task.done() and not self._task.cancelled():
            self._task.result()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


# --- WebSocket ----------------------------------------------------------------------------


def ws_url(url: str) -> str:
    assert url.startswith("http://")
    return "ws://" + url[len("http://"):]


class WsClient:
    """One WebSocket to one broker: requests matched to replies by id, deliveries in an inbox.

    After :meth:`start_connecting` a connector task keeps one ``/meta/connect`` outstanding,
    as a faye client does; it follows ``retry`` advice and stops on ``handshake`` advice.
    """

    def __init__(self, ws: ClientConnection, url: str, label: str) -> None:
        self.ws = ws
        self.url = url
        self.inbox = Inbox(label)
        self.client_id = ""
        self.connect_replies: list[Message] = []
        self._pending: dict[str, asyncio.Future[Message]] = {}
        self._connect_replies: asyncio.Queue[Message] = asyncio.Queue()
        self.closed = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())
        self._connector: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str, label: str = "") -> WsClient:
        ws = await ws_connect(ws_url(url), ping_interval=None, open_timeout=10, close_timeout=2,
                              max_size=None, compression=None)
        return cls(ws, url, label or f"websocket {url}")

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                batch = json.loads(frame)
                assert isinstance(batch, list), (self.inbox.label, frame)
                for message in batch:
                    self._dispatch(message)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"{self.inbox.label}: socket closed"))

    def _dispatch(self, message: Message) -> None:
        if "successful" not in message:
            self.inbox.add([message])
        elif message.get("channel") == "/meta/connect":
            self.connect_replies.append(message)
            self._connect_replies.put_nowait(message)
        else:
            future = self._pending.pop(str(message.get("id")), None)
            assert future is not None, (self.inbox.label, "a reply nobody asked for", message)
            future.set_result(message)

    async def send(self, message: Message | list[Message]) -> None:
        await self.ws.send(json.dumps(message))

    async def call(self, message: Message, within: float = 10.0) -> Message:
        """Send one message (not a connect) and wait for its reply."""
        message = {**message, "id": _next_id()}
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[message["id"]] = future
        await self.send([message])
        return await asyncio.wait_for(future, within)

    async def handshake(self) -> str:
        reply = await self.call({"channel": "/meta/handshake", "version": "1.0",
                                 "supportedConnectionTypes": ["websocket", "long-polling"]})
        assert reply["successful"] is True, (self.inbox.label, reply)
        self.client_id = reply["clientId"]
        return self.client_id

    async def subscribe(self, *subscriptions: str) -> None:
        for name in subscriptions:
            reply = await self.call({"channel": "/meta/subscribe", "clientId": self.client_id, "subscription": name})
            assert reply["successful"] is True, (self.inbox.label, reply)

    async def publish(self, channel: str, data: Any, message_id: str) -> None:
        """Publish over this socket (needs no session, as in faye)."""
        message = {"channel": channel, "data": data, "id": message_id}
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        await self.send([message])
        reply = await asyncio.wait_for(future, 10)
        assert reply == {"id": message_id, "channel": channel, "successful": True}, (self.inbox.label, reply)

    def start_connecting(self, client_id: str | None = None) -> None:
        if client_id is not None:
            self.client_id = client_id
        assert self.client_id
        self._connector = asyncio.ensure_future(self._connect_loop())

    async def _connect_loop(self) -> None:
        while not self.closed.is_set():
            try:
                await self.send([{"channel": "/meta/connect", "clientId": self.client_id,
                                  "connectionType": "websocket", "id": _next_id()}])
            except ConnectionClosed:
                return
            reply = await self._connect_replies.get()
            if reply.get("successful") is True:
                continue
            advice = reply.get("advice") or {}
            if advice.get("reconnect") != "retry":
                return
            await asyncio.sleep(advice.get("interval", 1000) / 1000)

    async def next_connect_reply(self, within: float) -> Message:
        """Wait for a connect reply to arrive (the connector keeps running)."""
        seen = len(self.connect_replies)
        deadline = time.monotonic() + within
        while len(self.connect_replies) == seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.inbox.label}: no /meta/connect reply within {within} s")
            await asyncio.sleep(0.02)
        return self.connect_replies[seen]

    def check(self, *, connects_from: int = 0) -> None:
        """Raise what went wrong: a failed ``/meta/connect`` (from that index of ``connect_replies``
        on), or an error while reading frames (a malformed frame, an unexpected reply)."""
        failed = [reply for reply in self.connect_replies[connects_from:] if reply.get("successful") is not True]
        assert not failed, (self.inbox.label, failed)
        if self._reader.done() and not self._reader.cancelled():
            self._reader.result()

    async def close(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        await self.ws.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._reader), 5)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


# --- processes ----------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used, from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")
