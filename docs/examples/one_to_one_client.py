"""One-to-one messaging, client side (see one_to_one_server.py): wait for the ``news`` meant for
this client alone, then answer with ``my other event``.

    python docs/examples/one_to_one_client.py http://127.0.0.1:8000/faye

It prints ``news: {"hello": "world"}`` and exits; the server prints ``my other event: {"my": "data"}``.
"""

from __future__ import annotations

import asyncio
import json
import sys

from clients import Client


async def main(url: str) -> None:
    async with Client(url) as client:
        async for message in client.subscribe(f"/private/{client.client_id}/news"):
            print(f"news: {json.dumps(message.data)}", flush=True)
            await client.publish("/service/my-other-event", {"my": "data"})
            break


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/faye"))
