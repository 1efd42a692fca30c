"""Optimistic concurrency: versions, ``ETag``, ``If-Match`` (412) and ``If-None-Match`` (304, create-only)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from broker.store.sqlite import SQLiteStore
from tests.resources.conftest import Api, MakeApi, assert_problem, version_of

pytestmark = pytest.mark.anyio

MERGE = {"content-type": "application/merge-patch+json"}


def tag(version: int) -> str:
    return f'"{version}"'


async def test_every_write_changes_the_etag(api: Api) -> None:
    tags = [version_of(await api.http.put("/api/todos/x", json={"n": n})) for n in range(3)]
    tags.append(version_of(await api.http.patch("/api/todos/x", json={"n": 9}, headers=MERGE)))
    assert tags == sorted(tags)
    assert len(set(tags)) == 4
    assert version_of(await api.http.get("/api/todos/x")) == tags[-1]


async def test_if_none_match_on_get_gives_304(api: Api) -> None:
    version = version_of(await api.http.put("/api/todos/x", json={"n": 1}))
    for header in (tag(version), f"W/{tag(version)}", f'"1234", {tag(version)}', "*"):
        response = await api.http.get("/api/todos/x", headers={"if-none-match": header})
        assert response.status_code == 304, header
        assert response.content == b""
        assert response.headers["etag"] == tag(version)
    assert (await api.http.get("/api/todos/x", headers={"if-none-match": '"1234"'})).status_code == 200
    await api.http.put("/api/todos/x", json={"n": 2})
    changed = await api.http.get("/api/todos/x", headers={"if-none-match": tag(version)})
    assert changed.status_code == 200
    assert changed.json()["n"] == 2


async def test_if_match_on_get(api: Api) -> None:
    version = version_of(await api.http.put("/api/todos/x", json={"n": 1}))
    assert (await api.http.get("/api/todos/x", headers={"if-match": tag(version)})).status_code == 200
    stale = tag(version + 1000)
    assert_problem(await api.http.get("/api/todos/x", headers={"if-match": stale}), 412, "precondition-failed")


async def test_put_with_a_stale_if_match_is_412_and_writes_nothing(api: Api) -> None:
    first = version_of(await api.http.put("/api/todos/x", json={"n": 1}))
    second = version_of(await api.http.put("/api/todos/x", json={"n": 2}, headers={"if-match": tag(first)}))
    stale = await api.http.put("/api/todos/x", json={"n": 3}, headers={"if-match": tag(first)})
    assert_problem(stale, 412, "precondition-failed", mentions="changed")
    current = await api.http.get("/api/todos/x")
    assert current.json()["n"] == 2
    assert version_of(current) == second
    assert len(await api.quiet()) == 4


async def test_weak_tags_never_match_if_match(api: Api) -> None:
    version = version_of(await api.http.put("/api/todos/x", json={"n": 1}))
    response = await api.http.put("/api/todos/x", json={"n": 2}, headers={"if-match": f"W/{tag(version)}"})
    assert response.status_code == 412


async def test_if_match_star_requires_existence(api: Api) -> None:
    assert (await api.http.put("/api/todos/x", json={}, headers={"if-match": "*"})).status_code == 412
    assert (await api.http.get("/api/todos/x")).status_code == 404
    await api.http.put("/api/todos/x", json={})
    assert (await api.http.put("/api/todos/x", json={"n": 1}, headers={"if-match": "*"})).status_code == 200


async def test_if_none_match_star_creates_only(api: Api) -> None:
    created = await api.http.put("/api/todos/x", json={"n": 1}, headers={"if-none-match": "*"})
    assert created.status_code == 201
    again = await api.http.put("/api/todos/x", json={"n": 2}, headers={"if-none-match": "*"})
    assert_problem(again, 412, "precondition-failed")
    assert (await api.http.get("/api/todos/x")).json()["n"] == 1


async def test_if_match_list_matches_any(api: Api) -> None:
    version = version_of(await api.http.put("/api/todos/x", json={"n": 1}))
    header = f'"100000", "200000",{tag(version)}'
    response = await api.http.put("/api/todos/x", json={"n": 2}, headers={"if-match": header})
    assert response.status_code == 200


async def test_entity_tags_may_hold_commas_and_lists_empty_elements(api: Api) -> None:
    """RFC 9110 §8.8.3: an opaque tag may contain ','; §5.6.1: empty list elements are ignored."""
    version = version_of(await api.http.put("/api/todos/x", json={"n": 1}))
    for header in ('"a,b"', 'W/"1,2", "x,"', ', "a,", ,'):
        assert (await api.http.get("/api/todos/x", headers={"if-none-match": header})).status_code == 200, header
        assert (await api.http.put("/api/todos/x", json={}, headers={"if-match": header})).status_code == 412, header
    matching = f'"a,b", ,{tag(version)} ,'
    assert (await api.http.get("/api/todos/x", headers={"if-none-match": matching})).status_code == 304
    assert (await api.http.put("/api/todos/x", json={"n": 2}, headers={"if-match": matching})).status_code == 200


async def test_patch_and_delete_check_if_match(api: Api) -> None:
    first = version_of(await api.http.put("/api/todos/x", json={"n": 1}))
    second = version_of(await api.http.patch("/api/todos/x", json={"n": 2}, headers={**MERGE, "if-match": tag(first)}))
    assert (await api.http.patch("/api/todos/x", json={"n": 3},
                                 headers={**MERGE, "if-match": tag(first)})).status_code == 412
    assert (await api.http.delete("/api/todos/x", headers={"if-match": tag(first)})).status_code == 412
    assert (await api.http.get("/api/todos/x")).json()["n"] == 2
    assert (await api.http.delete("/api/todos/x", headers={"if-match": tag(second)})).status_code == 204


async def test_conditions_on_an_absent_object(api: Api) -> None:
    # RFC 9110 §13.2.2: the precondition is evaluated first, so If-Match on nothing is 412, not 404
    assert (await api.http.delete("/api/todos/x", headers={"if-match": '"5"'})).status_code == 412
    assert (await api.http.patch("/api/todos/x", json={}, headers={**MERGE, "if-match": "*"})).status_code == 412
    assert (await api.http.delete("/api/todos/x", headers={"if-none-match": "*"})).status_code == 404
    assert (await api.http.put("/api/todos/x", json={}, headers={"if-match": '"5"'})).status_code == 412


async def test_old_etags_do_not_match_a_recreated_object(api: Api) -> None:
    old = version_of(await api.http.put("/api/todos/x", json={"incarnation": 1}))
    await api.http.delete("/api/todos/x")
    await api.http.put("/api/todos/x", json={"incarnation": 2})
    response = await api.http.put("/api/todos/x", json={"overwrite": True}, headers={"if-match": tag(old)})
    assert response.status_code == 412


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_concurrent_conflicting_writes_with_if_match_have_exactly_one_winner(api: Api, method: str) -> None:
    """Two writers never silently overwrite each other: of N writers holding the same ETag, one wins."""
    version = version_of(await api.http.put("/api/todos/x", json={"writer": None}))
    writers = 16

    async def write(writer: int) -> httpx.Response:
        # each writer on its own connection, so the requests really are concurrent on the server
        async with httpx.AsyncClient(base_url=api.base, timeout=10) as http:
            headers = {"if-match": tag(version), **(MERGE if method == "PATCH" else {})}
            return await http.request(method, "/api/todos/x", json={"writer": writer}, headers=headers)

    responses = await asyncio.gather(*(write(n) for n in range(writers)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [412] * (writers - 1)
    [winner] = [response for response in responses if response.status_code == 200]
    final = await api.http.get("/api/todos/x")
    assert final.json() == winner.json()
    assert version_of(final) == version_of(winner)
    events = await api.quiet(0.1)
    assert [event["action"] for channel, event in events if channel == "/resources/todos/x"] == ["created", "updated"]


async def test_concurrent_conflicting_puts_across_two_brokers_on_one_sqlite_file(
    make_api: MakeApi, tmp_path: Path
) -> None:
    """Two brokers with their own connection to one SQLite file: still exactly one writer wins."""
    path = tmp_path / "shared.sqlite3"
    async with make_api(store=SQLiteStore(path)) as one, make_api(store=SQLiteStore(path)) as two:
        version = version_of(await one.http.put("/api/todos/x", json={"n": 0}))
        responses = await asyncio.gather(*(
            (one if n % 2 else two).http.put("/api/todos/x", json={"n": n}, headers={"if-match": tag(version)})
            for n in range(1, 11)))
        assert sorted(response.status_code for response in responses) == [200] + [412] * 9
