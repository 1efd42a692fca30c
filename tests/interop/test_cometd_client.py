"""The CometD JavaScript client (npm ``cometd`` + ``cometd-nodejs-client``) against our broker.

CometD opens with ``/meta/connect`` carrying ``advice: {timeout: 0}`` and expects the broker to
answer it at once; after that it holds connects like any Bayeux client.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.interop.nodejs import require_node_packages, scenario_result
from tests.support.servers import BrokerProcess

pytestmark = pytest.mark.interop

SCRIPT = "cometd_scenario.mjs"


@pytest.fixture(autouse=True)
def _needs_cometd() -> None:
    require_node_packages("cometd", "cometd-nodejs-client")


def transport_of(events: list[dict[str, Any]], client: str) -> str:
    [event] = [e for e in events if e.get("event") == "transport" and e.get("client") == client]
    return str(event["type"])


@pytest.mark.parametrize("transport", ["websocket", "long-polling"])
def test_handshake_subscribe_publish_receive(broker: BrokerProcess, transport: str) -> None:
    result, run = scenario_result(SCRIPT, broker.url, "pubsub", transport, deadline=15)
    for client in ("a", "b"):
        [handshake] = run.wire("in", client, "/meta/handshake")
        assert handshake["successful"] is True, handshake
        assert transport in handshake["supportedConnectionTypes"], handshake
        assert transport_of(run.events, client) == transport
        connects = run.wire("out", client, "/meta/connect")
        assert {message["connectionType"] for message in connects} == {transport}, connects
        assert all(reply["successful"] is True for reply in run.wire("in", client, "/meta/connect"))
        [disconnect] = run.wire("in", client, "/meta/disconnect")
        assert disconnect["successful"] is True, disconnect
    [subscribed] = run.wire("in", "a", "/meta/subscribe")
    assert subscribed["successful"] is True
    assert subscribed["subscription"] == "/cometd/chat"
    received = run.received("a")
    assert [event["data"] for event in received] == [{"text": "from-a", "n": 1}, {"text": "from-b", "n": 2}]
    assert {event["channel"] for event in received} == {"/cometd/chat"}
    assert result["disconnected"] is True
    # "Within a few seconds of starting": the whole run, two handshakes included.
    assert result["t"] < 5000, run.transcript()
