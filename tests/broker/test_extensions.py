"""Server extensions, monitoring events and the server-side client (docs/protocol.md §6, §7; §13 110-113).

The ``Guard`` below shows faye's extension mechanism (an incoming error blocks a message). It
compares raw fields, so it is not an access rule: ``["/secret"]`` or ``/*`` would get past it.
Access rules are authorizers, tested over lists and wildcards in ``test_authorization.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from broker import Context, Extension, create_app
from broker.request_state import RequestState
from broker.server import Broker
from clients.errors import BayeuxError
from clients.subscription import Message as Delivered
from protocol.connection_types import ConnectionType
from tests.support.servers import serve_app

pytestmark = pytest.mark.anyio

Message = dict[str, Any]


class Guard(Extension):
    """Blocks subscriptions to /secret and publishes to /blocked without a token; tags messages."""

    def __init__(self) -> None:
        self.seen_local: list[bool] = []

    def incoming(self, message: Message, context: Context) -> Message | None:
        self.seen_local.append(context.local)
        if message.get("channel") == "/meta/subscribe" and message.get("subscription") == "/secret":
            message["error"] = "403::Authentication required"
        if message.get("channel") == "/blocked" and (message.get("ext") or {}).get("token") != "t":
            message["error"] = "403::Password required"
        if message.get("channel") == "/dropped":
            return None
        return message


class Tagger(Extension):
    async def outgoing(self, message: Message, context: Context) -> Message | None:
        if message.get("channel") == "/hidden":
            return None
        message.setdefault("ext", {})["tagged"] = context.transport
        return message


async def _post(http: httpx.AsyncClient, url: str, body: object) -> list[Message]:
    response = await http.post(url, json=body)
    assert response.status_code == 200
    result: list[Message] = response.json()
    return result


async def _handshake(http: httpx.AsyncClient, url: str) -> str:
    replies = await _post(http, url, {"channel": "/meta/handshake", "version": "1.0",
                                      "supportedConnectionTypes": ["long-polling"]})
    client_id: str = replies[0]["clientId"]
    return client_id


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Broker, Guard]]:
    guard = Guard()
    app = create_app(extensions=[guard, Tagger()], timeout=2)
    async with serve_app(app) as base:
        yield base + "/faye", app.state.broker, guard


async def test_c110_incoming_error_blocks_subscribe(served: tuple[str, Broker, Guard]) -> None:
    url, broker, _ = served
    async with httpx.AsyncClient(timeout=10) as http:
        client_id = await _handshake(http, url)
        reply = (await _post(http, url, {"channel": "/meta/subscribe", "clientId": client_id,
                                         "subscription": "/secret", "id": "s"}))[0]
        assert reply["error"] == "403::Authentication required"
        assert reply["successful"] is False
        assert reply["subscription"] == "/secret"
        assert await broker.engine.subscription_count(client_id) == 0


async def test_c111_incoming_error_blocks_publish(served: tuple[str, Broker, Guard]) -> None:
    url, broker, _ = served
    received: list[object] = []
    arrived = asyncio.Event()

    def on_message(message: Delivered) -> None:
        received.append(message.data)
        arrived.set()

    await broker.client().subscribe("/blocked", on_message)
    async with httpx.AsyncClient(timeout=10) as http:
        denied = (await _post(http, url, {"channel": "/blocked", "data": 1}))[0]
        assert denied["error"] == "403::Password required"
        assert denied["successful"] is False
        allowed = (await _post(http, url, {"channel": "/blocked", "data": 2, "ext": {"token": "t"}}))[0]
        assert allowed["successful"] is True
    # the allowed publish arrives; the blocked one, published before it, would have come first
    await asyncio.wait_for(arrived.wait(), 5)
    assert received == [2]


async def test_incoming_drop_gives_no_reply(served: tuple[str, Broker, Guard]) -> None:
    url, _, _ = served
    async with httpx.AsyncClient(timeout=10) as http:
        replies = await _post(http, url, [{"channel": "/dropped", "data": 1, "id": "a"},
                                          {"channel": "/kept", "data": 1, "id": "b"}])
        assert [r["id"] for r in replies] == ["b"]


async def test_c112_outgoing_changes_replies_deliveries_and_pushes(served: tuple[str, Broker, Guard]) -> None:
    url, _, _ = served
    async with httpx.AsyncClient(timeout=10) as http:
        client_id = await _handshake(http, url)
        sub = await _post(http, url, {"channel": "/meta/subscribe", "clientId": client_id,
                                      "subscription": ["/x", "/hidden"]})
        assert sub[0]["ext"] == {"tagged": "long-polling"}
        await _post(http, url, {"channel": "/x", "data": 1})
        await _post(http, url, {"channel": "/hidden", "data": 1})
        replies = await _post(http, url, {"channel": "/meta/connect", "clientId": client_id,
                                          "connectionType": "long-polling"})
        assert replies[0]["ext"] == {"tagged": "long-polling"}
        assert replies[1:] == [{"channel": "/x", "data": 1, "ext": {"tagged": "long-polling"}}]

        ws_client = await _handshake(http, url)
        async with ws_connect(url.replace("http", "ws")) as ws:
            await ws.send(json.dumps([{"channel": "/meta/subscribe", "clientId": ws_client, "subscription": "/x"}]))
            await asyncio.wait_for(ws.recv(), 5)
            await ws.send(json.dumps([{"channel": "/meta/connect", "clientId": ws_client,
                                       "connectionType": "websocket"}]))
            await asyncio.wait_for(ws.recv(), 5)  # first connect is answered at once
            await ws.send(json.dumps([{"channel": "/meta/connect", "clientId": ws_client,
                                       "connectionType": "websocket"}]))
            await _post(http, url, {"channel": "/hidden", "data": 2})
            await _post(http, url, {"channel": "/x", "data": 2})
            pushed = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert pushed == [{"channel": "/x", "data": 2, "ext": {"tagged": "websocket"}}]


async def test_c113_monitoring_events() -> None:
    app = create_app(timeout=2)
    broker: Broker = app.state.broker
    events: list[tuple[object, ...]] = []
    for name in ("handshake", "subscribe", "unsubscribe", "publish", "disconnect"):
        broker.on(name, lambda *args, name=name: events.append((name, *args)))
    async with serve_app(app) as base, httpx.AsyncClient(timeout=10) as http:
        url = base + "/faye"
        client_id = await _handshake(http, url)
        for _ in range(2):
            await _post(http, url, {"channel": "/meta/subscribe", "clientId": client_id, "subscription": ["/a", "/b"]})
        await _post(http, url, {"channel": "/a", "data": {"k": 1}, "clientId": client_id})
        await _post(http, url, {"channel": "/nobody", "data": None})
        await _post(http, url, {"channel": "/meta/disconnect", "clientId": client_id})
    assert events[:3] == [("handshake", client_id), ("subscribe", client_id, "/a"), ("subscribe", client_id, "/b")]
    assert events[3:5] == [("publish", client_id, "/a", {"k": 1}), ("publish", None, "/nobody", None)]
    assert sorted(events[5:7]) == [("unsubscribe", client_id, "/a"), ("unsubscribe", client_id, "/b")]
    assert events[7:] == [("disconnect", client_id)]


async def test_listener_errors_do_not_break_the_broker(caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(timeout=2)

    def explode(*_args: object) -> None:
        raise RuntimeError("boom")

    app.state.broker.on("handshake", explode)
    async with serve_app(app) as base, httpx.AsyncClient(timeout=10) as http:
        assert await _handshake(http, base + "/faye")
    assert "listener for 'handshake' failed" in caplog.text
    with pytest.raises(ValueError, match="unknown event"):
        app.state.broker.on("nope", explode)


async def test_server_side_client_publish_subscribe_and_service_channels(served: tuple[str, Broker, Guard]) -> None:
    url, broker, guard = served
    client = broker.client()
    requests: list[Delivered] = []
    everything: list[Delivered] = []
    markers: asyncio.Queue[object] = asyncio.Queue()
    await client.subscribe("/service/echo", requests.append)
    await client.subscribe("/chat/**", everything.append)
    await client.subscribe("/marker", lambda message: markers.put_nowait(message.data))
    async with httpx.AsyncClient(timeout=10) as http:
        client_id = await _handshake(http, url)
        await _post(http, url, {"channel": "/meta/subscribe", "clientId": client_id, "subscription": "/chat/*"})
        await _post(http, url, {"channel": "/service/echo", "data": {"q": 1}, "clientId": client_id})
        await broker.publish("/chat/room", {"text": "hi"})
        replies = await _post(http, url, {"channel": "/meta/connect", "clientId": client_id,
                                          "connectionType": "long-polling"})
        delivered = replies[1:]
        assert len(delivered) == 1
        assert delivered[0].pop("id")  # faye keeps the publisher's id on deliveries
        assert delivered == [{"channel": "/chat/room", "data": {"text": "hi"}, "ext": {"tagged": "long-polling"}}]
    await broker.publish("/marker", 1)
    assert await asyncio.wait_for(markers.get(), 5) == 1  # everything published before it has arrived
    assert [m.data for m in requests] == [{"q": 1}]
    assert [m.data for m in everything] == [{"text": "hi"}]
    assert everything[0].ext == {"tagged": "in-process"}
    assert True in guard.seen_local
    with pytest.raises(BayeuxError) as refused:
        await client.publish("/blocked", 1)
    assert refused.value.code == 403
    with pytest.raises(BayeuxError):
        await client.subscribe("/bad channel", everything.append)
    await client.unsubscribe("/chat/**")
    await broker.publish("/chat/room", {"text": "after"})
    await broker.publish("/marker", 2)
    assert await asyncio.wait_for(markers.get(), 5) == 2
    assert len(everything) == 1


async def test_an_extension_error_over_websocket_is_logged_not_swallowed(caplog: pytest.LogCaptureFixture) -> None:
    """Over HTTP the same error is logged and answered 500; over WebSocket it closes that socket, logged."""

    class Broken(Extension):
        def incoming(self, message: Message, context: Context) -> Message:
            if message.get("channel") == "/boom":
                raise KeyError("boom")
            return message

    app = create_app(extensions=[Broken()], timeout=2)
    # log_config=None: uvicorn's records reach the root logger, which caplog reads
    async with serve_app(app, log_config=None) as base, ws_connect(base.replace("http", "ws") + "/faye") as ws:
        await ws.send(json.dumps([{"channel": "/boom", "data": 1}]))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    assert "KeyError: 'boom'" in caplog.text


async def test_a_removed_extension_sees_nothing_more() -> None:
    seen: list[object] = []

    class Spy(Extension):
        def incoming(self, message: Message, context: Context) -> Message:
            seen.append(message.get("channel"))
            return message

    spy = Spy()
    broker = Broker(extensions=[spy])
    request = RequestState(Context(transport=ConnectionType.LONG_POLLING))
    await broker.start()
    try:
        await broker.process([{"channel": "/a", "data": 1}], request)
        broker.remove_extension(spy)
        await broker.process([{"channel": "/b", "data": 1}], request)
    finally:
        await broker.close()
    assert seen == ["/a"]
