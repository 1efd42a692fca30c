"""The access hook: one callable decides per request (method, collection, id, headers): 401/403 otherwise.

The bearer-token hook here is the example of docs/resources.md. A refused request reads no body,
writes nothing and publishes nothing; a hook that fails denies (500) rather than allows.
"""

from __future__ import annotations

import pytest

from broker.resources import AccessRequest, Denied
from tests.resources.conftest import Api, MakeApi, assert_problem

pytestmark = pytest.mark.anyio

TOKENS = {"s3cret-writer": {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}, "s3cret-reader": {"GET", "HEAD"}}


def bearer_token(request: AccessRequest) -> bool | Denied:
    """Writers may do anything, readers only read; without a known token: 401 with a Bearer challenge."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or token not in TOKENS:
        return Denied.unauthorized("send Authorization: Bearer <token>")
    if request.method not in TOKENS[token]:
        return Denied.forbidden(f"this token may not {request.method}")
    return True


WRITER = {"authorization": "Bearer s3cret-writer"}
READER = {"authorization": "Bearer s3cret-reader"}


async def assert_nothing_happened(api: Api) -> None:
    listing = await api.http.get("/api/todos", headers=WRITER)
    assert listing.json()["total"] == 0
    assert await api.quiet() == []


async def test_without_a_token_it_is_401_with_a_bearer_challenge(make_api: MakeApi) -> None:
    async with make_api(access=bearer_token) as api:
        for method, url in (("GET", "/api/todos"), ("POST", "/api/todos"), ("GET", "/api/todos/x"),
                            ("PUT", "/api/todos/x"), ("DELETE", "/api/todos/x")):
            for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic czNjcmV0"}):
                response = await api.http.request(method, url, json={"n": 1}, headers=headers)
                assert_problem(response, 401, "unauthorized", mentions="bearer")
                assert response.headers["www-authenticate"] == "Bearer"
        await assert_nothing_happened(api)


async def test_a_reader_reads_but_may_not_write(make_api: MakeApi) -> None:
    async with make_api(access=bearer_token) as api:
        assert (await api.http.put("/api/todos/x", json={"n": 1}, headers=WRITER)).status_code == 201
        assert (await api.http.get("/api/todos/x", headers=READER)).json() == {"id": "x", "n": 1}
        assert (await api.http.get("/api/todos", headers=READER)).json()["total"] == 1
        for method in ("PUT", "PATCH", "DELETE"):
            response = await api.http.request(method, "/api/todos/x", json={"n": 2},
                                              headers={**READER, "content-type": "application/merge-patch+json"})
            assert_problem(response, 403, "forbidden", mentions=f"may not {method}")
        assert_problem(await api.http.post("/api/todos", json={}, headers=READER), 403, "forbidden")
        assert (await api.http.get("/api/todos/x", headers=READER)).json() == {"id": "x", "n": 1}
        assert len(await api.quiet()) == 2  # only the writer's PUT was published


async def test_the_hook_sees_method_collection_id_headers_and_peer(make_api: MakeApi) -> None:
    seen: list[AccessRequest] = []

    def record(request: AccessRequest) -> None:
        seen.append(request)

    async with make_api(access=record) as api:
        await api.http.put("/api/todos/x", json={}, headers={"x-user": "ann"})
        await api.http.get("/api/todos", headers={"X-User": "bob"})
    assert [(r.method, r.collection, r.id, r.headers.get("x-user")) for r in seen] == [
        ("PUT", "todos", "x", "ann"), ("GET", "todos", None, "bob")]
    assert seen[0].client == "127.0.0.1"


async def test_an_async_hook_and_false_for_403(make_api: MakeApi) -> None:
    async def only_todos(request: AccessRequest) -> bool:
        return request.collection == "todos"

    async with make_api(access=only_todos) as api:
        assert (await api.http.put("/api/todos/x", json={})).status_code == 201
        assert_problem(await api.http.put("/api/secrets/x", json={}), 403, "forbidden")
        assert (await api.http.get("/api/secrets/x")).status_code == 403


async def test_the_hook_runs_before_the_body_is_read(make_api: MakeApi) -> None:
    async with make_api(access=bearer_token, max_body_bytes=1000) as api:
        too_big = await api.http.post("/api/todos", content=b"x" * 5000, headers={"content-type": "text/plain"})
        assert_problem(too_big, 401, "unauthorized")
        await assert_nothing_happened(api)


@pytest.mark.parametrize("answer", ["yes", 1, 403, Denied], ids=["str", "int", "status", "class"])
async def test_a_hook_answering_something_else_denies_with_500(make_api: MakeApi, answer: object) -> None:
    async with make_api(access=lambda request: answer) as api:
        assert_problem(await api.http.put("/api/todos/x", json={}), 500, "internal")
        assert_problem(await api.http.get("/api/todos/x"), 500, "internal")


async def test_a_hook_that_raises_denies_with_500_and_the_api_keeps_serving(make_api: MakeApi) -> None:
    def broken(request: AccessRequest) -> bool:
        if request.method == "PUT":
            raise RuntimeError("the token service is down")
        return True

    async with make_api(access=broken) as api:
        response = await api.http.put("/api/todos/x", json={})
        body = assert_problem(response, 500, "internal", mentions="access check")
        assert "token service" not in body["detail"]  # the exception stays in the log
        await assert_nothing_happened(api)


async def test_the_document_and_options_are_not_access_checked(make_api: MakeApi) -> None:
    async with make_api(access=lambda request: False) as api:
        assert (await api.http.get("/api/openapi.json")).status_code == 200
        assert (await api.http.options("/api/todos")).status_code == 204
        assert_problem(await api.http.get("/api/todos"), 403, "forbidden")


def test_denied_is_401_or_403() -> None:
    assert Denied().status == 403
    assert Denied.unauthorized(challenge='Bearer realm="todos"').challenge == 'Bearer realm="todos"'
    with pytest.raises(ValueError, match="401 or 403"):
        Denied(status=404)  # type: ignore[arg-type]
