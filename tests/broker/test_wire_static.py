"""docs/protocol.md §13 items 106-109: the browser client served under the mount.

We serve our own client (``clients/browser/client.js``), not faye's bundle, under the names
faye uses. Deliberate differences, each checked here: the ETag is the sha1 of the body in
quotes (RFC 9110; faye sends it bare, and both forms are accepted back), ``Cache-Control:
no-cache`` asks browsers to revalidate; the source map of the (unminified) client is JSON.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.broker.wire import http_client
from tests.support.servers import BrokerProcess

pytestmark = pytest.mark.anyio

CLIENT_JS = Path(__file__).resolve().parents[2] / "clients" / "browser" / "client.js"


async def test_c106_client_js_defines_faye_client(broker: BrokerProcess) -> None:
    async with http_client() as http:
        response = await http.get(f"{broker.url}/client.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.content == CLIENT_JS.read_bytes()
    assert "global.Faye = Faye" in response.text
    assert "Faye.Client = Client" in response.text
    assert response.headers["etag"] == f'"{hashlib.sha1(response.content).hexdigest()}"'
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers["last-modified"].endswith(" GMT")
    assert response.headers["cache-control"] == "no-cache"


async def test_c107_mount_basename_js_is_the_same_file(broker: BrokerProcess) -> None:
    async with http_client() as http:
        main = await http.get(f"{broker.url}/client.js")
        aliases = [await http.get(url) for url in (
            f"{broker.url}.js",  # /faye.js
            f"{broker.url}/faye-browser-min.js",
            f"{broker.url}/faye-browser.js",
            f"{broker.url}/sub/client.js",  # faye matches on the basename
        )]
    for alias in aliases:
        assert alias.status_code == 200, alias.url
        assert alias.content == main.content
        assert alias.headers["etag"] == main.headers["etag"]


@pytest.mark.parametrize("quoted", [True, False], ids=["rfc-quoted", "faye-bare"])
async def test_c108_if_none_match_gives_304(broker: BrokerProcess, quoted: bool) -> None:
    async with http_client() as http:
        first = await http.get(f"{broker.url}/client.js")
        etag = first.headers["etag"] if quoted else first.headers["etag"].strip('"')
        again = await http.get(f"{broker.url}/client.js", headers={"If-None-Match": etag})
        since = await http.get(f"{broker.url}/client.js", headers={"If-Modified-Since": first.headers["last-modified"]})
        other = await http.get(f"{broker.url}/client.js", headers={"If-None-Match": '"0000"'})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert since.status_code == 304
    assert other.status_code == 200
    assert other.content == first.content


async def test_c109_source_map_is_json_and_unknown_files_are_404(broker: BrokerProcess) -> None:
    async with http_client() as http:
        source_map = await http.get(f"{broker.url}/faye-browser-min.js.map")
        client_map = await http.get(f"{broker.url}/client.js.map")
        nope = await http.get(f"{broker.url}/nope.js")
        nope_map = await http.get(f"{broker.url}/nope.js.map")
    assert source_map.status_code == 200
    assert source_map.headers["content-type"] == "application/json; charset=utf-8"
    assert source_map.json()["version"] == 3
    assert source_map.json()["sources"] == ["client.js"]
    assert client_map.content == source_map.content
    assert nope.status_code == 404
    assert nope.content == b""
    assert nope_map.status_code == 404
