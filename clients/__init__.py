"""Bayeux clients: the asyncio Python client and the browser client (later releases)."""

__all__: list[str] = []
