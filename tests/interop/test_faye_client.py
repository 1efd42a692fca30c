"""The npm ``faye`` 1.4.3 Node client against our broker (docs/protocol.md §9, §13 items 114-116).

Each test runs ``tests/interop/js/faye_scenario.js`` with ``node`` against a broker started with the
real CLI, once over WebSocket and once with ``client.disable('websocket')`` (long-polling).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.interop.nodejs import NodeScenario, require_node_packages, run_scenario, scenario_result
from tests.support.servers import BrokerProcess, free_port, start_broker

pytestmark = pytest.mark.interop

SCRIPT = "faye_scenario.js"
TRANSPORTS = ["websocket", "long-polling"]


@pytest.fixture(autouse=True)
def _needs_faye() -> None:
    require_node_packages("faye")


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def datas(events: list[dict[str, Any]]) -> list[Any]:
    return [event["data"] for event in events]


def channels(events: list[dict[str, Any]]) -> list[str]:
    return [event["channel"] for event in events]


def assert_session_used(run: NodeScenario, client: str, transport: str) -> None:
    """The handshake succeeded, offered ``transport``, and every connect went over ``transport``."""
    handshakes = run.wire("in", client, "/meta/handshake")
    assert handshakes, run.transcript()
    assert handshakes[0]["successful"] is True, handshakes[0]
    assert transport in handshakes[0]["supportedConnectionTypes"], handshakes[0]
    connects = run.wire("out", client, "/meta/connect")
    assert connects, run.transcript()
    assert {message["connectionType"] for message in connects} == {transport}, connects
    connect_replies = run.wire("in", client, "/meta/connect")
    assert connect_replies, run.transcript()
    assert all(reply["successful"] is True for reply in connect_replies), connect_replies


def assert_replies_carry_no_data(run: NodeScenario, client: str) -> None:
    """§9.4: the client delivers anything with ``data`` to subscribers, replies included."""
    replies = [message for message in run.wire("in", client) if "successful" in message]
    assert replies
    assert [reply for reply in replies if "data" in reply] == []


def test_subscribe_publish_receive_and_disconnect(broker: BrokerProcess, transport: str) -> None:
    """Item 114/115: handshake, connect, subscribe, publish, receive (own and another client's), disconnect."""
    result, run = scenario_result(SCRIPT, broker.url, "pubsub", transport)
    for client in ("a", "b"):
        assert_session_used(run, client, transport)
        assert_replies_carry_no_data(run, client)
    assert datas(run.received("a")) == [{"text": "from-a", "n": 1}, {"text": "from-b", "n": 2}]
    assert channels(run.received("a")) == ["/interop/chat", "/interop/chat"]
    [subscribed] = run.wire("in", "a", "/meta/subscribe")
    assert subscribed["successful"] is True
    assert subscribed["subscription"] == "/interop/chat"
    assert result["disconnected"] is True
    for client in ("a", "b"):
        [reply] = run.wire("in", client, "/meta/disconnect")
        assert reply["successful"] is True, reply


def test_wildcard_subscriptions(broker: BrokerProcess, transport: str) -> None:
    """``/wild/*`` gets one segment below, ``/wild/**`` gets every depth, neither gets ``/other/x``."""
    _, run = scenario_result(SCRIPT, broker.url, "wildcards", transport)
    assert channels(run.received("one")) == ["/wild/x", "/wild/end"]
    assert channels(run.received("many")) == ["/wild/x", "/wild/x/y", "/wild/end"]
    assert datas(run.received("many")) == [{"to": "/wild/x"}, {"to": "/wild/x/y"}, {"to": "/wild/end"}]
    # What reached the wire, not only what the client's own routing let through.
    for client in ("one", "many"):
        delivered = [m["channel"] for m in run.wire("in", client) if "data" in m]
        assert "/other/x" not in delivered, delivered
    assert "/wild/x/y" not in [m["channel"] for m in run.wire("in", "one") if "data" in m]
    for client in ("one", "many", "pub"):
        assert_session_used(run, client, transport)


def test_unsubscribe_stops_delivery(broker: BrokerProcess, transport: str) -> None:
    """``subscription.cancel()`` sends /meta/unsubscribe; after it, the server delivers nothing more."""
    _, run = scenario_result(SCRIPT, broker.url, "unsubscribe", transport)
    [unsubscribe] = run.wire("out", "a", "/meta/unsubscribe")
    assert unsubscribe["subscription"] == "/unsub/topic"
    [reply] = run.wire("in", "a", "/meta/unsubscribe")
    assert reply["successful"] is True, reply
    assert reply["subscription"] == "/unsub/topic"
    assert datas(run.received("a", "/unsub/topic")) == [{"n": 1}]
    assert datas(run.received("a", "/unsub/sentinel")) == [{"n": 3}]
    on_wire = [m["data"] for m in run.wire("in", "a", "/unsub/topic") if "data" in m]
    assert on_wire == [{"n": 1}], "the server kept delivering after /meta/unsubscribe succeeded"


def test_client_extension_ext_reaches_other_subscribers(broker: BrokerProcess, transport: str) -> None:
    """An outgoing extension adds ``ext.token``; the published message keeps its ext through the server."""
    result, run = scenario_result(SCRIPT, broker.url, "extensions", transport)
    [published] = run.wire("out", "pub", "/ext/chan")
    assert published["ext"] == {"token": "secret-123"}
    [published_reply] = run.wire("in", "pub", "/ext/chan")
    assert published_reply["successful"] is True, published_reply
    delivered = [m for m in run.wire("in", "sub", "/ext/chan") if "data" in m]
    assert len(delivered) == 1, run.transcript()
    assert delivered[0]["data"] == {"text": "with token"}
    assert delivered[0].get("ext") == {"token": "secret-123"}, delivered[0]
    assert result["subIncomingExtensionSaw"] == ["/ext/chan"]
    assert datas(run.received("sub")) == [{"text": "with token"}]


# Item 116: the server forgets the client; the client re-handshakes by itself and its
# subscription keeps working.


def assert_recovered(run: NodeScenario, result: dict[str, Any], *, expect_401: bool) -> None:
    handshakes = [m for m in run.wire("in", "a", "/meta/handshake") if m.get("successful") is True]
    assert len(handshakes) >= 2, f"the client never handshook again\n{run.transcript()}"
    assert len({m["clientId"] for m in handshakes}) == len(handshakes), handshakes
    failed_connects = [m for m in run.wire("in", "a", "/meta/connect") if m.get("successful") is False]
    if expect_401:
        assert failed_connects, f"no failed /meta/connect seen\n{run.transcript()}"
        first = failed_connects[0]
        assert str(first.get("error", "")).startswith("401:"), first
        assert first.get("advice", {}).get("reconnect") == "handshake", first
        assert "clientId" not in first, first
    for failed in failed_connects:
        assert failed.get("advice", {}).get("reconnect") == "handshake", failed
    # The subscription was renewed under the new client id, and it receives new publishes.
    new_id = handshakes[-1]["clientId"]
    renewed = [m for m in run.wire("in", "a", "/meta/subscribe")
               if m.get("clientId") == new_id and m.get("successful") is True]
    assert [m["subscription"] for m in renewed] == ["/recover/topic"], run.transcript()
    phases = [event["data"]["phase"] for event in run.received("a")]
    assert phases[0] == "before"
    assert "after" in phases
    assert result["publishesAfter"] >= 1


@pytest.fixture
def recovery_port() -> int:
    return free_port()


@pytest.fixture
def restartable(recovery_port: int) -> Iterator[list[BrokerProcess]]:
    """Brokers started one after another on the same port with ``--timeout 1``; all stopped at the end."""
    brokers = [start_broker("--port", str(recovery_port), "--timeout", "1")]
    yield brokers
    for process in brokers:
        process.stop()


def test_recovers_after_broker_restart(restartable: list[BrokerProcess], recovery_port: int, transport: str) -> None:
    """The broker restarts on the same port and forgets every client (the memory engine is gone)."""
    url = restartable[0].url
    assert f":{recovery_port}/" in url
    with run_scenario(SCRIPT, url, "recovery", transport, deadline=25) as run:
        run.wait_for(lambda e: e.get("event") == "step" and e.get("name") == "waiting")
        restartable[0].stop()
        restartable.append(start_broker("--port", str(recovery_port), "--timeout", "1"))
        assert restartable[-1].url == url
        run.send_line("restarted")
        result = run.finish(30)
    assert result.get("ok") is True, f"{result.get('error')}\n{run.transcript()}"
    assert_recovered(run, result, expect_401=False)
    assert_session_used(run, "after", transport)


def test_recovers_after_session_expiry(transport: str) -> None:
    """The client stops connecting for longer than 2T (its process is frozen), so the broker reaps it.

    On waking, its next /meta/connect gets ``401:<id>:Unknown client`` with ``advice.reconnect =
    "handshake"``; the client must handshake again and re-subscribe on its own.
    """
    broker = start_broker("--timeout", "1")
    try:
        with run_scenario(SCRIPT, broker.url, "recovery", transport, deadline=25) as run:
            run.wait_for(lambda e: e.get("event") == "step" and e.get("name") == "waiting")
            run.pause()
            try:
                # 2T = 2 s without a new connect reaps the client; the held connect adds up to T.
                time.sleep(4.5)
            finally:
                run.resume()
            run.send_line("resumed")
            result = run.finish(30)
    finally:
        broker.stop()
    assert result.get("ok") is True, f"{result.get('error')}\n{run.transcript()}"
    assert_recovered(run, result, expect_401=True)
