"""``bayeux-broker serve``: run the broker under uvicorn (also ``python -m broker``).

Prints where it listens, answers pending long-polls and closes sockets on SIGINT/SIGTERM
(exit status 0), and exits non-zero with a one-line reason on a bad option or a busy port.
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

import uvicorn

from broker import cli_client
from broker.app import create_app, default_store
from broker.config import Settings
from broker.engines import Engine, engine_from_url
from broker.server import Broker
from broker.store import Store, store_from_url

__all__ = ["main"]

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _positive(kind: type[float] | type[int]) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bayeux-broker", description="A faye-compatible Bayeux broker.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the broker")
    defaults = Settings()
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000; 0 picks a free one)")
    serve.add_argument("--mount", default=defaults.mount, help="path of the Bayeux endpoint (default /faye)")
    serve.add_argument("--timeout", type=_positive(float), default=defaults.timeout,
                       help="connect hold time, seconds (default 60)")
    serve.add_argument("--interval", type=float, default=defaults.interval,
                       help="advice interval, seconds (default 0)")
    serve.add_argument("--ping", type=_positive(float), default=None,
                       help="WebSocket ping every SECONDS (default: none)")
    serve.add_argument("--engine", default="memory",
                       help="'memory' (default) or redis://HOST:PORT/DB[?namespace=NAME] to run as a cluster")
    serve.add_argument("--store", default=None,
                       help="REST resources store: 'sqlite' (default: a file in --data-dir), sqlite:PATH, 'memory', "
                            "or redis://HOST:PORT/DB (the default with a Redis engine: the engine's Redis)")
    serve.add_argument("--data-dir", default="data",
                       help="directory of the SQLite store, created if missing (default ./data)")
    serve.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    serve.add_argument("--no-demo", dest="demo", action="store_false",
                       help="do not serve the demo page (chat and live REST table) at /")
    limits = serve.add_argument_group("limits")
    for name, help_text in (
        ("max_body_bytes", "largest HTTP body or WebSocket frame"),
        ("max_message_bytes", "largest published message (encoded JSON)"),
        ("max_batch_messages", "most messages in one batch"),
        ("max_channel_length", "longest channel name"),
        ("max_subscriptions", "most subscriptions per client"),
        ("max_queue", "most queued messages per client; past it the client is disconnected"),
    ):
        flag = "--" + name.replace("_", "-")
        limits.add_argument(flag, dest=name, type=_positive(int), default=getattr(defaults, name),
                            help=f"{help_text} (default {getattr(defaults, name)})")
    cli_client.add_parsers(commands)
    return parser


class _Server(uvicorn.Server):
    """Answers held connects before uvicorn waits for open connections to finish."""

    broker: Broker
    banner = ""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # printed once the signal handlers are in place, so a stop right after it is clean
        print(self.banner, flush=True)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.broker.close()
        await super().shutdown(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal after shutting down; a requested stop is a clean exit (status 0)
        self._captured_signals.clear()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY only then
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"bayeux-broker: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _store(args: argparse.Namespace, engine: Engine) -> Store:
    """``--store``; by default the engine's shared store (Redis), else SQLite in ``--data-dir``."""
    if args.store is None:
        store = default_store(engine, fallback="sqlite", data_dir=args.data_dir)
    else:
        store = store_from_url(args.store, data_dir=args.data_dir)
    path = getattr(store, "path", None)
    if isinstance(path, Path):
        try:  # a bad directory is a one-line error here rather than a failed startup later
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"cannot create the data directory {path.parent}: {exc.strerror or exc}") from None
    return store


def serve(args: argparse.Namespace) -> int:
    try:
        settings = Settings(
            mount=args.mount,
            timeout=args.timeout,
            interval=args.interval,
            ping=args.ping,
            max_body_bytes=args.max_body_bytes,
            max_message_bytes=args.max_message_bytes,
            max_batch_messages=args.max_batch_messages,
            max_channel_length=args.max_channel_length,
            max_subscriptions=args.max_subscriptions,
            max_queue=args.max_queue,
        )
        engine = engine_from_url(args.engine)
        store = _store(args, engine)
    except ValueError as exc:
        raise SystemExit(f"bayeux-broker: {exc}") from None
    app = create_app(settings=settings, engine=engine, store=store, demo=args.demo)
    sock = _bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(
        app,
        log_level=args.log_level,
        ws_ping_interval=settings.ping,
        ws_ping_timeout=settings.ping,
        ws_max_size=settings.max_body_bytes,
        # faye compresses nothing by default; per-recipient deflate would dominate fan-out cost
        ws="broker.transports.uvicorn_ws:FastWebSocketProtocol",
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=5,
    )
    server = _Server(config)
    server.broker = app.state.broker
    server.banner = f"bayeux-broker listening on http://{shown}:{port}{settings.mount_path or '/'}"
    server.run(sockets=[sock])  # uvicorn's own runner picks uvloop when it is installed
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command == "serve":
        return serve(args)
    if args.command in cli_client.COMMANDS:
        return cli_client.run(args)
    return 2  # pragma: no cover - argparse enforces the sub-command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
