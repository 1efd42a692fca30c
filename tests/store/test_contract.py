"""The store contract (``broker.testing.stores``), run on every store that ships."""

from __future__ import annotations

from broker.testing.stores import *  # noqa: F403  (the suite and its fixtures)
