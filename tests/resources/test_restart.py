"""The SQLite store keeps every object across a restart of the broker process (``bayeux-broker serve
--store sqlite --data-dir DIR``): after a clean stop (SIGTERM) and after a crash (SIGKILL), since
a write is on disk before its response is sent (WAL, ``synchronous=FULL``).
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.servers import BrokerProcess, start_broker

MERGE = {"content-type": "application/merge-patch+json"}


def snapshot(base: str) -> dict[str, tuple[dict[str, Any], str]]:
    """Every object of every test collection with its ETag, read one by one over HTTP."""
    objects: dict[str, tuple[dict[str, Any], str]] = {}
    with httpx.Client(base_url=base, timeout=10) as http:
        for collection in ("todos", "notes"):
            listing = http.get(f"/api/{collection}", params={"limit": 1000})
            assert listing.status_code == 200
            for item in listing.json()["items"]:
                one = http.get(f"/api/{collection}/{item['id']}")
                assert one.json() == item
                objects[f"{collection}/{item['id']}"] = (item, one.headers["etag"])
    return objects


def write_everything(base: str) -> None:
    """Imports, creates, replaces, patches and deletes; every answer checked."""
    with httpx.Client(base_url=base, timeout=10) as http:
        imported = http.post("/api/todos", json=[{"id": f"t{i:03d}", "n": i, "tags": ["a", {"b": i}]}
                                                 for i in range(200)])
        assert imported.status_code == 201
        for i in range(0, 200, 7):
            assert http.put(f"/api/todos/t{i:03d}", json={"n": -i, "title": "é ✓ 😀"}).status_code == 200
        for i in range(1, 200, 11):
            assert http.patch(f"/api/todos/t{i:03d}", json={"done": True, "tags": None}, headers=MERGE).status_code \
                == 200
        for i in range(3, 200, 13):
            assert http.delete(f"/api/todos/t{i:03d}").status_code == 204
        for i in range(20):
            assert http.post("/api/notes", json={"text": f"note {i}"}).status_code == 201


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGKILL], ids=["stop", "crash"])
def test_a_restarted_broker_keeps_every_object(tmp_path: Path, stop_with: signal.Signals) -> None:
    data_dir = str(tmp_path / "data")
    first: BrokerProcess = start_broker("--store", "sqlite", "--data-dir", data_dir)
    try:
        write_everything(first.base)
        before = snapshot(first.base)
    finally:
        status = first.stop(stop_with)
    assert status == (0 if stop_with == signal.SIGTERM else -signal.SIGKILL)
    assert len(before) == 200 - len(range(3, 200, 13)) + 20
    assert (tmp_path / "data" / "resources.sqlite3").is_file()

    second = start_broker("--store", "sqlite", "--data-dir", data_dir)
    try:
        assert snapshot(second.base) == before
        with httpx.Client(base_url=second.base, timeout=10) as http:
            # ETags from before the restart still guard writes, and versions go on growing
            tag = before["todos/t000"][1]
            assert http.put("/api/todos/t000", json={"after": True}, headers={"if-match": '"1"'}).status_code == 412
            replaced = http.put("/api/todos/t000", json={"after": True}, headers={"if-match": tag})
            assert replaced.status_code == 200
            newest = max(int(etag.strip('"')) for _, etag in before.values())
            assert int(replaced.headers["etag"].strip('"')) > newest
            assert http.get("/api/todos/t003").status_code == 404  # deletes stay deleted
    finally:
        assert second.stop() == 0


def test_an_explicit_sqlite_path(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / "store.db"
    first = start_broker("--store", f"sqlite:{path}")
    try:
        with httpx.Client(base_url=first.base, timeout=10) as http:
            assert http.put("/api/todos/x", json={"kept": True}).status_code == 201
    finally:
        first.stop()
    assert path.is_file()
    second = start_broker("--store", f"sqlite:{path}")
    try:
        with httpx.Client(base_url=second.base, timeout=10) as http:
            assert http.get("/api/todos/x").json() == {"id": "x", "kept": True}
    finally:
        second.stop()
