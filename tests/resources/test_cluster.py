"""With the Redis engine, the REST resources default to the Redis store on the same Redis: every
broker of a cluster serves the same objects, conditional writes stay exact across brokers, and a
subscriber on one broker sees the changes written through another. Also: the CLI refuses a bad
``--store`` or ``--data-dir`` at once.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.redis import RedisServer
from tests.support.servers import ROOT, BrokerProcess, start_broker


@pytest.fixture
def two_brokers(redis_server: RedisServer) -> Iterator[tuple[BrokerProcess, BrokerProcess]]:
    engine = f"{redis_server.url}?namespace=rest-{uuid.uuid4().hex[:10]}"
    one = start_broker("--engine", engine)
    try:
        two = start_broker("--engine", engine)
    except BaseException:
        one.stop()
        raise
    yield one, two
    one.stop()
    two.stop()


def bayeux(http: httpx.Client, url: str, message: dict[str, Any]) -> list[dict[str, Any]]:
    response = http.post(url, json=[message])
    assert response.status_code == 200, response.text
    replies: list[dict[str, Any]] = response.json()
    return replies


def test_every_broker_serves_the_same_objects(two_brokers: tuple[BrokerProcess, BrokerProcess]) -> None:
    one, two = two_brokers
    with httpx.Client(base_url=one.base, timeout=10) as a, httpx.Client(base_url=two.base, timeout=10) as b:
        created = a.put("/api/todos/x", json={"n": 1})
        assert created.status_code == 201
        read = b.get("/api/todos/x")
        assert read.json() == {"id": "x", "n": 1}
        assert read.headers["etag"] == created.headers["etag"]
        assert b.post("/api/todos", json=[{"id": "y"}, {"id": "z"}]).status_code == 201
        assert a.get("/api/todos").json()["total"] == 3
        assert b.delete("/api/todos/x").status_code == 204
        assert a.get("/api/todos/x").status_code == 404


def test_conflicting_puts_through_two_brokers_have_exactly_one_winner(
    two_brokers: tuple[BrokerProcess, BrokerProcess],
) -> None:
    one, two = two_brokers
    tag = httpx.put(f"{one.base}/api/todos/x", json={"writer": None}, timeout=10).headers["etag"]

    def write(writer: int) -> int:
        base = (one if writer % 2 else two).base
        return httpx.put(f"{base}/api/todos/x", json={"writer": writer}, headers={"if-match": tag},
                         timeout=10).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = sorted(pool.map(write, range(12)))
    assert statuses == [200] + [412] * 11


def test_a_subscriber_on_one_broker_sees_changes_written_through_another(
    two_brokers: tuple[BrokerProcess, BrokerProcess],
) -> None:
    one, two = two_brokers
    with httpx.Client(timeout=10) as http:
        [shake] = bayeux(http, two.url, {"channel": "/meta/handshake", "version": "1.0",
                                         "supportedConnectionTypes": ["long-polling"]})
        client_id = shake["clientId"]
        [subscribed] = bayeux(http, two.url, {"channel": "/meta/subscribe", "clientId": client_id,
                                              "subscription": "/resources/**"})
        assert subscribed["successful"] is True
        connect = {"channel": "/meta/connect", "clientId": client_id, "connectionType": "long-polling"}
        bayeux(http, two.url, connect)  # the first connect is answered at once
        created = http.put(f"{one.base}/api/todos/x", json={"n": 1})
        version = int(created.headers["etag"].strip('"'))
        delivered: list[dict[str, Any]] = []
        for _ in range(5):  # each connect is held at most until its message arrives (10 s client timeout)
            delivered += [m for m in bayeux(http, two.url, connect) if m["channel"] != "/meta/connect"]
            if len(delivered) >= 2:
                break
    event = {"action": "created", "id": "x", "data": {"id": "x", "n": 1}, "version": version}
    assert [(m["channel"], m["data"]) for m in delivered] == [("/resources/todos", event),
                                                             ("/resources/todos/x", event)]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--store", "postgres://db"], "unknown store"),
        (["--store", "sqlite:"], "needs a path"),
        (["--data-dir", "{file}/sub"], "cannot create the data directory"),
    ],
)
def test_the_cli_refuses_a_bad_store_at_once(tmp_path: Path, args: list[str], says: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory")
    command = [sys.executable, "-m", "broker", "serve", "--port", "0",
               *(arg.replace("{file}", str(blocker)) for arg in args)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode != 0
    assert says in done.stderr
    assert done.stderr.startswith("bayeux-broker: ")
