"""The Python CometD client ``aiocometd-ng`` (import name ``aiocometd_ng``) against our broker.

aiocometd's ``open()`` waits for the reply to the first ``/meta/connect`` after the handshake; the
broker answers that one at once, so the client starts without waiting a whole timeout.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiocometd_ng as aiocometd
import pytest

from tests.support.servers import BrokerProcess

pytestmark = [
    pytest.mark.interop,
    pytest.mark.anyio,
    # aiocometd-ng 0.5.6 calls aiohttp with arguments aiohttp has deprecated; the warnings are
    # attributed to aiohttp.client, so the pyproject ignore for aiocometd.* does not catch them.
    pytest.mark.filterwarnings(
        "ignore:float parameter 'receive_timeout' is deprecated:DeprecationWarning:aiohttp.client"),
    pytest.mark.filterwarnings("ignore:ssl=None is deprecated:DeprecationWarning:aiohttp.client"),
]

CHANNEL = "/aiocometd/chat"


class WireLog(aiocometd.Extension):
    """Records every message the client sends and receives, for the failure report."""

    def __init__(self, name: str, log: list[tuple[str, str, dict[str, Any]]]) -> None:
        self.name = name
        self.log = log

    async def outgoing(self, payload: list[dict[str, Any]], headers: dict[str, Any]) -> None:
        self.log.extend((self.name, "out", dict(message)) for message in payload)

    async def incoming(self, payload: list[dict[str, Any]], headers: dict[str, Any] | None = None) -> None:
        self.log.extend((self.name, "in", dict(message)) for message in payload)


def transcript(log: list[tuple[str, str, dict[str, Any]]]) -> str:
    return "\n".join(f"{name} {direction} {message}" for name, direction, message in log)


@pytest.mark.parametrize("connection_type", ["websocket", "long-polling"])
async def test_subscribe_publish_receive(broker: BrokerProcess, connection_type: str) -> None:
    kind = aiocometd.ConnectionType(connection_type)
    log: list[tuple[str, str, dict[str, Any]]] = []
    started = time.monotonic()
    subscriber = aiocometd.Client(broker.url, [kind], connection_timeout=5, extensions=[WireLog("sub", log)])
    publisher = aiocometd.Client(broker.url, [kind], connection_timeout=5, extensions=[WireLog("pub", log)])
    try:
        async with asyncio.timeout(10):
            await subscriber.open()
            await publisher.open()
            assert subscriber.connection_type is kind
            assert publisher.connection_type is kind
            await subscriber.subscribe(CHANNEL)
            reply = await publisher.publish(CHANNEL, {"text": "from-pub", "n": 1})
            assert reply["successful"] is True, reply
            first = await subscriber.receive()
            await subscriber.publish(CHANNEL, {"text": "from-sub", "n": 2})
            second = await subscriber.receive()
    except TimeoutError:
        pytest.fail(f"aiocometd over {connection_type} stalled\n{transcript(log)}")
    finally:
        async with asyncio.timeout(10):
            await publisher.close()
            await subscriber.close()
    elapsed = time.monotonic() - started
    assert (first["channel"], first["data"]) == (CHANNEL, {"text": "from-pub", "n": 1}), transcript(log)
    assert (second["channel"], second["data"]) == (CHANNEL, {"text": "from-sub", "n": 2}), transcript(log)
    connects = [message for _, direction, message in log
                if direction == "out" and message["channel"] == "/meta/connect"]
    assert connects
    assert {message["connectionType"] for message in connects} == {connection_type}, connects
    # The broker is started with --timeout 2: a stalled first connect alone would take 2 s.
    assert elapsed < 2.0, f"took {elapsed:.2f} s\n{transcript(log)}"
