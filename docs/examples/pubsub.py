"""Publish/subscribe with bayeux-broker: subscribe to /messages, publish {"text": "Hello world"}.

Start a broker (``bayeux-broker serve``), then run::

    python docs/examples/pubsub.py http://127.0.0.1:8000/faye

It prints ``received on /messages: {"text": "Hello world"}`` and exits.
"""

from __future__ import annotations

import asyncio
import json
import sys

from clients import Client


async def main(url: str) -> None:
    async with Client(url) as client:
        messages = await client.subscribe("/messages")  # returns once the broker acknowledged it
        await client.publish("/messages", {"text": "Hello world"})  # returns once acknowledged
        async for message in messages:
            print(f"received on {message.channel}: {json.dumps(message.data)}", flush=True)
            break


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/faye"))
