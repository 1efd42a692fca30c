"""Every endpoint of ``/api/<collection>`` over real HTTP, and the change events each write publishes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.resources.conftest import Api, change, version_of

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}
MERGE = {"content-type": "application/merge-patch+json"}


# --- POST ----------------------------------------------------------------------------------


async def test_post_creates_with_a_generated_id(api: Api) -> None:
    response = await api.http.post("/api/todos", json={"title": "milk", "done": False})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "title", "done"}
    assert len(body["id"]) == 32
    assert response.headers["location"] == f"/api/todos/{body['id']}"
    assert response.headers["content-type"] == "application/json"
    version = version_of(response)
    fetched = await api.http.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json() == body
    assert version_of(fetched) == version
    assert await api.settle(2) == change("todos", "created", body, version)


async def test_post_keeps_a_given_id(api: Api) -> None:
    response = await api.http.post("/api/todos", json={"id": "t-1", "title": "milk"})
    assert response.status_code == 201
    assert response.json() == {"id": "t-1", "title": "milk"}
    assert response.headers["location"] == "/api/todos/t-1"


async def test_post_of_an_existing_id_is_409_and_changes_nothing(api: Api) -> None:
    first = await api.http.post("/api/todos", json={"id": "t-1", "title": "first"})
    again = await api.http.post("/api/todos", json={"id": "t-1", "title": "second"})
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    current = await api.http.get("/api/todos/t-1")
    assert current.json()["title"] == "first"
    assert version_of(current) == version_of(first)
    assert len(await api.quiet()) == 2


async def test_post_array_imports_all(api: Api) -> None:
    items = [{"id": "a", "n": 1}, {"n": 2}, {"id": "c", "n": 3}]
    response = await api.http.post("/api/todos", json=items)
    assert response.status_code == 201
    body = response.json()
    assert [item["n"] for item in body] == [1, 2, 3]
    assert body[0]["id"] == "a"
    assert body[2]["id"] == "c"
    listed = (await api.http.get("/api/todos")).json()
    assert listed["items"] == body
    events = await api.settle(6)
    assert [event["action"] for _, event in events] == ["created"] * 6
    assert [channel for channel, _ in events[::2]] == ["/resources/todos"] * 3
    assert [event["data"] for _, event in events[::2]] == body
    versions = [event["version"] for _, event in events[::2]]
    assert versions == sorted(versions)
    assert len(set(versions)) == 3


async def test_post_empty_array_imports_nothing(api: Api) -> None:
    response = await api.http.post("/api/todos", json=[])
    assert response.status_code == 201
    assert response.json() == []
    assert await api.quiet() == []


# --- GET -----------------------------------------------------------------------------------


async def test_get_one(api: Api) -> None:
    await api.http.put("/api/todos/x", json={"title": "x", "nested": {"deep": [1, 2, {"k": None}]}})
    response = await api.http.get("/api/todos/x")
    assert response.status_code == 200
    assert response.json() == {"id": "x", "title": "x", "nested": {"deep": [1, 2, {"k": None}]}}
    assert response.headers["content-type"] == "application/json"


async def test_head_is_get_without_a_body(api: Api) -> None:
    await api.http.put("/api/todos/x", json={"title": "x"})
    response = await api.http.head("/api/todos/x")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["etag"]
    assert (await api.http.head("/api/todos")).status_code == 200
    assert (await api.http.head("/api/todos/nope")).status_code == 404


async def test_get_missing_is_404(api: Api) -> None:
    response = await api.http.get("/api/todos/nope")
    assert response.status_code == 404
    assert response.json()["detail"] == "todos/nope does not exist"


async def test_list_of_an_unknown_collection_is_empty(api: Api) -> None:
    response = await api.http.get("/api/nothing-here")
    assert response.status_code == 200
    assert response.json() == {"items": [], "total": 0, "limit": 100, "offset": 0, "next": None}
    assert response.headers["x-total-count"] == "0"
    assert "link" not in response.headers


async def seed(api: Api, items: list[dict[str, Any]], collection: str = "todos") -> None:
    response = await api.http.post(f"/api/{collection}", json=items)
    assert response.status_code == 201, response.text


async def test_list_filters_by_field_equality(api: Api) -> None:
    await seed(api, [{"id": "1", "status": "open", "prio": 1, "done": False},
                     {"id": "2", "status": "done", "prio": 2, "done": True},
                     {"id": "3", "status": "open", "prio": 2, "done": False},
                     {"id": "4", "status": "open", "prio": "2"}])
    ids = await list_ids(api, "/api/todos?status=open")
    assert ids == ["1", "3", "4"]
    assert await list_ids(api, "/api/todos?status=open&prio=2") == ["3", "4"]
    assert await list_ids(api, "/api/todos?done=false") == ["1", "3"]
    assert await list_ids(api, "/api/todos?done=true&status=done") == ["2"]
    assert await list_ids(api, "/api/todos?status=nope") == []
    response = await api.http.get("/api/todos", params={"status": "open"})
    assert response.json()["total"] == 3
    assert response.headers["x-total-count"] == "3"


async def list_ids(api: Api, url: str) -> list[str]:
    response = await api.http.get(url)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_list_sorts(api: Api) -> None:
    await seed(api, [{"id": "a", "created": 3, "title": "b"}, {"id": "b", "created": 1, "title": "c"},
                     {"id": "c", "created": 2, "title": "a"}, {"id": "d", "created": 2, "title": "d"}])
    assert await list_ids(api, "/api/todos?sort=created") == ["b", "c", "d", "a"]
    assert await list_ids(api, "/api/todos?sort=-created") == ["a", "c", "d", "b"]
    assert await list_ids(api, "/api/todos?sort=-created,-title") == ["a", "d", "c", "b"]
    assert await list_ids(api, "/api/todos?sort=title") == ["c", "a", "b", "d"]
    assert await list_ids(api, "/api/todos") == ["a", "b", "c", "d"]  # creation order


async def test_list_paginates_with_total_and_next_link(api: Api) -> None:
    await seed(api, [{"id": f"i{i:02d}", "i": i, "even": i % 2 == 0} for i in range(25)])
    response = await api.http.get("/api/todos?even=true&sort=-i&limit=5")
    body = response.json()
    assert [item["i"] for item in body["items"]] == [24, 22, 20, 18, 16]
    assert body["total"] == 13
    assert body["limit"] == 5
    assert body["offset"] == 0
    assert body["next"] == "/api/todos?even=true&sort=-i&limit=5&offset=5"
    assert response.headers["link"] == '</api/todos?even=true&sort=-i&limit=5&offset=5>; rel="next"'
    seen = [item["i"] for item in body["items"]]
    while body["next"]:
        body = (await api.http.get(body["next"])).json()
        seen += [item["i"] for item in body["items"]]
    assert seen == list(range(24, -1, -2))
    last = (await api.http.get("/api/todos?even=true&sort=-i&limit=5&offset=10")).json()
    assert last["next"] is None
    beyond = (await api.http.get("/api/todos?offset=100")).json()
    assert beyond["items"] == []
    assert beyond["total"] == 25
    assert beyond["next"] is None


# --- PUT -----------------------------------------------------------------------------------


async def test_put_creates_201_then_replaces_200(api: Api) -> None:
    created = await api.http.put("/api/todos/x", json={"title": "one", "extra": True})
    assert created.status_code == 201
    assert created.headers["location"] == "/api/todos/x"
    assert created.json() == {"id": "x", "title": "one", "extra": True}
    replaced = await api.http.put("/api/todos/x", json={"id": "x", "title": "two"})
    assert replaced.status_code == 200
    assert "location" not in replaced.headers
    assert replaced.json() == {"id": "x", "title": "two"}
    assert version_of(replaced) > version_of(created)
    assert (await api.http.get("/api/todos/x")).json() == {"id": "x", "title": "two"}
    assert await api.settle(4) == [
        *change("todos", "created", {"id": "x", "title": "one", "extra": True}, version_of(created)),
        *change("todos", "updated", {"id": "x", "title": "two"}, version_of(replaced)),
    ]


async def test_put_with_a_different_id_in_the_body_is_400(api: Api) -> None:
    response = await api.http.put("/api/todos/x", json={"id": "y"})
    assert response.status_code == 400
    assert "not the URL's id" in response.json()["detail"]
    assert (await api.http.get("/api/todos/x")).status_code == 404


async def test_put_compares_the_body_id_with_the_decoded_url_id(api: Api) -> None:
    """``/api/todos/a%29b`` names the object ``a)b`` (found by the schemathesis run)."""
    response = await api.http.put("/api/todos/a%29b", json={"id": "a)b", "n": 1})
    assert response.status_code == 201, response.text
    assert (await api.http.get("/api/todos/a%29b")).json()["id"] == "a)b"


# --- PATCH ---------------------------------------------------------------------------------


async def test_patch_is_a_json_merge_patch(api: Api) -> None:
    await api.http.put("/api/todos/x", json={"title": "t", "tags": ["a"], "meta": {"a": 1, "b": 2}, "gone": 1})
    patch = {"title": "new", "tags": ["b", "c"], "meta": {"b": None, "c": 3}, "gone": None, "added": {"x": {"y": 1}}}
    response = await api.http.patch("/api/todos/x", json=patch, headers=MERGE)
    assert response.status_code == 200
    expected = {"id": "x", "title": "new", "tags": ["b", "c"], "meta": {"a": 1, "c": 3}, "added": {"x": {"y": 1}}}
    assert response.json() == expected
    assert (await api.http.get("/api/todos/x")).json() == expected
    events = await api.settle(4)
    assert events[2:] == change("todos", "updated", expected, version_of(response))


async def test_patch_accepts_application_json_too(api: Api) -> None:
    await api.http.put("/api/todos/x", json={"n": 1})
    response = await api.http.patch("/api/todos/x", content=b'{"n": 2}', headers=JSON)
    assert response.status_code == 200
    assert response.json() == {"id": "x", "n": 2}


async def test_patch_of_a_missing_object_is_404(api: Api) -> None:
    response = await api.http.patch("/api/todos/nope", json={"n": 1}, headers=MERGE)
    assert response.status_code == 404
    assert await api.quiet() == []


async def test_patch_cannot_change_or_remove_the_id(api: Api) -> None:
    await api.http.put("/api/todos/x", json={"n": 1})
    for patch in ({"id": "y"}, {"id": None}):
        response = await api.http.patch("/api/todos/x", json=patch, headers=MERGE)
        assert response.status_code == 400, patch
    same = await api.http.patch("/api/todos/x", json={"id": "x", "n": 2}, headers=MERGE)
    assert same.status_code == 200


# --- DELETE --------------------------------------------------------------------------------


async def test_delete_is_204_then_404(api: Api) -> None:
    put = await api.http.put("/api/todos/x", json={"title": "bye"})
    response = await api.http.delete("/api/todos/x")
    assert response.status_code == 204
    assert response.content == b""
    assert (await api.http.get("/api/todos/x")).status_code == 404
    assert (await api.http.delete("/api/todos/x")).status_code == 404
    events = await api.settle(4)
    deleted = events[2][1]
    assert deleted["action"] == "deleted"
    assert deleted["data"] == {"id": "x", "title": "bye"}
    assert deleted["version"] > version_of(put)
    assert events[2:] == change("todos", "deleted", {"id": "x", "title": "bye"}, deleted["version"])
    assert len(await api.quiet()) == 4
    stats = api.app.state.resources.statistics()
    assert (stats.store.writes, stats.changes_published, stats.changes_failed) == (2, 4, 0)
    assert stats.store.reads >= 1


# --- events --------------------------------------------------------------------------------


async def test_a_scripted_sequence_publishes_exactly_its_changes_in_order(api: Api) -> None:
    a = await api.http.post("/api/todos", json={"id": "a", "title": "A"})
    b = await api.http.put("/api/todos/b", json={"title": "B"})
    a2 = await api.http.patch("/api/todos/a", json={"done": True}, headers=MERGE)
    failed = await api.http.put("/api/todos/a", json={"title": "stale"}, headers={"if-match": '"999999"'})
    assert failed.status_code == 412
    d = await api.http.delete("/api/todos/b")
    assert d.status_code == 204
    other = await api.http.post("/api/notes", json={"id": "n", "text": "hi"})
    events = await api.settle(10)
    deleted_version = events[7][1]["version"]
    assert events == [
        *change("todos", "created", {"id": "a", "title": "A"}, version_of(a)),
        *change("todos", "created", {"id": "b", "title": "B"}, version_of(b)),
        *change("todos", "updated", {"id": "a", "title": "A", "done": True}, version_of(a2)),
        *change("todos", "deleted", {"id": "b", "title": "B"}, deleted_version),
        *change("notes", "created", {"id": "n", "text": "hi"}, version_of(other)),
    ]
    assert len(await api.quiet()) == 10


async def test_concurrent_writes_to_one_object_publish_in_version_order(api: Api) -> None:
    import asyncio

    await api.http.put("/api/todos/x", json={"n": 0})
    await asyncio.gather(*(api.http.put("/api/todos/x", json={"n": n}) for n in range(1, 21)))
    events = await api.settle(42)
    object_events = [event for channel, event in events if channel == "/resources/todos/x"]
    versions = [event["version"] for event in object_events]
    assert versions == sorted(versions)
    assert len(set(versions)) == 21
    final = await api.http.get("/api/todos/x")
    assert object_events[-1]["data"] == final.json()
    assert object_events[-1]["version"] == version_of(final)


async def test_clients_cannot_publish_on_resource_channels(api: Api) -> None:
    response = await api.http.post("/faye", json={"channel": "/resources/todos", "data": {"action": "deleted"}})
    [reply] = response.json()
    assert reply["successful"] is False
    assert reply["error"].startswith("403:/resources/todos:")
    response = await api.http.post("/faye", json={"channel": "/resourcesque", "data": {}})
    assert response.json()[0]["successful"] is True
    assert await api.quiet() == []


async def test_options_lists_the_allowed_methods(api: Api) -> None:
    collection = await api.http.options("/api/todos")
    assert collection.status_code == 204
    assert collection.headers["allow"] == "GET, HEAD, POST, OPTIONS"
    item = await api.http.options("/api/todos/x")
    assert item.headers["allow"] == "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"
