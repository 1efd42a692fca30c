"""The demo page at ``/`` in Chromium: two pages chat, the live table follows REST writes (issue 5)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.browser.live import LiveBroker
from tests.browser.png import distinct_colours
from tests.support.servers import start_broker

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page


@pytest.fixture
def demo_broker() -> Iterator[LiveBroker]:
    broker = LiveBroker(timeout=3.0, app_options={"demo": True})
    broker.start()
    yield broker
    broker.stop()


def _open(browser: BrowserContext, live: LiveBroker, name: str) -> Page:
    page = browser.new_page()
    page.set_viewport_size({"width": 1100, "height": 760})
    page.goto(f"{live.origin}/")
    page.wait_for_selector("#status.up:has-text('live over websocket')")
    page.wait_for_selector("body[data-table-ready='todos']")
    page.fill("#name", name)
    return page


def _say(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.click("#chat-form button")


def _row(page: Page, object_id: str) -> str:
    return page.locator(f"#rows tr[data-id='{object_id}']").inner_text()


def test_demo_chat_and_live_table(browser: BrowserContext, demo_broker: LiveBroker, tmp_path: Path) -> None:
    live = demo_broker
    with httpx.Client(base_url=live.origin, timeout=10) as http:
        assert http.post("/api/todos", json={"id": "bread", "title": "Bake bread"}).status_code == 201
        alice, bob = _open(browser, live, "alice"), _open(browser, live, "bob")
        try:
            # the row written before the pages opened came from the initial list
            assert "Bake bread" in _row(alice, "bread")

            _say(alice, "hello bob")
            bob.wait_for_selector("#messages li:has-text('hello bob')")
            assert bob.locator("#messages li").last.inner_text().startswith("alice")
            _say(bob, "hi alice")
            alice.wait_for_selector("#messages li:has-text('hi alice')")
            assert alice.locator("#messages li .who").all_inner_texts() == ["alice", "bob"]

            # REST writes show up live in both tables
            assert http.post("/api/todos", json={"id": "milk", "title": "Buy milk", "done": False}).status_code == 201
            for page in (alice, bob):
                page.wait_for_selector("#rows tr[data-id='milk']:has-text('Buy milk')")
            patch = http.patch("/api/todos/milk", json={"done": True})
            assert patch.status_code == 200
            version = patch.headers["etag"].strip('"')  # one counter per store: not simply 2
            for page in (alice, bob):
                page.wait_for_function(
                    "(v) => { const r = document.querySelector(\"#rows tr[data-id='milk']\");"
                    " return r && r.cells[1].textContent.includes('true') && r.cells[2].textContent === v; }",
                    arg=version)
            assert http.delete("/api/todos/bread").status_code == 204
            for page in (alice, bob):
                page.wait_for_selector("#rows tr[data-id='bread']", state="detached")
            assert alice.locator("#rows tbody tr").count() == 1

            shot = tmp_path / "demo.png"
            alice.screenshot(path=str(shot), full_page=True)
            assert distinct_colours(shot.read_bytes()) >= 8, "the screenshot is (nearly) blank"
            assert alice.evaluate("demo.client.connectionType") == "websocket"
        finally:
            alice.close()
            bob.close()


def test_demo_page_is_off_unless_asked(live: LiveBroker) -> None:
    """``create_app()`` leaves ``/`` to the embedding app; ``bayeux-broker serve --no-demo`` too."""
    with httpx.Client(base_url=live.origin, timeout=10) as http:
        assert http.get("/").status_code == 404
        assert http.get("/demo/demo.js").status_code == 404


@pytest.mark.parametrize(("flags", "status"), [((), 200), (("--no-demo",), 404)], ids=["default", "no-demo"])
def test_cli_demo_flag(flags: tuple[str, ...], status: int) -> None:
    """``bayeux-broker serve`` serves the demo at ``/``; ``--no-demo`` turns it off."""
    process = start_broker("--store", "memory", *flags)
    try:
        with httpx.Client(timeout=10) as http:
            page = http.get(f"{process.base}/")
            client = http.get(f"{process.url}/client.js")
        assert page.status_code == status
        assert client.status_code == 200
        if status == 200:
            assert page.headers["content-type"] == "text/html; charset=utf-8"
            assert f'<script src="{process.url.removeprefix(process.base)}/client.js">' in page.text
    finally:
        assert process.stop() == 0
