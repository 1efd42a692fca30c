"""The README's embedding snippet runs as written, and its authorizer does what the README says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from broker.extensions import Context
from broker.request_state import RequestState
from protocol.connection_types import ConnectionType

pytestmark = pytest.mark.anyio

README = Path(__file__).resolve().parents[1] / "README.md"


def _embedding_snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    (snippet,) = [block for block in blocks if "create_app(" in block]
    return snippet


async def test_the_embedding_snippet_builds_an_app_that_refuses_a_handshake_without_the_token() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(_embedding_snippet(), str(README), "exec"), namespace)
    broker = namespace["broker"]
    context = Context(transport=ConnectionType.LONG_POLLING)
    handshake = {"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"]}
    await broker.start()
    try:
        (refused,) = await broker.process([dict(handshake)], RequestState(context))
        assert refused["error"] == "403::Authentication required"
        (accepted,) = await broker.process([{**handshake, "ext": {"token": "s3cret"}}], RequestState(context))
        assert accepted["successful"] is True
    finally:
        await broker.close()
