"""One-to-one messaging, server side: each client gets a ``news`` message meant for it alone and
answers with ``my other event``, which a server-side handler receives.

How it maps onto Bayeux:

* a client's private channel is ``/private/<its clientId>/news``; an extension refuses any other
  client's subscription to it, so nobody can listen in;
* when a client subscribes to its own channel (the ``subscribe`` monitoring event), the server
  publishes ``{"hello": "world"}`` there;
* the client answers on ``/service/my-other-event``. ``/service/**`` channels cannot be subscribed
  to by remote clients, only by the server-side client (``broker.client()``), so the answer goes
  to the server alone.

Run::

    python docs/examples/one_to_one_server.py 8000
    python docs/examples/one_to_one_client.py http://127.0.0.1:8000/faye
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from typing import Any

import uvicorn

from broker import Context, Extension, create_app
from clients.subscription import Message as Delivered

NEWS = "/private/{client_id}/news"
ANSWERS = "/service/my-other-event"


class OwnPrivateChannelOnly(Extension):
    """Refuse subscriptions to ``/private/<id>/...`` unless ``<id>`` is the subscriber's own clientId."""

    def incoming(self, message: dict[str, Any], context: Context) -> dict[str, Any]:
        if message.get("channel") == "/meta/subscribe":
            wanted = message.get("subscription")
            own = f"/private/{message.get('clientId')}/"
            for channel in wanted if isinstance(wanted, list) else [wanted]:
                if isinstance(channel, str) and channel.startswith("/private/") and not channel.startswith(own):
                    message["error"] = "403::Not your channel"
        return message


app = create_app(extensions=[OwnPrivateChannelOnly()], resources=False)
broker = app.state.broker
background: set[asyncio.Task[Any]] = set()


def on_subscribe(client_id: str, channel: str) -> None:
    """A client subscribed to its own news channel: send it the news (faye's ``subscribe`` event)."""
    if channel == NEWS.format(client_id=client_id):
        task = asyncio.get_running_loop().create_task(broker.publish(channel, {"hello": "world"}))
        background.add(task)
        task.add_done_callback(background.discard)


async def my_other_event(message: Delivered) -> None:
    print(f"my other event: {json.dumps(message.data)}", flush=True)


async def main(port: int) -> None:
    broker.on("subscribe", on_subscribe)
    await broker.start()
    await broker.client().subscribe(ANSWERS, my_other_event)
    sock = socket.create_server(("127.0.0.1", port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}/faye", flush=True)
    await server.serve(sockets=[sock])


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8000))
