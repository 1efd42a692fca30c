"""``bayeux-broker publish`` and ``bayeux-broker subscribe``: the Python client on the command line.

``publish URL CHANNEL JSON`` sends one message and exits once the server acknowledges it (status 0),
or refuses it (status 1, the Bayeux error on stderr). ``subscribe URL CHANNEL...`` prints one JSON
line per delivered message, ``{"channel": ..., "data": ...}`` (plus ``ext`` when present), until
interrupted (SIGINT or SIGTERM, status 0). Both work against any faye-compatible server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import Any

__all__ = ["COMMANDS", "add_parsers", "run"]

COMMANDS = frozenset({"publish", "subscribe"})
TRANSPORTS = {"websocket": ("websocket", "long-polling"), "long-polling": ("long-polling",)}


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the two sub-commands to ``bayeux-broker``'s sub-parsers."""
    publish = commands.add_parser("publish", help="publish one message to a Bayeux server")
    publish.add_argument("url", help="Bayeux endpoint, e.g. http://127.0.0.1:8000/faye")
    publish.add_argument("channel", help="channel name, e.g. /chat/room")
    publish.add_argument("data", help="the message data, as JSON (e.g. '{\"text\": \"hi\"}')")
    subscribe = commands.add_parser("subscribe", help="print messages from a Bayeux server, one JSON line each")
    subscribe.add_argument("url", help="Bayeux endpoint, e.g. http://127.0.0.1:8000/faye")
    subscribe.add_argument("channels", nargs="+", metavar="CHANNEL", help="channel or pattern (/chat/*, /chat/**)")
    for parser in (publish, subscribe):
        parser.add_argument("--transport", choices=sorted(TRANSPORTS), default="websocket",
                            help="websocket (falls back to long-polling when it cannot open) or long-polling")
        parser.add_argument("--connect-timeout", type=float, default=10.0,
                            help="seconds to wait for the server before giving up (default 10)")


def run(args: argparse.Namespace) -> int:
    """Run ``publish`` or ``subscribe``; return the exit status."""
    from clients import ClientError

    try:
        if args.command == "publish":
            try:
                data = json.loads(args.data)
            except ValueError as exc:
                print(f"bayeux-broker: DATA is not JSON: {exc}", file=sys.stderr)
                return 2
            return asyncio.run(_publish(args, data))
        return asyncio.run(_subscribe(args))
    except TimeoutError:
        print(f"bayeux-broker: no answer from {args.url} within {args.connect_timeout:g} s", file=sys.stderr)
    except ClientError as exc:
        print(f"bayeux-broker: {exc}", file=sys.stderr)
    return 1


def _client(args: argparse.Namespace) -> Any:
    from clients import Client

    return Client(args.url, transports=TRANSPORTS[args.transport])


async def _publish(args: argparse.Namespace, data: Any) -> int:
    async with asyncio.timeout(args.connect_timeout), _client(args) as client:
        await client.publish(args.channel, data)
    return 0


async def _subscribe(args: argparse.Namespace) -> int:
    from clients import Message

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def show(message: Message) -> None:
        line: dict[str, Any] = {"channel": message.channel, "data": message.data}
        if message.ext is not None:
            line["ext"] = message.ext
        print(json.dumps(line, separators=(",", ":"), ensure_ascii=False), flush=True)

    client = _client(args)
    try:
        async with asyncio.timeout(args.connect_timeout):
            await client.connect()
        for channel in args.channels:
            await client.subscribe(channel, show)
        print(f"# subscribed to {' '.join(args.channels)}", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await client.disconnect()
    return 0
