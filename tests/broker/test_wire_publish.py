"""docs/protocol.md §13 items 44-61: publishing and wildcard routing over POST-JSON."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.broker.wire import channel, drain, handshake, http_client, post, publish, session, subscribe
from tests.support.servers import BrokerProcess

pytestmark = pytest.mark.anyio


async def _route(broker: BrokerProcess, subscriptions: list[str], published: list[str]) -> list[str]:
    """Subscribe a fresh client, publish once to each channel, return the channels delivered."""
    async with http_client() as http:
        client_id = await session(http, broker.url)
        reply = await subscribe(http, broker.url, client_id, subscriptions)
        assert reply["successful"] is True, reply
        for name in published:
            assert (await publish(http, broker.url, name, name))["successful"] is True
        delivered = await drain(http, broker.url, client_id)
    for message in delivered:
        assert message["data"] == message["channel"]
    return [message["channel"] for message in delivered]


async def test_c44_publish_reply_has_no_data(broker: BrokerProcess) -> None:
    async with http_client() as http:
        replies = await post(http, broker.url, {"channel": "/foo", "data": {"x": 1}, "id": "p1"})
    assert replies == [{"id": "p1", "channel": "/foo", "successful": True}]


async def test_c45_publish_without_client_id_is_delivered(broker: BrokerProcess) -> None:
    name = channel("c45")
    async with http_client() as http:
        client_id = await session(http, broker.url, name)
        reply = await publish(http, broker.url, name, {"anon": True})
        delivered = await drain(http, broker.url, client_id)
    assert reply == {"channel": name, "successful": True}
    assert delivered == [{"channel": name, "data": {"anon": True}}]


async def test_c46_publish_with_unknown_client_id_succeeds_and_echoes_it(broker: BrokerProcess) -> None:
    name = channel("c46")
    async with http_client() as http:
        client_id = await session(http, broker.url, name)
        reply = await publish(http, broker.url, name, 46, clientId="ghost")
        delivered = await drain(http, broker.url, client_id)
    assert reply == {"clientId": "ghost", "channel": name, "successful": True}
    assert delivered == [{"channel": name, "data": 46}]


async def test_c47_publish_without_data_is_rejected(broker: BrokerProcess) -> None:
    name = channel("c47")
    async with http_client() as http:
        client_id = await session(http, broker.url, name)
        replies = await post(http, broker.url, {"channel": name, "id": "nodata"})
        delivered = await drain(http, broker.url, client_id)
    assert replies == [{"id": "nodata", "channel": name, "successful": False,
                        "error": "402:data:Missing required parameter"}]
    assert delivered == []


async def test_c47_falsy_data_is_published_unchanged(broker: BrokerProcess) -> None:
    name = channel("c47")
    payloads: list[Any] = [None, 0, False, ""]
    async with http_client() as http:
        client_id = await session(http, broker.url, name)
        replies = [await publish(http, broker.url, name, data) for data in payloads]
        delivered = await drain(http, broker.url, client_id)
    assert replies == [{"channel": name, "successful": True}] * len(payloads)
    assert delivered == [{"channel": name, "data": data} for data in payloads]
    assert [type(m["data"]) for m in delivered] == [type(data) for data in payloads]


async def test_c48_publish_to_a_pattern_is_invalid_and_not_delivered(broker: BrokerProcess) -> None:
    base = channel("c48")
    async with http_client() as http:
        client_id = await session(http, broker.url, f"{base}/*", f"{base}/**", "/**")
        reply = await publish(http, broker.url, f"{base}/*", "wild")
        delivered = await drain(http, broker.url, client_id)
    assert reply == {"channel": f"{base}/*", "successful": False, "error": f"405:{base}/*:Invalid channel"}
    assert delivered == []


async def test_c49_publish_to_meta_is_forbidden(broker: BrokerProcess) -> None:
    async with http_client() as http:
        replies = await post(http, broker.url, {"channel": "/meta/foo", "data": 1})
    assert replies == [{"channel": "/meta/foo", "successful": False, "error": "403:/meta/foo:Forbidden channel"}]


async def test_c50_meta_subscribe_prefix_is_forbidden_and_subscribes_nothing(broker: BrokerProcess) -> None:
    """CVE-2020-11020: ``/meta/subscribe/x`` must not be handled as ``/meta/subscribe``."""
    name = channel("c50")
    async with http_client() as http:
        client_id = await session(http, broker.url)
        replies = await post(http, broker.url, {"channel": "/meta/subscribe/x", "clientId": client_id,
                                                "subscription": name, "data": 1})
        await publish(http, broker.url, name, "must not arrive")
        delivered = await drain(http, broker.url, client_id)
    assert replies == [{"clientId": client_id, "channel": "/meta/subscribe/x", "successful": False,
                        "error": "403:/meta/subscribe/x:Forbidden channel"}]
    assert delivered == []


@pytest.mark.parametrize(
    ("message", "error"),
    [({"id": "n1"}, "402:data:Missing required parameter"), ({"id": "n2", "data": 1}, "405::Invalid channel")],
    ids=["without-data", "with-data"],
)
async def test_c51_publish_without_channel(broker: BrokerProcess, message: dict[str, Any], error: str) -> None:
    async with http_client() as http:
        replies = await post(http, broker.url, message)
    assert replies == [{"id": message["id"], "successful": False, "error": error}]


@pytest.mark.parametrize("name", ["/a.b", "/a b", "/", "//a", "/café", "/a/"])
async def test_c52_publish_to_an_invalid_name(broker: BrokerProcess, name: str) -> None:
    async with http_client() as http:
        replies = await post(http, broker.url, {"channel": name, "data": 1})
    assert replies == [{"channel": name, "successful": False, "error": f"405:{name}:Invalid channel"}]


async def test_c53_publisher_receives_its_own_message(broker: BrokerProcess) -> None:
    name = channel("c53")
    async with http_client() as http:
        client_id = await session(http, broker.url, name)
        reply = await publish(http, broker.url, name, "mine", clientId=client_id)
        delivered = await drain(http, broker.url, client_id)
    assert reply == {"clientId": client_id, "channel": name, "successful": True}
    assert delivered == [{"channel": name, "data": "mine"}]


async def test_c54_delivery_keeps_id_and_ext_and_drops_client_id(broker: BrokerProcess) -> None:
    name = channel("c54")
    async with http_client() as http:
        client_id = await session(http, broker.url, name)
        publisher = await handshake(http, broker.url)
        await publish(http, broker.url, name, {"x": 1}, id="p54", ext={"e": 1}, clientId=publisher)
        delivered = await drain(http, broker.url, client_id)
    assert delivered == [{"channel": name, "data": {"x": 1}, "id": "p54", "ext": {"e": 1}}]


async def test_c55_single_wildcard_matches_one_segment(broker: BrokerProcess) -> None:
    base = channel("c55")
    got = await _route(broker, [f"{base}/*"], [f"{base}/bar", f"{base}/bar/baz", base])
    assert got == [f"{base}/bar"]


async def test_c56_double_wildcard_matches_every_depth_below(broker: BrokerProcess) -> None:
    base = channel("c56")
    got = await _route(broker, [f"{base}/**"], [f"{base}/bar", f"{base}/bar/baz", base])
    assert got == [f"{base}/bar", f"{base}/bar/baz"]


async def test_c57_root_single_wildcard_matches_one_segment_channels(broker: BrokerProcess) -> None:
    base = channel("c57")
    got = await _route(broker, ["/*"], [base, f"{base}/bar"])
    assert got == [base]


async def test_c58_root_double_wildcard_receives_everything_including_service(broker: BrokerProcess) -> None:
    """faye behaviour, kept: a remote ``/**`` subscriber receives ``/service/...`` publishes."""
    base = channel("c58")
    service = f"/service/c58-{secrets.token_hex(4)}"
    got = await _route(broker, ["/**"], [base, f"{base}/a/b", service])
    assert got == [base, f"{base}/a/b", service]


async def test_c59_overlapping_subscriptions_deliver_once(broker: BrokerProcess) -> None:
    base = channel("c59")
    got = await _route(broker, [base, f"{base}/*", f"{base}/**", f"{base}/x", "/**"], [f"{base}/x"])
    assert got == [f"{base}/x"]


async def test_c60_publish_to_service_succeeds(broker: BrokerProcess) -> None:
    name = f"/service/c60-{secrets.token_hex(4)}"
    async with http_client() as http:
        replies = await post(http, broker.url, {"channel": name, "data": "svc", "id": "s60"})
    assert replies == [{"id": "s60", "channel": name, "successful": True}]


async def test_c61_custom_top_level_fields_are_forwarded(broker: BrokerProcess) -> None:
    name = channel("c61")
    async with http_client() as http:
        client_id = await session(http, broker.url, name)
        await publish(http, broker.url, name, 1, custom={"k": [1, 2]}, note="hi")
        delivered = await drain(http, broker.url, client_id)
    assert delivered == [{"channel": name, "data": 1, "custom": {"k": [1, 2]}, "note": "hi"}]


async def test_c61_advice_successful_and_client_id_are_stripped_deliberate(broker: BrokerProcess) -> None:
    """Deliberate difference: faye forwards ``advice`` and ``successful`` verbatim (§5.9 item 6).

    (A client-sent ``error`` blocks the publish, as in faye, so it cannot be checked here.)
    """
    name = channel("c61")
    async with http_client() as http:
        client_id = await session(http, broker.url, name)
        reply = await publish(http, broker.url, name, 2, custom=True, advice={"reconnect": "none"}, successful=True,
                              clientId=client_id)
        delivered = await drain(http, broker.url, client_id)
    assert reply["successful"] is True
    assert delivered == [{"channel": name, "data": 2, "custom": True}]
