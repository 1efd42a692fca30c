"""The npm ``faye`` 1.4.3 Node client, subscribed to ``/resources/**``, receives exactly the change events
of a scripted sequence of REST calls: each committed write twice (collection channel, then object
channel), in the order the writes were stored, nothing for a refused write.

The broker is the real CLI with its default SQLite store; the client runs over WebSocket and over
long-polling (``tests/interop/js/faye_resources.js``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.interop.nodejs import require_node_packages, run_scenario
from tests.support.servers import BrokerProcess, start_broker

pytestmark = pytest.mark.interop

SCRIPT = "faye_resources.js"
MERGE = {"content-type": "application/merge-patch+json"}


@pytest.fixture(scope="module")
def sqlite_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    process = start_broker("--store", "sqlite", "--data-dir", str(Path(tmp_path_factory.mktemp("faye-changes"))))
    yield process
    process.stop()


def version_of(response: httpx.Response) -> int:
    return int(response.headers["etag"].strip('"'))


@dataclass
class Expected:
    """The change events the REST calls must publish, in order; ``version`` None: unknown (a delete)."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def change(self, collection: str, action: str, data: dict[str, Any], version: int | None) -> None:
        event = {"action": action, "id": data["id"], "data": data, "version": version}
        self.events += [(f"/resources/{collection}", event), (f"/resources/{collection}/{data['id']}", event)]


def run_rest_script(http: httpx.Client, todos: str, notes: str) -> Expected:
    """Create, update, patch, delete and bulk-import over HTTP; return the events that must follow."""
    expected = Expected()

    def written(response: httpx.Response, status: int, collection: str, action: str) -> dict[str, Any]:
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()
        expected.change(collection, action, body, version_of(response))
        return body

    written(http.post(f"/api/{todos}", json={"id": "a", "title": "buy milk"}), 201, todos, "created")
    generated = written(http.post(f"/api/{todos}", json={"title": "no id given"}), 201, todos, "created")
    assert generated["id"] != "a"
    written(http.put(f"/api/{todos}/b", json={"title": "call Bob"}), 201, todos, "created")
    tag = http.get(f"/api/{todos}/a").headers["etag"]
    written(http.put(f"/api/{todos}/a", json={"title": "buy oat milk"}, headers={"if-match": tag}), 200, todos,
            "updated")
    patched = written(http.patch(f"/api/{todos}/a", json={"done": True}, headers=MERGE), 200, todos, "updated")
    assert patched == {"id": "a", "title": "buy oat milk", "done": True}
    # refused writes publish nothing
    assert http.put(f"/api/{todos}/a", json={"title": "stale"}, headers={"if-match": tag}).status_code == 412
    assert http.post(f"/api/{todos}", json=[{"id": "x"}, 5]).status_code == 400
    assert http.post(f"/api/{todos}", json={"id": "a"}).status_code == 409
    # a bulk import: one change per object, in the order of the array
    imported = http.post(f"/api/{todos}", json=[{"id": "c", "title": "C", "tags": ["home"]}, {"id": "d"},
                                                {"title": "imported without id"}])
    assert imported.status_code == 201, imported.text
    for item in imported.json():
        expected.change(todos, "created", item, version_of(http.get(f"/api/{todos}/{item['id']}")))
    assert http.delete(f"/api/{todos}/b").status_code == 204
    expected.change(todos, "deleted", {"id": "b", "title": "call Bob"}, None)
    written(http.patch(f"/api/{todos}/c", json={"title": None, "tags": ["work"]}, headers=MERGE), 200, todos,
            "updated")
    last = http.get(f"/api/{todos}/a")
    assert http.delete(f"/api/{todos}/a", headers={"if-match": last.headers["etag"]}).status_code == 204
    expected.change(todos, "deleted", last.json(), None)
    written(http.post(f"/api/{notes}", json={"id": "n1", "text": "another collection"}), 201, notes, "created")
    return expected


@pytest.mark.parametrize("transport", ["websocket", "long-polling"])
def test_a_faye_client_receives_the_exact_changes_of_rest_calls(sqlite_broker: BrokerProcess, transport: str) -> None:
    require_node_packages("faye")
    todos, notes = f"todos-{transport}", f"notes-{transport}"
    with run_scenario(SCRIPT, sqlite_broker.url, "changes", transport, deadline=30) as run:
        run.wait_for(lambda event: event.get("event") == "step" and event.get("name") == "subscribed")
        with httpx.Client(base_url=sqlite_broker.base, timeout=10) as http:
            expected = run_rest_script(http, todos, notes)
        run.send_line(str(len(expected.events)))
        result = run.finish(30)
    assert result.get("ok") is True, f"{result.get('error')}\n{run.transcript()}"
    got = [(event["channel"], event["data"]) for event in run.received("watcher", "/resources/**")]
    assert result["count"] == len(got) == len(expected.events) == 24, run.transcript()
    # everything but the versions of deletes is known in advance, exactly
    assert [(channel, {**event, "version": None}) for channel, event in got] == [
        (channel, {**event, "version": None}) for channel, event in expected.events]
    for (_, event), (_, want) in zip(got, expected.events, strict=True):
        if want["version"] is not None:
            assert event["version"] == want["version"], (event, want)
    # versions grow in the order of the writes (each change's two events carry the same one)
    versions = [event["version"] for _, event in got]
    assert versions[0::2] == versions[1::2]
    assert versions[0::2] == sorted(set(versions[0::2]))
