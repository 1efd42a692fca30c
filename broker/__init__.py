"""bayeux-broker: a faye-compatible Bayeux broker on Starlette/uvicorn (the I/O shell)."""

from broker.app import create_app
from broker.config import Settings
from broker.engines import Engine, MemoryEngine
from broker.extensions import Context, Extension
from broker.server import Broker

__all__ = ["Broker", "Context", "Engine", "Extension", "MemoryEngine", "Settings", "create_app"]
__version__ = "0.1.0"
