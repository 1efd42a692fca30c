"""Schemathesis against ``/api/openapi.json`` of a real broker (``bayeux-broker serve`` under uvicorn,
SQLite store, free loopback port): generated requests, valid and invalid, never get a server error,
every response conforms to the document (status, media type, headers, body schema), invalid
requests are refused and valid ones accepted.

Schemathesis builds its tests when pytest collects this module, before any broker runs, so it
reads the document from :func:`openapi_bytes`; the first test checks that the broker serves
exactly that document. Valid requests may still be refused for reasons JSON Schema cannot state:
a failed precondition (412), an id that exists (409) or not (404), and a PUT whose body's id is
not the URL's (400, documented in the operation's description). The run is bounded: a hundred
examples per operation, no example database, no deadline (a write waits for SQLite's fsync,
whose time varies on a shared machine).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from broker.resources.openapi import openapi_bytes, openapi_document
from tests.support.servers import BrokerProcess, start_broker

MAX_EXAMPLES = 100
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "412"]
"""What a valid request may get (positive_data_acceptance): the answers that depend on state."""

CONFIG = SchemathesisConfig.from_dict({"checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}}})
schema = schemathesis.openapi.from_dict(orjson.loads(openapi_bytes(prefix="/api")), config=CONFIG)


@pytest.fixture(scope="module")
def fuzzed_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    data = Path(tmp_path_factory.mktemp("fuzz"))
    process = start_broker("--store", "sqlite", "--data-dir", str(data))
    yield process
    assert process.stop() == 0


def test_the_broker_serves_the_fuzzed_document(fuzzed_broker: BrokerProcess) -> None:
    response = httpx.get(f"{fuzzed_broker.base}/api/openapi.json", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == openapi_document(prefix="/api")
    assert response.json()["openapi"].startswith("3.1")


def _body_id_differs(case: schemathesis.Case) -> bool:
    """A PUT whose body names another id than the URL: valid JSON Schema, refused with 400.

    schemathesis keeps path parameters as they go on the wire (``)`` as ``%29``); the broker
    compares the body's id with the decoded one.
    """
    body = case.body
    path_id = (case.path_parameters or {}).get("id")
    return (case.method.upper() == "PUT" and isinstance(body, dict) and "id" in body
            and (not isinstance(path_id, str) or body["id"] != unquote(path_id)))


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_generated_requests_get_no_server_error_and_conforming_responses(
    case: schemathesis.Case, fuzzed_broker: BrokerProcess
) -> None:
    excluded = [positive_data_acceptance] if _body_id_differs(case) else []
    response = case.call_and_validate(base_url=fuzzed_broker.base, timeout=10, excluded_checks=excluded)
    if excluded:
        assert response.status_code in (400, 413, 415), response.text
