"""Bad input of every kind gets a clear RFC 9457 problem with the right status, writes nothing,
publishes nothing, and the server goes on serving (docs/architecture.md §4)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from broker.store.redis import RedisStore
from tests.resources.conftest import Api, MakeApi, assert_problem
from tests.support.servers import free_port

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}
MERGE = {"content-type": "application/merge-patch+json"}


async def assert_untouched(api: Api) -> None:
    """Nothing was written or published, and the API still answers."""
    response = await api.http.get("/api/todos")
    assert response.status_code == 200
    assert response.json()["total"] == 0
    assert await api.quiet() == []


# --- JSON ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{bad",
        b"",
        b"   ",
        b'{"a": 1} trailing',
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b"{'a': 1}",
        b'{"a": "\xff\xfe"}',
        b'{"a": "\\ud800"}',
        b"\xef\xbb\xbf{}",
        b'{"a": 1,}',
        b"[" * 2000 + b"]" * 2000,
    ],
    ids=[
        "truncated",
        "empty",
        "blank",
        "trailing",
        "nan",
        "infinity",
        "single-quotes",
        "not-utf8",
        "lone-surrogate",
        "bom",
        "trailing-comma",
        "nested-2000",
    ],
)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
async def test_malformed_json_is_400(api: Api, method: str, body: bytes) -> None:
    url = "/api/todos" if method == "POST" else "/api/todos/x"
    headers = MERGE if method == "PATCH" else JSON
    if method == "PATCH":
        await api.http.put(url, json={"n": 1})
        api.events.clear()
    response = await api.http.request(method, url, content=body, headers=headers)
    assert_problem(response, 400, "invalid-json")
    if method != "PATCH":
        await assert_untouched(api)


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        (b"[1]", "item 0 must be a JSON object"),
        (b'"text"', "a string"),
        (b"42", "a number"),
        (b"null", "null"),
        (b"true", "a boolean"),
    ],
)
async def test_post_of_something_else_than_objects_is_400(api: Api, body: bytes, mentions: str) -> None:
    response = await api.http.post("/api/todos", content=body, headers=JSON)
    assert_problem(response, 400, "invalid-object", mentions=mentions)
    await assert_untouched(api)


@pytest.mark.parametrize("body", [b"[]", b"[{}]", b'"text"', b"42", b"null"])
async def test_put_of_something_else_than_an_object_is_400(api: Api, body: bytes) -> None:
    response = await api.http.put("/api/todos/x", content=body, headers=JSON)
    assert_problem(response, 400, "invalid-object", mentions="must be a JSON object")
    await assert_untouched(api)


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null"])
async def test_patch_with_a_non_object_patch_is_400(api: Api, body: bytes) -> None:
    await api.http.put("/api/todos/x", json={"n": 1})
    response = await api.http.patch("/api/todos/x", content=body, headers=MERGE)
    assert_problem(response, 400, "invalid-object", mentions="merge patch")
    assert (await api.http.get("/api/todos/x")).json() == {"id": "x", "n": 1}


@pytest.mark.parametrize("levels", [65, 300])
async def test_objects_nested_too_deeply_are_400(api: Api, levels: int) -> None:
    body = b'{"a":' * (levels - 1) + b"{}" + b"}" * (levels - 1)
    for response in (
        await api.http.post("/api/todos", content=body, headers=JSON),
        await api.http.put("/api/todos/x", content=body, headers=JSON),
    ):
        assert_problem(response, 400, "invalid-object", mentions="deeper than 64")
    await api.http.put("/api/todos/x", json={})
    api.events.clear()
    assert_problem(await api.http.patch("/api/todos/x", content=body, headers=MERGE), 400, "invalid-object")


async def test_sixty_four_levels_are_fine(api: Api) -> None:
    body = b'{"a":' * 63 + b"{}" + b"}" * 63
    assert (await api.http.put("/api/todos/x", content=body, headers=JSON)).status_code == 201


# --- ids and names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"id": 5},
        {"id": None},
        {"id": ["x"]},
        {"id": ""},
        {"id": "a b"},
        {"id": "a/b"},
        {"id": "a.b"},
        {"id": "x" * 129},
        {"id": "é"},
    ],
)
async def test_invalid_ids_in_a_body_are_400(api: Api, body: dict[str, object]) -> None:
    response = await api.http.post("/api/todos", json=body)
    assert response.status_code == 400
    assert response.json()["type"] in (
        "urn:bayeux-broker:problem:invalid-object",
        "urn:bayeux-broker:problem:invalid-name",
    )
    await assert_untouched(api)


@pytest.mark.parametrize(
    "path",
    ["/api/-bad", "/api/a.b", "/api/" + "c" * 65, "/api/%20", "/api/caf%C3%A9", "/api/a%00", "/api/_x", "/api/a%0Ab",
     "/api/%0A"],
)
async def test_invalid_collection_names_are_400(api: Api, path: str) -> None:
    for method in ("GET", "POST"):
        response = await api.http.request(method, path, json={})
        assert_problem(response, 400, "invalid-name", mentions="collection name")
    assert (await api.http.get(path + "/x")).status_code == 400


@pytest.mark.parametrize(
    "object_id", ["a.b", "a%20b", "x" * 129, "%C3%A9", "a%00", "a,b", "a*b", "a%2Fb", "a%0Ab", "%0A"]
)
async def test_invalid_ids_in_the_path_are_400_or_404(api: Api, object_id: str) -> None:
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = await api.http.request(
            method, f"/api/todos/{object_id}", json={}, headers=MERGE if method == "PATCH" else JSON
        )
        # %2F decodes to a slash: a path with one segment too many, which is not found
        if object_id == "a%2Fb":
            assert_problem(response, 404, "not-found")
        else:
            assert_problem(response, 400, "invalid-name", mentions="invalid id")
    await assert_untouched(api)


async def test_channel_segment_characters_are_valid_ids(api: Api) -> None:
    object_id = "a-_!~()$@Z9"
    response = await api.http.put(f"/api/todos/{object_id}", json={})
    assert response.status_code == 201
    assert (await api.http.get(f"/api/todos/{object_id}")).json() == {"id": object_id}
    events = await api.settle(2)
    assert events[1][0] == f"/resources/todos/{object_id}"


@pytest.mark.parametrize("path", ["/api", "/api/", "/api/todos/", "/api/todos/x/y", "/api//x", "/api/todos//"])
async def test_paths_outside_the_api_shape_are_404(api: Api, path: str) -> None:
    assert_problem(await api.http.get(path), 404, "not-found")


# --- methods -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/todos", "GET, HEAD, POST, OPTIONS"),
        ("PUT", "/api/todos", "GET, HEAD, POST, OPTIONS"),
        ("PATCH", "/api/todos", "GET, HEAD, POST, OPTIONS"),
        ("POST", "/api/todos/x", "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"),
        ("TRACE", "/api/todos/x", "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"),
        ("PUT", "/api/openapi.json", "GET, HEAD, OPTIONS"),
        ("PROPFIND", "/api/todos", "GET, HEAD, POST, OPTIONS"),
    ],
)
async def test_methods_not_allowed_are_405_with_allow(api: Api, method: str, path: str, allow: str) -> None:
    response = await api.http.request(method, path, json={})
    assert_problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == allow
    await assert_untouched(api)


# --- media types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
        "application/merge-patch+json",
        "application/jsonx",
        "multipart/form-data; boundary=x",
    ],
)
async def test_wrong_content_type_on_post_and_put_is_415(api: Api, content_type: str | None) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    for method, url in (("POST", "/api/todos"), ("PUT", "/api/todos/x")):
        response = await api.http.request(method, url, content=b'{"a": 1}', headers=headers)
        assert_problem(response, 415, "unsupported-media-type", mentions="application/json")
    await assert_untouched(api)


@pytest.mark.parametrize("content_type", ["application/json-patch+json", "text/plain", None])
async def test_wrong_content_type_on_patch_is_415(api: Api, content_type: str | None) -> None:
    await api.http.put("/api/todos/x", json={"n": 1})
    headers = {} if content_type is None else {"content-type": content_type}
    response = await api.http.patch("/api/todos/x", content=b'{"n": 2}', headers=headers)
    assert_problem(response, 415, "unsupported-media-type", mentions="merge-patch")


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "APPLICATION/JSON", 'application/json;charset="UTF-8"']
)
async def test_content_type_variants_that_are_json(api: Api, content_type: str) -> None:
    response = await api.http.post("/api/todos", content=b'{"a": 1}', headers={"content-type": content_type})
    assert response.status_code == 201


# --- sizes ---------------------------------------------------------------------------------


async def test_body_over_the_limit_is_413(make_api: MakeApi) -> None:
    async with make_api(max_body_bytes=2000) as api:
        big = b'{"a": "' + b"x" * 3000 + b'"}'
        response = await api.http.post("/api/todos", content=big, headers=JSON)
        assert_problem(response, 413, "too-large", mentions="2000")

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit applies while reading
            for _ in range(30):
                yield b" " * 100
            yield b"{}"

        response = await api.http.put("/api/todos/x", content=chunks(), headers=JSON)
        assert_problem(response, 413, "too-large")
        assert (
            await api.http.put("/api/todos/y", content=b'{"a": "' + b"x" * 1000 + b'"}', headers=JSON)
        ).status_code == 201


async def test_object_too_large_for_a_change_event_is_413(make_api: MakeApi) -> None:
    async with make_api(max_message_bytes=3000) as api:
        response = await api.http.put("/api/todos/x", json={"a": "x" * 2500})
        assert_problem(response, 413, "too-large", mentions="at most 1976")
        ok = await api.http.put("/api/todos/x", json={"a": "x" * 1900})
        assert ok.status_code == 201
        grow = await api.http.patch("/api/todos/x", json={"b": "y" * 500}, headers=MERGE)
        assert_problem(grow, 413, "too-large", mentions="patched object")
        assert (await api.http.get("/api/todos/x")).json() == {"id": "x", "a": "x" * 1900}
        events = await api.settle(2)
        assert len(events) == 2


async def test_import_of_too_many_objects_is_413(api: Api) -> None:
    response = await api.http.post("/api/todos", json=[{}] * 1001)
    assert_problem(response, 413, "too-large", mentions="at most 1000")
    await assert_untouched(api)


# --- bulk import: all or nothing ------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "index", "slug"),
    [
        ([{"id": "a"}, {"id": "b"}, 5, {"id": "c"}], 2, "invalid-object"),
        ([{"id": "a"}, {"id": 7}], 1, "invalid-object"),
        ([{"id": "a"}, {"id": "b c"}], 1, "invalid-name"),
        ([{}, {}, {}, {"id": "x"}, {"id": "x"}], 4, "already-exists"),
        ([[]], 0, "invalid-object"),
    ],
)
async def test_one_bad_item_rejects_the_whole_import_with_its_index(
    api: Api, items: list[object], index: int, slug: str
) -> None:
    response = await api.http.post("/api/todos", json=items)
    body = assert_problem(response, 409 if slug == "already-exists" else 400, slug)
    assert body["index"] == index
    assert f"item {index}" in body["detail"]
    await assert_untouched(api)


async def test_an_import_meeting_an_existing_id_imports_nothing(api: Api) -> None:
    await api.http.put("/api/todos/taken", json={})
    api.events.clear()
    response = await api.http.post("/api/todos", json=[{"id": "new1"}, {"id": "taken"}, {"id": "new2"}])
    body = assert_problem(response, 409, "already-exists")
    assert body["index"] == 1
    listed = (await api.http.get("/api/todos")).json()
    assert [item["id"] for item in listed["items"]] == ["taken"]
    assert await api.quiet() == []


# --- query parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "limit=",
        "limit=1.5",
        "offset=-1",
        "offset=x",
        "offset=99999999999999",
        "sort=",
        "sort=a%20b",
        "sort=--a",
        "sort=a,,b",
        "sort=a.b",
        "status=a&status=b",
        "a.b=1",
        "%24=1",
        "=1",
        "sort=" + ",".join("abcdefghi"),
        "&".join(f"f{i}=1" for i in range(17)),
        "limit=%EF%BC%91",
    ],
)
async def test_invalid_list_queries_are_400(api: Api, query: str) -> None:
    assert_problem(await api.http.get(f"/api/todos?{query}"), 400, "invalid-query")


async def test_unusual_but_valid_queries(api: Api) -> None:
    await api.http.post("/api/todos", json=[{"id": "1", "q": "' OR 1=1 --"}, {"id": "2", "q": "x"}])
    response = await api.http.get("/api/todos", params={"q": "' OR 1=1 --"})
    assert [item["id"] for item in response.json()["items"]] == ["1"]
    assert (await api.http.get("/api/todos?sort=+q")).status_code == 200
    assert (await api.http.get("/api/todos?limit=1000&offset=1000000000")).status_code == 200
    assert (await api.http.get("/api/todos?_private=1&dash-ed=2")).json()["total"] == 0


# --- headers -------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["if-match", "if-none-match"])
@pytest.mark.parametrize("value", ["abc", '"unterminated', "W/abc", '"a" "b"', '"x"y', '"a", b', '"a"; "b"'])
async def test_malformed_conditional_headers_are_400(api: Api, header: str, value: str) -> None:
    await api.http.put("/api/todos/x", json={})
    api.events.clear()
    for method in ("GET", "PUT", "DELETE"):
        response = await api.http.request(method, "/api/todos/x", json={}, headers={header: value})
        assert_problem(response, 400, "invalid-header", mentions=header)
    assert await api.quiet() == []


async def test_foreign_entity_tags_never_match(api: Api) -> None:
    await api.http.put("/api/todos/x", json={})
    for value in ('"abc"', '""', '"99999999999999999999999999"', '"-1"', '"1.0"'):
        assert (await api.http.put("/api/todos/x", json={}, headers={"if-match": value})).status_code == 412
        assert (await api.http.get("/api/todos/x", headers={"if-none-match": value})).status_code == 200


# --- the store going away ------------------------------------------------------------------


async def test_an_unreachable_store_is_503_and_the_broker_keeps_serving(make_api: MakeApi) -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    async with make_api(store=store) as api:
        for method, url in (
            ("GET", "/api/todos"),
            ("GET", "/api/todos/x"),
            ("PUT", "/api/todos/x"),
            ("POST", "/api/todos"),
            ("DELETE", "/api/todos/x"),
        ):
            response = await api.http.request(method, url, json={})
            assert_problem(response, 503, "unavailable")
            assert response.headers["retry-after"] == "1"
        handshake = await api.http.post(
            "/faye", json={"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"]}
        )
        assert handshake.json()[0]["successful"] is True
        assert (await api.http.get("/api/openapi.json")).status_code == 200
