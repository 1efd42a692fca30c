"""Every transport a faye page can pick, in Chromium, against the broker (issue 5).

Each row loads a client script in two harness pages and checks: subscribe, publish from a
page, delivery to the other page and from a server-side publish, a wildcard subscription,
unsubscribe, and that both pages keep receiving, without a reload, after the broker restarts
on the same port (faye: 401 + ``reconnect: handshake`` on the next connect, re-handshake,
re-subscribe). The transport is proven three ways: the client's own ``connectionType``, the
``/meta/connect`` messages the broker saw (and how they arrived), and Chromium's network log.

The same matrix runs with the real faye 1.4.3 browser bundle and with our ``<mount>/client.js``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.harness import ROWS, Row, TestPage, open_page, wait_until
from tests.browser.live import PAGES_PREFIX, LiveBroker, PageServer

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

# our client.js supports every row; the tuple is here so that a row it cannot do is visible
OURS_SUPPORTS = tuple(ROWS)
MATRIX = [pytest.param("faye", name, id=f"faye-{name}") for name in ROWS] + [
    pytest.param("ours", name, id=f"ours-{name}") for name in OURS_SUPPORTS
]


def _script(client: str, live: LiveBroker, page_origin: str) -> str:
    if client == "faye":
        return f"{page_origin}{PAGES_PREFIX}faye-browser-min.js"
    return f"{live.endpoint}/client.js"  # what a page written for faye points its script tag at


def _assert_transport(page: TestPage, live: LiveBroker, row: Row, page_origin: str) -> str:
    """The page's client, the broker and the network all agree on the transport; returns the client id."""
    client_id = page.client_id()
    assert page.call("connectionType") == row.connection_type
    # faye sends its first connect over the handshake's transport while a socket or stream is
    # still opening (a held long-poll, T = 3 s), then moves to it for good
    wait_until(lambda: any(seen.connection_type == row.connection_type for seen in live.log.connects_of(client_id)),
               10)
    connects = live.log.connects_of(client_id)
    if row.connection_type in ("websocket", "eventsource"):
        switched = [i for i, seen in enumerate(connects) if seen.connection_type == row.connection_type]
        assert switched, connects
        connects = connects[switched[0]:]
    for seen in connects:
        assert (seen.connection_type, seen.transport) == (row.connection_type, row.arrives_as), seen
        if seen.transport != "websocket":  # a script tag (JSONP) sends no Origin, only a Referer
            assert (seen.origin or "").startswith(page_origin), seen
    kinds = {kind for kind, _, _ in page.requests}
    if row.connection_type == "websocket":
        assert any(url.startswith(live.endpoint.replace("http:", "ws:")) for url in page.sockets), page.sockets
    else:
        assert page.sockets == [], page.sockets
    if row.connection_type == "eventsource":
        assert ("eventsource", "GET", f"{live.endpoint}/{client_id}") in page.requests, page.requests
    else:
        assert "eventsource" not in kinds, page.requests
    if row.connection_type == "callback-polling":
        assert all(kind == "script" and "jsonp=" in url for kind, _, url in page.requests
                   if not url.endswith(".js")), page.requests
    if row.connection_type in ("long-polling", "cross-origin-long-polling"):
        assert any(method == "POST" and kind in ("xhr", "fetch") for kind, method, _ in page.requests), page.requests
    return client_id


@pytest.mark.parametrize(("client", "transport"), MATRIX)
def test_transport(browser: BrowserContext, live: LiveBroker, page_server: PageServer, request: pytest.FixtureRequest,
                   client: str, transport: str) -> None:
    if client == "faye":
        request.getfixturevalue("faye_bundle")
    row = ROWS[transport]
    page_origin = page_server.origin if row.cross_origin else live.origin
    script = _script(client, live, page_origin)
    a = open_page(browser, live, script=script, origin=page_origin, disable=row.disable)
    b = open_page(browser, live, script=script, origin=page_origin, disable=row.disable)
    try:
        assert a.call("subscribe", "/chat/room") is True
        assert a.call("subscribe", "/wild/**") is True
        assert b.call("subscribe", "/chat/room") is True

        # publish from a page: the other page (and the publisher) receive it
        assert a.call("publish", "/chat/room", {"tag": "from-a"}) is True
        b.wait_received("/chat/room", "from-a")
        a.wait_received("/chat/room", "from-a")

        # a server-side publish reaches both; a wildcard subscription matches deep channels
        live.publish("/chat/room", {"tag": "from-server"})
        a.wait_received("/chat/room", "from-server")
        b.wait_received("/chat/room", "from-server")
        live.publish("/wild/deep/er", {"tag": "wild"})
        a.wait_received("/wild/**", "wild")
        assert not b.has_received("/chat/room", "wild")

        first_id = _assert_transport(a, live, row, page_origin)
        _assert_transport(b, live, row, page_origin)

        # unsubscribe: a stops getting /chat/room, b still does; the later /wild message orders the check
        assert a.call("cancel", "/chat/room") is True
        wait_until(lambda: (first_id, "/chat/room") in live.log.unsubscribed, 10)
        assert b.call("publish", "/chat/room", {"tag": "after-cancel"}) is True
        b.wait_received("/chat/room", "after-cancel")
        live.publish("/wild/x", {"tag": "marker"})
        a.wait_received("/wild/**", "marker")
        assert not a.has_received("/chat/room", "after-cancel")

        # the broker restarts on the same port: both pages recover on their own, no reload
        live.restart()
        sent = iter(range(1000))

        def nudge() -> None:
            n = next(sent)
            live.publish("/wild/restart", {"tag": f"restart-{n}"})
            live.publish("/chat/room", {"tag": f"restart-{n}"})

        def both_back() -> bool:
            """both pages receive again after the restart"""
            return (any(str(d.get("tag", "")).startswith("restart-") for d in a.received("/wild/**"))
                    and any(str(d.get("tag", "")).startswith("restart-") for d in b.received("/chat/room")))

        wait_until(both_back, 30, every=0.5, action=nudge)
        assert a.has_received("/chat/room", "from-a"), "the page was reloaded"
        assert a.client_id() != first_id
        _assert_transport(a, live, row, page_origin)
        _assert_transport(b, live, row, page_origin)
        assert b.call("publish", "/chat/room", {"tag": "after-restart"}) is True
        b.wait_received("/chat/room", "after-restart")
        events = a.page.evaluate("T.events")
        if row.connection_type == "eventsource":
            # its connects return at once and the next one is due T later, usually on the new broker
            assert events[0] == "up", events
        else:  # the held connect or the socket was cut: the client said so, then recovered
            assert events[:3] == ["up", "down", "up"], events
    finally:
        a.page.close()
        b.page.close()


def test_faye_bundle_is_the_pinned_release(faye_bundle: Path) -> None:
    """The pages load faye 1.4.3's own browser bundle, installed by npm and never committed."""
    text = faye_bundle.read_text()
    assert "1.4.3" in text
    assert faye_bundle.resolve().is_relative_to(Path(__file__).resolve().parents[1] / "interop" / "node_modules")
