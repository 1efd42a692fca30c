"""A long-poll whose HTTP client goes away takes nothing from the queue (differences-from-faye.md #8)."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest

from tests.support.servers import BrokerProcess

pytestmark = pytest.mark.anyio


async def test_messages_published_after_the_poller_left_wait_for_its_next_connect(broker: BrokerProcess) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        hs = (await http.post(broker.url, json={"channel": "/meta/handshake", "version": "1.0",
                                                "supportedConnectionTypes": ["long-polling"]})).json()[0]
        client_id = hs["clientId"]
        await http.post(broker.url, json={"channel": "/meta/subscribe", "clientId": client_id, "subscription": "/gone"})
        first = await http.post(broker.url, json={"channel": "/meta/connect", "clientId": client_id,
                                                  "connectionType": "long-polling"})
        assert first.json()[0]["successful"] is True  # the first connect is answered at once

        # a raw connection sends a held connect and then closes without reading the answer
        host, port = broker.url.split("//")[1].split("/")[0].split(":")
        body = json.dumps({"channel": "/meta/connect", "clientId": client_id, "connectionType": "long-polling"})
        raw = socket.create_connection((host, int(port)))
        raw.sendall((f"POST /faye HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n{body}").encode())
        await asyncio.sleep(0.3)
        raw.close()
        await asyncio.sleep(0.3)

        await http.post(broker.url, json={"channel": "/gone", "data": "kept"})
        replies = (await http.post(broker.url, json={"channel": "/meta/connect", "clientId": client_id,
                                                     "connectionType": "long-polling"})).json()
        assert replies[0]["successful"] is True
        assert [m["data"] for m in replies[1:]] == ["kept"]
