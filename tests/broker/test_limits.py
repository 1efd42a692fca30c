"""Every input is bounded (docs/architecture.md §4): body, frame, batch, message, channel, subscriptions, queue.

One broker for the module, started with the real CLI and small limits so the run stays fast.
After each overflow the server keeps serving everyone else.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import anyio
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.broker.test_bad_input import (
    Message,
    assert_handshake_works,
    assert_http_error,
    assert_round_trip,
    bayeux,
    connect_now,
    handshake,
    subscribe,
    unique,
    ws_exchange,
    ws_url,
)
from tests.support.servers import BrokerProcess, start_broker

MAX_BODY = 4096
MAX_MESSAGE = 1024
MAX_BATCH = 20
MAX_CHANNEL = 64
MAX_SUBSCRIPTIONS = 5
MAX_QUEUE = 20


@pytest.fixture(scope="module")
def limited() -> Iterator[BrokerProcess]:
    process = start_broker(
        "--timeout", "2",
        "--max-body-bytes", str(MAX_BODY),
        "--max-message-bytes", str(MAX_MESSAGE),
        "--max-batch-messages", str(MAX_BATCH),
        "--max-channel-length", str(MAX_CHANNEL),
        "--max-subscriptions", str(MAX_SUBSCRIPTIONS),
        "--max-queue", str(MAX_QUEUE),
    )
    yield process
    process.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def padded_batch(size: int) -> bytes:
    """A valid JSON batch (two handshakes) padded with whitespace to exactly ``size`` bytes."""
    body = json.dumps([{"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"]}]
                      * 2).encode()
    assert len(body) <= size
    return body[:-1] + b" " * (size - len(body)) + b"]"


# -- body size ---------------------------------------------------------------------------------


def test_body_at_the_limit_is_accepted(limited: BrokerProcess, http: httpx.Client) -> None:
    body = padded_batch(MAX_BODY)
    assert len(body) == MAX_BODY
    response = http.post(limited.url, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert [r["successful"] for r in response.json()] == [True, True]


@pytest.mark.parametrize("size", [MAX_BODY + 1, 5 * MAX_BODY, 2_000_000])
def test_body_over_the_limit_with_content_length_is_413(limited: BrokerProcess, http: httpx.Client, size: int) -> None:
    body = padded_batch(size)
    response = http.post(limited.url, content=body, headers={"Content-Type": "application/json"})
    assert "content-length" in response.request.headers
    assert_http_error(response, 413, bad_request=False)
    assert_handshake_works(limited.url)


def test_form_body_over_the_limit_is_413(limited: BrokerProcess, http: httpx.Client) -> None:
    body = b"message=" + padded_batch(MAX_BODY + 10)
    response = http.post(limited.url, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_http_error(response, 413, bad_request=False)
    assert_handshake_works(limited.url)


@pytest.mark.parametrize("size", [MAX_BODY + 1, 50 * MAX_BODY])
def test_chunked_body_over_the_limit_is_413(limited: BrokerProcess, http: httpx.Client, size: int) -> None:
    body = padded_batch(size)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 1000):
            yield body[start:start + 1000]

    response = http.post(limited.url, content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert_http_error(response, 413, bad_request=False)
    assert_handshake_works(limited.url)


def test_chunked_body_within_the_limit_is_accepted(limited: BrokerProcess, http: httpx.Client) -> None:
    body = padded_batch(MAX_BODY)

    def chunks() -> Iterator[bytes]:
        yield body[:100]
        yield body[100:]

    response = http.post(limited.url, content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert [r["successful"] for r in response.json()] == [True, True]


def test_lying_content_length_is_not_trusted(limited: BrokerProcess) -> None:
    """A small Content-Length followed by more bytes must not let a big body through."""
    import socket

    host, port = limited.url.split("//", 1)[1].split("/", 1)[0].split(":")
    body = padded_batch(MAX_BODY * 3)
    head = (f"POST /faye HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: 10\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line = data.split(b"\r\n", 1)[0]
    # the first 10 bytes are not JSON: a 400; never a 500 and never the whole body processed
    assert status_line.split()[1] in (b"400", b"413"), data[:300]
    assert_handshake_works(limited.url)


def test_jsonp_message_over_the_limit_is_413(limited: BrokerProcess, http: httpx.Client) -> None:
    message = padded_batch(MAX_BODY + 1).decode()
    response = http.get(limited.url, params={"message": message, "jsonp": "cb"})
    assert_http_error(response, 413, bad_request=False)
    ok = http.get(limited.url, params={"message": padded_batch(1000).decode(), "jsonp": "cb"})
    assert ok.status_code == 200, ok.text
    assert ok.text.startswith("/**/cb([")
    assert_handshake_works(limited.url)


@pytest.mark.anyio
async def test_websocket_frame_over_the_limit_closes_that_socket_only(limited: BrokerProcess) -> None:
    hs = {"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["websocket"]}
    with anyio.fail_after(20):
        async with connect(ws_url(limited.url), ping_interval=None, close_timeout=2) as bystander, \
                connect(ws_url(limited.url), ping_interval=None, close_timeout=2, max_size=None) as victim:
            assert (await ws_exchange(victim, [hs]))[0]["successful"] is True
            assert (await ws_exchange(bystander, [hs]))[0]["successful"] is True
            await victim.send(padded_batch(MAX_BODY + 100).decode())
            with pytest.raises(ConnectionClosed) as closed:
                await victim.recv()
            assert closed.value.rcvd is not None, "the server did not send a close frame"
            assert closed.value.rcvd.code == 1009, closed.value
            # the other socket and HTTP are unaffected
            assert (await ws_exchange(bystander, [hs]))[0]["successful"] is True
        async with connect(ws_url(limited.url), ping_interval=None, close_timeout=2) as fresh:
            await fresh.send(padded_batch(MAX_BODY).decode())
            replies = await _recv(fresh)
            assert [r["successful"] for r in replies] == [True, True]
    assert_handshake_works(limited.url)


async def _recv(ws: ClientConnection) -> list[Message]:
    with anyio.fail_after(5):
        frame = await ws.recv()
    messages: list[Message] = json.loads(frame)
    return messages


# -- batch length --------------------------------------------------------------------------------


def test_batch_at_the_limit_is_processed(limited: BrokerProcess, http: httpx.Client) -> None:
    replies = bayeux(http, limited.url, [{"channel": "/batch/ok", "data": i, "id": str(i)} for i in range(MAX_BATCH)])
    assert [r["id"] for r in replies] == [str(i) for i in range(MAX_BATCH)]
    assert all(r["successful"] for r in replies), replies


@pytest.mark.parametrize("count", [MAX_BATCH + 1, 500])
def test_batch_over_the_limit_is_400(limited: BrokerProcess, http: httpx.Client, count: int) -> None:
    client_id = handshake(http, limited.url)
    channel = unique("/batch")
    subscribe(http, limited.url, client_id, channel)
    batch = [{}] * (count - 1) + [{"channel": channel, "data": "must not be published"}]
    response = http.post(limited.url, content=json.dumps(batch).encode(), headers={"Content-Type": "application/json"})
    assert_http_error(response, 400)
    # nothing in the rejected batch was processed
    bayeux(http, limited.url, [{"channel": channel, "data": "marker"}])
    assert [m["data"] for m in connect_now(http, limited.url, client_id)] == ["marker"]


def test_jsonp_batch_over_the_limit_is_400(limited: BrokerProcess, http: httpx.Client) -> None:
    response = http.get(limited.url, params={"message": json.dumps([{}] * (MAX_BATCH + 1))})
    assert_http_error(response, 400)


# -- message size ---------------------------------------------------------------------------------


def test_message_over_the_limit_is_refused_and_not_delivered(limited: BrokerProcess, http: httpx.Client) -> None:
    client_id = handshake(http, limited.url)
    channel = unique("/big")
    assert subscribe(http, limited.url, client_id, channel)["successful"] is True
    replies = bayeux(http, limited.url, [{"channel": channel, "data": "x" * (2 * MAX_MESSAGE), "id": "big"},
                                         {"channel": channel, "data": "small", "id": "small"}])
    assert replies[0]["id"] == "big", replies
    assert replies[0]["channel"] == channel, replies
    assert replies[0]["successful"] is False, replies
    assert replies[0]["error"] == f"413:{channel}:Message too large", replies
    assert replies[1] == {"id": "small", "channel": channel, "successful": True}, replies
    delivered = connect_now(http, limited.url, client_id)
    assert [m["data"] for m in delivered] == ["small"], "the refused message was delivered"


def test_message_size_counts_every_field(limited: BrokerProcess, http: httpx.Client) -> None:
    """A big ``ext`` (forwarded to subscribers) counts as much as big ``data``."""
    channel = unique("/big")
    reply = bayeux(http, limited.url, [{"channel": channel, "data": 1, "ext": {"pad": "y" * (2 * MAX_MESSAGE)}}])[0]
    assert reply["successful"] is False, reply
    assert reply["error"] == f"413:{channel}:Message too large", reply


def test_message_within_the_limit_is_delivered(limited: BrokerProcess, http: httpx.Client) -> None:
    client_id = handshake(http, limited.url)
    channel = unique("/big")
    subscribe(http, limited.url, client_id, channel)
    data = "z" * (MAX_MESSAGE // 2)
    assert bayeux(http, limited.url, [{"channel": channel, "data": data}])[0]["successful"] is True
    assert [m["data"] for m in connect_now(http, limited.url, client_id)] == [data]


@pytest.mark.anyio
async def test_message_over_the_limit_over_websocket(limited: BrokerProcess) -> None:
    channel = unique("/big")
    with anyio.fail_after(10):
        async with connect(ws_url(limited.url), ping_interval=None, close_timeout=2) as ws:
            replies = await ws_exchange(ws, [{"channel": channel, "data": "x" * (2 * MAX_MESSAGE), "id": "w"}])
    assert len(replies) == 1, replies
    assert replies[0]["successful"] is False, replies
    assert replies[0]["error"] == f"413:{channel}:Message too large", replies


# -- channel length -------------------------------------------------------------------------------

LONG = "/" + "a" * MAX_CHANNEL  # MAX_CHANNEL + 1 characters
AT_LIMIT = "/" + "b" * (MAX_CHANNEL - 1)


def test_publish_to_a_channel_over_the_limit_is_405(limited: BrokerProcess, http: httpx.Client) -> None:
    replies = bayeux(http, limited.url, [{"channel": LONG, "data": 1, "id": "long"},
                                         {"channel": "/" + "c" * 1000 + "/x", "data": 1, "id": "longer"}])
    for reply in replies:
        assert reply["successful"] is False, reply
        assert reply["error"] == "405::Invalid channel", reply
    ok = bayeux(http, limited.url, [{"channel": AT_LIMIT, "data": 1}])[0]
    assert ok["successful"] is True, ok


@pytest.mark.parametrize("meta", ["/meta/subscribe", "/meta/unsubscribe"])
def test_subscribe_to_a_channel_over_the_limit_is_405(limited: BrokerProcess, http: httpx.Client, meta: str) -> None:
    client_id = handshake(http, limited.url)
    for subscription in (LONG, LONG + "/*", LONG[:-1] + "/**"):
        reply = bayeux(http, limited.url, [{"channel": meta, "clientId": client_id, "subscription": subscription}])[0]
        assert reply["successful"] is False, reply
        assert reply["error"] == "405::Invalid channel", reply
        assert reply["subscription"] == subscription, reply


def test_subscribe_list_with_a_long_channel_keeps_the_earlier_ones(limited: BrokerProcess, http: httpx.Client) -> None:
    client_id = handshake(http, limited.url)
    reply = subscribe(http, limited.url, client_id, [AT_LIMIT, LONG])
    assert reply["successful"] is False, reply
    assert reply["error"] == "405::Invalid channel", reply
    bayeux(http, limited.url, [{"channel": AT_LIMIT, "data": "kept"}])
    assert "kept" in [m["data"] for m in connect_now(http, limited.url, client_id)]


# -- subscriptions per client ---------------------------------------------------------------------


def test_subscriptions_past_the_limit_are_refused(limited: BrokerProcess, http: httpx.Client) -> None:
    client_id = handshake(http, limited.url)
    base = unique("/subs")
    channels = [f"{base}/{i}" for i in range(MAX_SUBSCRIPTIONS + 1)]
    for channel in channels[:MAX_SUBSCRIPTIONS]:
        assert subscribe(http, limited.url, client_id, channel)["successful"] is True
    extra = channels[MAX_SUBSCRIPTIONS]
    reply = subscribe(http, limited.url, client_id, extra)
    assert reply == {"clientId": client_id, "channel": "/meta/subscribe", "successful": False,
                     "error": f"403:{extra}:Too many subscriptions", "subscription": extra}
    # the earlier subscriptions stay; the refused one was not made
    batch = [{"channel": channel, "data": channel} for channel in channels]
    assert all(r["successful"] for r in bayeux(http, limited.url, batch))
    assert [m["data"] for m in connect_now(http, limited.url, client_id)] == channels[:MAX_SUBSCRIPTIONS]
    # unsubscribing frees a slot
    reply = bayeux(http, limited.url, [{"channel": "/meta/unsubscribe", "clientId": client_id,
                                        "subscription": channels[0]}])[0]
    assert reply["successful"] is True, reply
    assert subscribe(http, limited.url, client_id, extra)["successful"] is True


def test_subscription_list_crossing_the_limit(limited: BrokerProcess, http: httpx.Client) -> None:
    client_id = handshake(http, limited.url)
    base = unique("/list")
    channels = [f"{base}/{i}" for i in range(MAX_SUBSCRIPTIONS + 3)]
    reply = subscribe(http, limited.url, client_id, channels)
    assert reply["successful"] is False, reply
    assert reply["error"] == f"403:{channels[MAX_SUBSCRIPTIONS]}:Too many subscriptions", reply
    assert reply["subscription"] == channels, reply
    bayeux(http, limited.url, [{"channel": channel, "data": channel} for channel in channels])
    assert [m["data"] for m in connect_now(http, limited.url, client_id)] == channels[:MAX_SUBSCRIPTIONS]


def test_thousands_of_subscription_attempts_do_not_hurt(limited: BrokerProcess, http: httpx.Client) -> None:
    client_id = handshake(http, limited.url)
    base = unique("/many")
    kept = [f"{base}/kept{i}" for i in range(MAX_SUBSCRIPTIONS)]
    assert subscribe(http, limited.url, client_id, kept)["successful"] is True
    started = time.monotonic()
    attempts = 0
    for round_ in range(150):
        if round_ % 20 == 0:  # keep the client alive: only connects count as activity (faye §5.2)
            bayeux(http, limited.url, [{"channel": "/meta/connect", "clientId": client_id,
                                        "connectionType": "long-polling", "advice": {"timeout": 0}}])
        batch = [{"channel": "/meta/subscribe", "clientId": client_id, "subscription": f"{base}/r{round_}m{i}"}
                 for i in range(MAX_BATCH)]
        replies = bayeux(http, limited.url, batch)
        attempts += len(batch)
        assert len(replies) == MAX_BATCH, replies
        for reply, sent in zip(replies, batch, strict=True):
            assert reply["successful"] is False, reply
            assert reply["error"] == f"403:{sent['subscription']}:Too many subscriptions", reply
    # one message asking for many channels at once
    many = [f"/w{i}" for i in range(300)]
    reply = subscribe(http, limited.url, client_id, many)
    assert reply["error"] == "403:/w0:Too many subscriptions", reply
    assert attempts == 3000
    elapsed = time.monotonic() - started
    assert elapsed < 30, f"3000 refused subscriptions took {elapsed:.1f}s"
    # the server is still quick, the kept subscriptions still deliver and nothing else was added
    t0 = time.monotonic()
    assert_handshake_works(limited.url)
    assert time.monotonic() - t0 < 2
    batch = [{"channel": kept[0], "data": "kept"}, {"channel": f"{base}/r0m0", "data": "refused"},
             {"channel": "/w0", "data": "refused"}]
    bayeux(http, limited.url, batch)
    assert [m["data"] for m in connect_now(http, limited.url, client_id)] == ["kept"]
    # the limit is per client: another client can still subscribe
    other = handshake(http, limited.url)
    assert subscribe(http, limited.url, other, kept[0])["successful"] is True


# -- queue length per client ----------------------------------------------------------------------


def _publish_many(http: httpx.Client, url: str, channel: str, count: int, start: int = 0) -> None:
    for first in range(start, start + count, MAX_BATCH):
        batch = [{"channel": channel, "data": n} for n in range(first, min(first + MAX_BATCH, start + count))]
        replies = bayeux(http, url, batch)
        assert all(r["successful"] for r in replies), replies


def test_queue_at_the_limit_is_kept(limited: BrokerProcess, http: httpx.Client) -> None:
    client_id = handshake(http, limited.url)
    channel = unique("/queue")
    subscribe(http, limited.url, client_id, channel)
    _publish_many(http, limited.url, channel, MAX_QUEUE)
    assert [m["data"] for m in connect_now(http, limited.url, client_id)] == list(range(MAX_QUEUE))


def test_queue_overflow_disconnects_only_that_client(limited: BrokerProcess, http: httpx.Client) -> None:
    slow = handshake(http, limited.url)
    fast = handshake(http, limited.url)
    channel = unique("/queue")
    assert subscribe(http, limited.url, slow, channel)["successful"] is True
    assert subscribe(http, limited.url, fast, channel)["successful"] is True
    _publish_many(http, limited.url, channel, MAX_QUEUE // 2)
    assert [m["data"] for m in connect_now(http, limited.url, fast)] == list(range(MAX_QUEUE // 2))
    # slow never connects: MAX_QUEUE + 5 messages for it, only MAX_QUEUE // 2 + 5 for fast
    _publish_many(http, limited.url, channel, MAX_QUEUE // 2 + 5, start=MAX_QUEUE // 2)
    time.sleep(0.1)
    replies = bayeux(http, limited.url, [{"channel": "/meta/connect", "clientId": slow,
                                          "connectionType": "long-polling", "id": "slow"}])
    assert replies == [{"id": "slow", "channel": "/meta/connect", "successful": False,
                        "error": f"401:{slow}:Unknown client", "advice": {"reconnect": "handshake"}}]
    # its subscriptions are gone too
    reply = subscribe(http, limited.url, slow, channel)
    assert reply["error"] == f"401:{slow}:Unknown client", reply
    # the other client keeps working and got every message
    delivered = connect_now(http, limited.url, fast)
    assert [m["data"] for m in delivered] == list(range(MAX_QUEUE // 2, MAX_QUEUE + 5))
    bayeux(http, limited.url, [{"channel": channel, "data": "after"}])
    assert [m["data"] for m in connect_now(http, limited.url, fast)] == ["after"]
    assert_round_trip(limited.url)


@pytest.mark.anyio
async def test_queue_overflow_of_a_held_long_poll_client(limited: BrokerProcess) -> None:
    """A client whose connect is held receives messages at once; it is never over the limit."""
    async with httpx.AsyncClient(timeout=10) as http:
        hs = await _apost(http, limited.url, {"channel": "/meta/handshake", "version": "1.0",
                                             "supportedConnectionTypes": ["long-polling"]})
        client_id = hs[0]["clientId"]
        channel = unique("/held")
        await _apost(http, limited.url, {"channel": "/meta/subscribe", "clientId": client_id, "subscription": channel})
        await _apost(http, limited.url, {"channel": "/meta/connect", "clientId": client_id,
                                         "connectionType": "long-polling", "advice": {"timeout": 0}})
        got: list[object] = []
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:

                async def poll() -> None:
                    while len(got) < (2 * MAX_QUEUE + 5):
                        replies = await _apost(http, limited.url, {"channel": "/meta/connect", "clientId": client_id,
                                                                   "connectionType": "long-polling"})
                        assert replies[0]["successful"] is True, replies
                        got.extend(m["data"] for m in replies[1:])

                tg.start_soon(poll)
                for n in range(2 * MAX_QUEUE + 5):
                    await _apost(http, limited.url, {"channel": channel, "data": n})
                    await anyio.sleep(0.01)
        assert got == list(range(2 * MAX_QUEUE + 5))


async def _apost(http: httpx.AsyncClient, url: str, message: Message) -> list[Message]:
    response = await http.post(url, json=[message])
    assert response.status_code == 200, response.text
    replies: list[Message] = response.json()
    return replies


# -- last: still healthy --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_zz_round_trip_after_all_limits(limited: BrokerProcess) -> None:
    assert limited.process.poll() is None, "the broker process died"
    await anyio.to_thread.run_sync(assert_round_trip, limited.url)
    channel = unique("/ws/rt")
    with anyio.fail_after(15):
        async with connect(ws_url(limited.url), ping_interval=None, close_timeout=2) as ws:
            hs = await ws_exchange(ws, [{"channel": "/meta/handshake", "version": "1.0",
                                         "supportedConnectionTypes": ["websocket"]}])
            client_id = hs[0]["clientId"]
            sub = await ws_exchange(ws, [{"channel": "/meta/subscribe", "clientId": client_id,
                                          "subscription": channel}])
            assert sub[0]["successful"] is True, sub
            await ws.send(json.dumps([{"channel": "/meta/connect", "clientId": client_id,
                                       "connectionType": "websocket", "advice": {"timeout": 0}}]))
            await ws.send(json.dumps([{"channel": channel, "data": "over ws", "id": "p"}]))
            seen: list[Message] = []
            # the delivered copy keeps the publisher's id too, so wait for the reply itself
            while not (any(m.get("data") == "over ws" for m in seen)
                       and any(m.get("id") == "p" and "successful" in m for m in seen)):
                seen.extend(await _recv(ws))
            assert next(m for m in seen if m.get("id") == "p" and "successful" in m)["successful"] is True
