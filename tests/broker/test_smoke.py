"""A first end-to-end check over loopback: handshake, subscribe, publish, receive."""

from __future__ import annotations

import httpx

from tests.support.servers import BrokerProcess


def test_long_polling_round_trip(broker: BrokerProcess) -> None:
    with httpx.Client(timeout=10) as http:
        hs = http.post(broker.url, json={"channel": "/meta/handshake", "version": "1.0",
                                         "supportedConnectionTypes": ["long-polling"]}).json()[0]
        client_id = hs["clientId"]
        sub = http.post(broker.url, json={"channel": "/meta/subscribe", "clientId": client_id,
                                          "subscription": "/smoke"}).json()
        assert sub == [{"clientId": client_id, "channel": "/meta/subscribe", "successful": True,
                        "subscription": "/smoke"}]
        pub = http.post(broker.url, json={"channel": "/smoke", "data": {"n": 1}, "id": "p"}).json()
        assert pub == [{"id": "p", "channel": "/smoke", "successful": True}]
        replies = http.post(broker.url, json={"channel": "/meta/connect", "clientId": client_id,
                                              "connectionType": "long-polling"}).json()
        assert replies[0]["successful"] is True
        assert replies[1:] == [{"channel": "/smoke", "data": {"n": 1}, "id": "p"}]
