"""The Python client against the real faye 1.4.3 Node server (tests/interop/js/faye_python_peer.js):
it must work with any faye server, not only ours. Over WebSocket and long-polling."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from clients import PublishError, SubscribeError
from tests.clients.support import (
    TRANSPORTS,
    AddToken,
    connected_client,
    faye_server,
    next_message,
    no_message,
    wait_until,
)

pytestmark = [pytest.mark.anyio, pytest.mark.interop]


@pytest.fixture(scope="module")
def faye_url() -> Iterator[str]:
    with faye_server() as url:
        yield url


@pytest.fixture(params=list(TRANSPORTS))
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_publish_subscribe_and_wildcards_against_faye(faye_url: str, transport: str) -> None:
    async with connected_client(faye_url, transport) as alice, connected_client(faye_url, transport) as bob:
        assert alice.connection_type == transport
        exact = await bob.subscribe("/faye/chat")
        one = await bob.subscribe("/faye/*")
        deep = await bob.subscribe("/faye/**")
        reply = await alice.publish("/faye/chat", {"text": "hello"})
        assert reply["successful"] is True
        await alice.publish("/faye/chat/deep", 2)
        assert (await next_message(exact)).data == {"text": "hello"}
        assert (await next_message(one)).data == {"text": "hello"}
        assert [(await next_message(deep)).data for _ in range(2)] == [{"text": "hello"}, 2]
        assert await no_message(one)


async def test_faye_refusals_raise_typed_errors(faye_url: str, transport: str) -> None:
    async with connected_client(faye_url, transport) as client:
        with pytest.raises(PublishError) as publish:
            await client.publish("/faye/*", 1)
        assert publish.value.error == "405:/faye/*:Invalid channel"
        with pytest.raises(SubscribeError) as subscribe:
            await client.subscribe("/meta/foo")
        assert subscribe.value.code == 403
        with pytest.raises(SubscribeError) as private:
            await client.subscribe("/private/box")
        assert private.value.error == "403::Authentication required"


async def test_outgoing_extension_authenticates_against_a_faye_extension(faye_url: str, transport: str) -> None:
    async with connected_client(faye_url, transport, extensions=[AddToken()]) as client:
        box = await client.subscribe("/private/box")
        await client.publish("/private/box", "secret stuff")
        message = await next_message(box)
        assert message.data == "secret stuff"
        assert message.ext == {"token": "secret"}


async def test_rehandshake_when_faye_forgets_the_client(faye_url: str, transport: str) -> None:
    async with connected_client(faye_url, transport) as client:
        subscription = await client.subscribe("/faye/again")
        old_id = client.client_id
        async with httpx.AsyncClient() as http:
            reply = (await http.post(faye_url, json={"channel": "/meta/disconnect", "clientId": old_id})).json()
        assert reply[0]["successful"] is True
        await wait_until(lambda: client.client_id not in (None, old_id))
        await wait_until(lambda: "/faye/again" in client.session._confirmed)
        await client.publish("/faye/again", "back")
        assert (await next_message(subscription)).data == "back"
