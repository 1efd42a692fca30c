"""The broker under plain uvicorn, as an embedder runs it: stock protocols, no CLI fast path.

``python -m tests.support.plain_uvicorn PORT`` serves ``create_app(timeout=2)`` with uvicorn's own
WebSocket protocol, so deliveries take the plain ASGI ``send`` path, and prints the same
"listening on" line as the CLI, so the wire suite can start it like the CLI broker.
"""

from __future__ import annotations

import asyncio
import sys

import uvicorn

from broker import create_app


async def main(port: int) -> None:
    app = create_app(timeout=2, store="memory")
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio",
                            ws_ping_interval=None, lifespan="on")
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.01)
    print(f"bayeux-broker listening on http://127.0.0.1:{port}/faye", flush=True)
    await serving


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
