"""Conformance suites for the broker's seams, for third-party implementations (as ``trio.testing``).

- :mod:`broker.testing.engines`: the engine contract; provide an ``engine_maker`` fixture.
- :mod:`broker.testing.stores`: the store contract; provide a ``store_maker`` fixture.

Each is a pytest module: import it into a test module with ``from broker.testing.engines import *``
and provide the maker fixture. They need the test dependencies (pytest, anyio).
"""
