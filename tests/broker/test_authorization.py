"""The authorization point (docs/architecture.md §5.3): authorizers see validated commands.

One concrete channel or one pattern per subscribe (a list is split, a wildcard arrives as the
pattern), one channel per publish, and the handshake with its message; a denial is a 403 naming
the channel, and nothing of the refused command happens.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from broker import create_app
from broker.authorization import Attempt, Denied, Operation, Verdict, subscription_covers
from broker.extensions import Context
from broker.request_state import RequestState
from broker.server import Broker
from clients.errors import PublishError
from protocol.connection_types import ConnectionType
from tests.support.servers import serve_app

pytestmark = pytest.mark.anyio

Message = dict[str, Any]


class SecretKeeper:
    """Nobody but the server-side client may receive or send ``/secret``; handshakes need ``ext.token``."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []

    def authorize(self, attempt: Attempt) -> Verdict:
        self.attempts.append(attempt)
        if attempt.context.local:
            return None
        if attempt.operation is Operation.HANDSHAKE:
            return None if (attempt.message.get("ext") or {}).get("token") == "t" else Denied("Authentication required")
        if subscription_covers(attempt.channel, "/secret"):
            return Denied()
        return None


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Broker, SecretKeeper]]:
    keeper = SecretKeeper()
    app = create_app(timeout=2)
    broker: Broker = app.state.broker
    broker.add_authorizer(keeper)
    async with serve_app(app) as base:
        yield base + "/faye", broker, keeper


async def _post(http: httpx.AsyncClient, url: str, body: object) -> list[Message]:
    response = await http.post(url, json=body)
    assert response.status_code == 200
    replies: list[Message] = response.json()
    return replies


async def _handshake(http: httpx.AsyncClient, url: str) -> str:
    reply = (await _post(http, url, {"channel": "/meta/handshake", "version": "1.0", "ext": {"token": "t"},
                                     "supportedConnectionTypes": ["long-polling"]}))[0]
    assert reply["successful"] is True
    client_id: str = reply["clientId"]
    return client_id


async def test_a_denied_handshake_creates_no_session_and_advises_not_to_reconnect(
        served: tuple[str, Broker, SecretKeeper]) -> None:
    url, broker, _ = served
    async with httpx.AsyncClient(timeout=10) as http:
        reply = (await _post(http, url, {"channel": "/meta/handshake", "version": "1.0", "id": "h",
                                         "supportedConnectionTypes": ["long-polling"]}))[0]
    assert reply["successful"] is False
    assert reply["error"] == "403::Authentication required"
    assert reply["advice"] == {"reconnect": "none"}
    assert "clientId" not in reply
    stats = broker.statistics()
    assert stats.handshakes_denied == 1
    assert stats.engine.clients_created == 0


@pytest.mark.parametrize("subscription", ["/secret", ["/secret"], "/*", "/**", ["/ok", "/**"]])
async def test_every_form_of_subscription_that_would_receive_the_channel_is_denied(
        served: tuple[str, Broker, SecretKeeper], subscription: object) -> None:
    url, broker, _ = served
    async with httpx.AsyncClient(timeout=10) as http:
        client_id = await _handshake(http, url)
        reply = (await _post(http, url, {"channel": "/meta/subscribe", "clientId": client_id,
                                         "subscription": subscription}))[0]
        assert reply["successful"] is False
        assert reply["error"].startswith("403:/")
        assert reply["error"].endswith(":Forbidden channel")
        allowed = 1 if subscription == ["/ok", "/**"] else 0  # the channels before the denied one are kept
        assert await broker.engine.subscription_count(client_id) == allowed
        # and nothing published on /secret reaches this client
        await broker.publish("/secret", "s")
        await _post(http, url, {"channel": "/ok", "data": "marker"})
        replies = await _post(http, url, {"channel": "/meta/connect", "clientId": client_id,
                                          "connectionType": "long-polling"})
        assert [m["data"] for m in replies[1:]] == (["marker"] if allowed else [])


