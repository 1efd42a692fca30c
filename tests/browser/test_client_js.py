"""Our ``<mount>/client.js`` beyond the transport matrix: the rest of the ``Faye.Client`` API.

Extensions, ``setHeader``, refusals rejecting the thenables with faye's error fields,
``disconnect``, ``transport:up``/``transport:down``, and the fallback to long-polling when
the WebSocket cannot open (faye §9.1: WebSocket first, the HTTP transports after it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.browser.harness import open_page, wait_until
from tests.browser.live import LiveBroker
from tests.support.servers import free_port

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

EXTENSIONS = """() => {
  T.client.addExtension({
    outgoing: (message, callback) => {
      if (message.channel === '/meta/subscribe') message.ext = {token: 's3cret'};
      callback(message);
    },
    incoming: (message, request, callback) => {  // faye's three-argument form
      if (message.data && message.channel === '/ext/in') message.data.seenBy = 'extension';
      callback(message);
    },
  });
  T.client.setHeader('X-Test', 'from-page');
  return true;
}"""


def test_extensions_headers_and_errors(browser: BrowserContext, live: LiveBroker) -> None:
    page = open_page(browser, live, script=f"{live.endpoint}/client.js", origin=live.origin,
                     disable=("websocket", "eventsource"))  # headers only travel on HTTP
    try:
        assert page.page.evaluate(EXTENSIONS) is True
        assert page.call("subscribe", "/ext/in") is True
        subscribes = [m for m, _ in live.log.messages if m.get("channel") == "/meta/subscribe"]
        assert subscribes[-1]["ext"] == {"token": "s3cret"}
        assert all(headers.get("x-test") == "from-page" for _, headers in live.log.messages)

        live.publish("/ext/in", {"tag": "one"})
        page.wait_received("/ext/in", "one")
        assert page.received("/ext/in") == [{"tag": "one", "seenBy": "extension"}]

        # refusals reject the thenables with faye's parsed error (code, params, message)
        error = page.page.evaluate("""() => T.client.publish('/meta/nope', {}).then(
            () => null, (e) => ({code: e.code, params: e.params, message: e.message}))""")
        assert error is not None
        assert error["code"] in (403, 405), error
        failed = page.page.evaluate("""() => T.client.subscribe('/bad channel').then(
            () => null, (e) => e.code)""")
        assert failed == 405

        client_id = page.client_id()
        disconnected = page.page.evaluate("() => T.client.disconnect().then(() => T.client.getState())")
        assert disconnected == 4  # DISCONNECTED, as faye numbers it
        assert any(m.get("channel") == "/meta/disconnect" and m.get("clientId") == client_id
                   for m, _ in live.log.messages)
    finally:
        page.page.close()


def test_websocket_that_cannot_open_falls_back_to_long_polling(browser: BrowserContext, live: LiveBroker) -> None:
    dead = f"http://127.0.0.1:{free_port()}/faye"  # nothing listens there
    page = open_page(browser, live, script=f"{live.endpoint}/client.js", origin=live.origin,
                     disable=("eventsource",), websocket=dead)
    try:
        assert page.call("subscribe", "/fallback") is True
        live.publish("/fallback", {"tag": "over-http"})
        page.wait_received("/fallback", "over-http")
        assert page.call("connectionType") == "long-polling"
        assert page.sockets == [dead.replace("http:", "ws:")]
        assert live.log.connects_of(page.client_id())[-1].transport == "long-polling"
    finally:
        page.page.close()


def test_transport_events_follow_a_restart(browser: BrowserContext, live: LiveBroker) -> None:
    page = open_page(browser, live, script=f"{live.endpoint}/client.js", origin=live.origin)
    try:
        assert page.call("subscribe", "/events") is True
        assert page.page.evaluate("T.events") == ["up"]
        live.stop()
        page.page.wait_for_function("() => T.events.includes('down')", timeout=10_000)
        live.start()
        wait_until(lambda: page.page.evaluate("T.events").count("up") == 2, 20)
        assert page.page.evaluate("T.events") == ["up", "down", "up"]
    finally:
        page.page.close()
