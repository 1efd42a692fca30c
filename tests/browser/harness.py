"""Drive harness pages (pages/harness.html) in Chromium and watch what they put on the network."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from tests.browser.live import PAGES_PREFIX, LiveBroker

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Request, WebSocket

__all__ = ["Row", "TestPage", "open_page", "wait_until"]


@dataclass(frozen=True)
class Row:
    """One transport of the matrix: how a page is forced onto it, and how it shows on the broker."""

    connection_type: str
    disable: tuple[str, ...]
    cross_origin: bool
    arrives_as: str
    """``Context.transport`` of the page's ``/meta/connect`` on the broker."""


ROWS = {
    "websocket": Row("websocket", (), False, "websocket"),
    # a page from another origin: the handshake goes over CORS, then the socket opens
    "cross-origin-websocket": Row("websocket", (), True, "websocket"),
    # faye prefers EventSource to XHR on the same origin, so plain long-polling needs both off
    "long-polling": Row("long-polling", ("websocket", "eventsource"), False, "long-polling"),
    "cross-origin-long-polling": Row("cross-origin-long-polling", ("websocket",), True, "long-polling"),
    "callback-polling": Row("callback-polling", ("websocket", "cross-origin-long-polling"), True, "callback-polling"),
    # the stream carries deliveries; the connects still arrive by POST
    "eventsource": Row("eventsource", ("websocket",), False, "long-polling"),
}


@dataclass
class TestPage:
    """A harness page plus the requests and sockets it opened towards the Bayeux endpoint."""

    __test__ = False  # not a pytest class

    page: Page
    endpoint: str
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    """``(resource_type, method, url)`` of every request to the endpoint."""
    sockets: list[str] = field(default_factory=list)

    def _on_request(self, request: Request) -> None:
        if request.url.startswith(self.endpoint):
            self.requests.append((request.resource_type, request.method, request.url))

    def _on_websocket(self, socket: WebSocket) -> None:
        self.sockets.append(socket.url)

    def call(self, expression: str, *args: Any) -> Any:
        """Evaluate ``T.<expression>(...args)`` in the page (awaiting a returned promise)."""
        return self.page.evaluate(f"(args) => T.{expression}(...args)", list(args))

    def client_id(self) -> str:
        return str(self.call("clientId"))

    def received(self, sub: str) -> list[Any]:
        return list(self.page.evaluate("(sub) => T.received.filter(m => m.sub === sub).map(m => m.data)", sub))

    def wait_received(self, sub: str, tag: str, timeout: float = 10.0) -> None:
        """Wait until the subscription ``sub`` delivered data ``{"tag": tag}``."""
        self.page.wait_for_function(
            "([sub, tag]) => T.received.some(m => m.sub === sub && m.data && m.data.tag === tag)",
            arg=[sub, tag], timeout=timeout * 1000,
        )

    def has_received(self, sub: str, tag: str) -> bool:
        return any(isinstance(d, dict) and d.get("tag") == tag for d in self.received(sub))


def open_page(context: BrowserContext, live: LiveBroker, *, script: str, origin: str,
              disable: tuple[str, ...] = (), websocket: str = "") -> TestPage:
    """Open the harness from ``origin``, with the client ``script``, against the broker's endpoint.

    ``websocket`` is faye's ``endpoints: {websocket: URL}`` option (a dead port forces a fallback).
    """
    page = context.new_page()
    test_page = TestPage(page, live.endpoint)
    page.on("request", test_page._on_request)
    page.on("websocket", test_page._on_websocket)
    query = urlencode({"script": script, "endpoint": live.endpoint, "disable": ",".join(disable), "retry": "1",
                       "websocket": websocket})
    page.goto(f"{origin}{PAGES_PREFIX}harness.html?{query}")
    page.wait_for_function("() => window.T && (T.ready || T.loadError)")
    assert page.evaluate("T.loadError || null") is None, page.evaluate("T.loadError")
    return test_page


def wait_until(condition: Any, timeout: float, every: float = 0.2, action: Any = None) -> None:
    """Poll ``condition()`` (running ``action()`` before each try) until true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if action is not None:
            action()
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {getattr(condition, '__doc__', None) or condition}")
        time.sleep(every)