async def test_a_list_subscription_keeps_the_channels_before_the_denied_one(
        served: tuple[str, Broker, SecretKeeper]) -> None:
    url, broker, keeper = served
    async with httpx.AsyncClient(timeout=10) as http:
        client_id = await _handshake(http, url)
        keeper.attempts.clear()
        reply = (await _post(http, url, {"channel": "/meta/subscribe", "clientId": client_id,
                                         "subscription": ["/a", "/secret", "/b"]}))[0]
    assert reply["error"] == "403:/secret:Forbidden channel"
    assert reply["subscription"] == ["/a", "/secret", "/b"]
    assert [(a.operation, a.channel) for a in keeper.attempts] == [
        (Operation.SUBSCRIBE, "/a"), (Operation.SUBSCRIBE, "/secret")]
    assert await broker.engine.subscription_count(client_id) == 1


async def test_a_publish_without_a_session_is_denied_and_routes_nothing(
        served: tuple[str, Broker, SecretKeeper]) -> None:
    url, broker, keeper = served
    got: list[object] = []
    marker = asyncio.Event()

    def on_message(message: Any) -> None:
        got.append(message.data)
        if message.data == "marker":
            marker.set()

    await broker.client().subscribe("/secret", on_message)
    async with httpx.AsyncClient(timeout=10) as http:
        reply = (await _post(http, url, {"channel": "/secret", "data": "forged", "id": "p"}))[0]
        assert reply == {"id": "p", "channel": "/secret", "successful": False, "error": "403:/secret:Forbidden channel"}
    publish = [a for a in keeper.attempts if a.operation is Operation.PUBLISH and not a.context.local]
    assert publish[-1].client_id is None
    await broker.publish("/secret", "marker")  # the server-side client is asked too, and allowed
    await asyncio.wait_for(marker.wait(), 5)
    assert got == ["marker"]
    assert broker.statistics().denied >= 1


async def test_the_server_side_client_is_refused_like_any_client() -> None:
    class NoNews:
        def authorize(self, attempt: Attempt) -> Verdict:
            return Denied("Closed") if attempt.channel == "/news" else None

    broker = Broker(authorizers=[NoNews()])
    await broker.start()
    try:
        with pytest.raises(PublishError) as refused:
            await broker.publish("/news", 1)
        assert refused.value.error == "403:/news:Closed"
        assert refused.value.code == 403
    finally:
        await broker.close()


async def test_an_authorizer_bound_to_channels_is_asked_only_about_what_concerns_them() -> None:
    """Like CometD's channel authorizers: publishes the patterns match, subscribes that overlap them."""
    keeper = SecretKeeper()
    broker = Broker()
    broker.add_authorizer(keeper, "/secret", "/secret/**")
    context = Context(transport=ConnectionType.LONG_POLLING)
    await broker.start()
    try:
        handshake = {"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"]}
        (reply,) = await broker.process([handshake], RequestState(context))
        assert isinstance(reply, dict)
        assert reply["successful"] is True  # not asked: bound authorizers never see handshakes
        client_id = reply["clientId"]
        for subscription in ["/public", "/other/*", "/secret/a", "/*", "/**", "/secret/*"]:
            await broker.process([{"channel": "/meta/subscribe", "clientId": client_id,
                                   "subscription": subscription}], RequestState(context))
        for channel in ["/public", "/secret", "/secret/a/b", "/secretive"]:
            await broker.process([{"channel": channel, "data": 1}], RequestState(context))
    finally:
        await broker.close()
    asked = [(attempt.operation.value, attempt.channel) for attempt in keeper.attempts if not attempt.context.local]
    assert asked == [("subscribe", "/secret/a"), ("subscribe", "/*"), ("subscribe", "/**"),
                     ("subscribe", "/secret/*"), ("publish", "/secret"), ("publish", "/secret/a/b")]


def test_an_authorizer_needs_valid_channels() -> None:
    with pytest.raises(ValueError, match="not a channel"):
        Broker().add_authorizer(SecretKeeper(), "no-slash")
