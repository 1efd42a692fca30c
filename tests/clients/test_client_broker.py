"""The Python client against our broker under uvicorn on loopback, over both transports:
publish/subscribe, wildcards (docs/protocol.md §1.2), refusals (§3), extensions (§6), the
WebSocket fallback (§9.1) and the re-handshake after the broker forgets the client (§9.3)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from clients import (
    Client,
    ClientClosed,
    ClientError,
    HandshakeError,
    Message,
    PublishError,
    SubscribeError,
)
from tests.clients.support import (
    TRANSPORTS,
    AddToken,
    RequireToken,
    broker_url,
    connected_client,
    next_message,
    no_message,
    wait_until,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(params=list(TRANSPORTS))
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_publish_is_acknowledged_and_delivered_to_callback_and_iterator(transport: str) -> None:
    received: list[Message] = []
    async with broker_url() as url, connected_client(url, transport) as client:
        assert client.connection_type == transport
        assert client.client_id is not None
        assert len(client.client_id) == 31
        subscription = await client.subscribe("/chat/room", received.append)
        assert subscription.acknowledged.done()
        iterator = client.subscribe("/chat/room")
        reply = await client.publish("/chat/room", {"text": "hi"}, ext={"trace": 1})
        assert reply["successful"] is True
        assert "data" not in reply
        message = await next_message(iterator)
        assert (message.channel, message.data, message.ext) == ("/chat/room", {"text": "hi"}, {"trace": 1})
        await wait_until(lambda: len(received) == 1)
        assert received[0].data == {"text": "hi"}
        assert client.statistics()["handshakes"] == 1


async def test_two_clients_talk_and_async_callbacks_are_awaited_in_order(transport: str) -> None:
    seen: list[int] = []

    async def slow(message: Message) -> None:
        await asyncio.sleep(0.01)
        seen.append(message.data)

    async with broker_url() as url, connected_client(url, transport) as alice, \
            connected_client(url, transport) as bob:
        await bob.subscribe("/room", slow)
        for n in range(5):
            await alice.publish("/room", n)
        await wait_until(lambda: len(seen) == 5)
        assert seen == [0, 1, 2, 3, 4]


async def test_s1_2_wildcards_match_like_faye(transport: str) -> None:
    async with broker_url() as url, connected_client(url, transport) as client:
        one = await client.subscribe("/chat/*")
        deep = await client.subscribe("/chat/**")
        everything = await client.subscribe("/**")
        await client.publish("/chat/a", 1)
        await client.publish("/chat/a/b", 2)
        await client.publish("/chat", 3)
        assert [(await next_message(one)).data] == [1]
        assert [(await next_message(deep)).data for _ in range(2)] == [1, 2]
        assert [(await next_message(everything)).data for _ in range(3)] == [1, 2, 3]
        assert await no_message(one)
        assert await no_message(deep, 0.05)


async def test_unsubscribe_stops_delivery_and_ends_iteration(transport: str) -> None:
    async with broker_url() as url, connected_client(url, transport) as client:
        kept = await client.subscribe("/news")
        dropped = await client.subscribe("/news")
        await dropped.unsubscribe()
        assert dropped.closed
        assert [message async for message in dropped] == []
        await client.publish("/news", "still subscribed")
        assert (await next_message(kept)).data == "still subscribed"
        await client.unsubscribe("/news")
        assert kept.closed
        watcher = await client.subscribe("/**")
        await client.publish("/news", "after")
        assert (await next_message(watcher)).channel == "/news"
        assert [message async for message in kept] == []


@pytest.mark.parametrize(
    ("channel", "code", "error"),
    [
        pytest.param("/chat/*", 405, "405:/chat/*:Invalid channel", id="pattern"),
        pytest.param("/meta/nope", 403, "403:/meta/nope:Forbidden channel", id="meta"),
        pytest.param("not-a-channel", 405, "405:not-a-channel:Invalid channel", id="invalid"),
    ],
)
async def test_s3_refused_publish_raises_publish_error_with_the_bayeux_code(channel: str, code: int,
                                                                            error: str) -> None:
    async with broker_url() as url, connected_client(url, "websocket") as client:
        with pytest.raises(PublishError) as caught:
            await client.publish(channel, {"x": 1})
        assert (caught.value.code, caught.value.error) == (code, error)
        assert isinstance(caught.value, ClientError)
        assert (await client.publish("/fine", 1))["successful"] is True


async def test_s2_4_refused_subscribe_raises_for_await_and_for_iteration(transport: str) -> None:
    async with broker_url() as url, connected_client(url, transport) as client:
        with pytest.raises(SubscribeError) as caught:
            await client.subscribe("/service/x", lambda message: None)
        assert caught.value.code == 403
        assert caught.value.params == ["/service/x"]
        with pytest.raises(SubscribeError):
            async for _ in client.subscribe("/meta/*"):
                pass
        assert client.session.subscriptions == ()


async def test_s6_outgoing_extension_adds_the_token_and_incoming_sees_deliveries(transport: str) -> None:
    class Tag:
        def __init__(self) -> None:
            self.channels: list[str] = []

        async def incoming(self, message: dict[str, Any]) -> dict[str, Any]:
            self.channels.append(message.get("channel", ""))
            if message.get("channel") == "/private/box" and "data" in message:
                message["data"] = {**message["data"], "tagged": True}
            return message

    async with broker_url(extensions=[RequireToken()]) as url:
        async with connected_client(url, transport) as anonymous:
            with pytest.raises(SubscribeError) as refused:
                await anonymous.subscribe("/private/box")
            assert refused.value.error == "403::Authentication required"
            with pytest.raises(PublishError):
                await anonymous.publish("/private/box", 1)
        token, tag = AddToken(), Tag()
        async with connected_client(url, transport, extensions=[token, tag]) as client:
            box = await client.subscribe("/private/box")
            await client.publish("/private/box", {"n": 1})
            message = await next_message(box)
            assert message.data == {"n": 1, "tagged": True}
            assert message.ext == {"token": "secret"}
            assert token.seen >= 4
            assert "/meta/handshake" in tag.channels
            assert "/private/box" in tag.channels


async def test_s6_extension_can_drop_a_publish_which_then_fails_locally() -> None:
    class DropSecrets:
        def outgoing(self, message: dict[str, Any]) -> dict[str, Any] | None:
            return None if message.get("channel") == "/secret" else message

    async with broker_url() as url, connected_client(url, "websocket", extensions=[DropSecrets()]) as client:
        with pytest.raises(PublishError, match="Dropped by an outgoing extension"):
            await client.publish("/secret", 1)
        assert (await client.publish("/public", 1))["successful"] is True


async def test_s6_a_failing_extension_is_skipped_not_fatal() -> None:
    class Broken:
        def incoming(self, message: dict[str, Any]) -> dict[str, Any]:
            raise KeyError("oops")

    async with broker_url() as url, connected_client(url, "websocket", extensions=[Broken()]) as client:
        subscription = await client.subscribe("/a")
        await client.publish("/a", 1)
        assert (await next_message(subscription)).data == 1


async def test_refused_handshake_raises_handshake_error() -> None:
    class RefuseAll(RequireToken):
        def incoming(self, message: dict[str, Any], context: Any) -> dict[str, Any]:
            if message.get("channel") == "/meta/handshake":
                message["error"] = "403::Authentication required"
            return message

    async with broker_url(extensions=[RefuseAll()]) as url:
        client = Client(url, timeout=2)
        with pytest.raises(HandshakeError) as caught:
            async with client:
                pass
        assert caught.value.code == 403
        with pytest.raises(ClientClosed):
            await client.publish("/a", 1)


async def test_s9_1_falls_back_to_long_polling_when_the_websocket_cannot_open() -> None:
    async with broker_url(websocket=False) as url, Client(url, timeout=2) as client:
        assert client.connection_type == "long-polling"
        subscription = await client.subscribe("/fallback")
        await client.publish("/fallback", "ok")
        assert (await next_message(subscription)).data == "ok"


async def test_s9_3_rehandshakes_and_resubscribes_after_the_broker_forgets_the_client(transport: str) -> None:
    async with broker_url() as url, connected_client(url, transport) as client:
        subscription = await client.subscribe("/still/here")
        old_id = client.client_id
        async with httpx.AsyncClient() as http:  # another party ends the session, as reaping would
            reply = (await http.post(url, json={"channel": "/meta/disconnect", "clientId": old_id})).json()
        assert reply[0]["successful"] is True
        await wait_until(lambda: client.client_id not in (None, old_id))
        await wait_until(lambda: "/still/here" in client.session._confirmed)
        await client.publish("/still/here", "again")
        assert (await next_message(subscription)).data == "again"
        assert client.statistics()["handshakes"] == 2


async def test_client_rejects_unknown_transports() -> None:
    with pytest.raises(ValueError, match="transports"):
        Client("http://127.0.0.1:1/faye", transports=("eventsource",))
