"""Headless Chromium (Debian's ``chromium``) driven by Playwright, shared by the browser tests.

Playwright's own browser downloads are never used: the system browser is launched through
``executable_path`` with a fresh profile. A missing browser, Playwright or faye bundle skips
these tests on a developer machine and fails them under ``CI=true`` (tests/conftest.py).
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.live import FAYE_BUNDLE, LiveBroker, PageServer
from tests.conftest import require

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str | None:
    if Path(CHROMIUM).is_file():
        return CHROMIUM
    return shutil.which("chromium")


@pytest.fixture(scope="package")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """One Chromium for this package's tests (closed before other packages' event loops run);
    each test opens and closes its own pages in it."""
    executable = chromium_path()
    require(importlib.util.find_spec("playwright") is not None, "needs playwright (pip install -e '.[test]')")
    require(executable is not None, "needs Chromium: sh scripts/ensure-system-deps.sh chromium")
    assert executable is not None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=executable, headless=True, args=CHROMIUM_ARGS,
        )
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def faye_bundle() -> Path:
    require(FAYE_BUNDLE.is_file(), "needs `npm ci` in tests/interop for faye-browser-min.js (faye@1.4.3)")
    return FAYE_BUNDLE


@pytest.fixture(scope="package")
def page_server() -> Iterator[PageServer]:
    """A second loopback origin that serves the harness pages (cross-origin transports)."""
    server = PageServer()
    yield server
    server.stop()


@pytest.fixture
def live() -> Iterator[LiveBroker]:
    """A fresh broker (T = 3 s) on its own loopback port, stopped by the test."""
    broker = LiveBroker(timeout=3.0)
    broker.start()
    yield broker
    broker.stop()
