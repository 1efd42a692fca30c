"""The engine contract (``broker.testing.engines``), run on every engine that ships."""

from __future__ import annotations

from broker.testing.engines import *  # noqa: F403  (the suite and its fixtures)
