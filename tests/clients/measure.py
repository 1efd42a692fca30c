"""Round-trip latency and publish throughput of the Python client against our broker.

    .venv/bin/python -m tests.clients.measure [--seconds 3] [--samples 300]

Starts its own broker (the real CLI, memory engine, on a free loopback port), then per transport:

* latency: one client subscribed to a channel publishes to it and waits for its own delivery,
  one message at a time (publish -> broker -> delivery, the full round trip);
* throughput: a publisher keeps 100 publishes in flight for ``--seconds`` and counts
  acknowledgements per second; a second client counts the deliveries it receives.

Everything is bounded in time (about 2 x (seconds + a few) per transport).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time

from clients import Client
from tests.clients.support import TRANSPORTS
from tests.support.servers import start_broker

WINDOW = 100


async def latency(url: str, transport: str, samples: int) -> list[float]:
    async with Client(url, transports=TRANSPORTS[transport]) as client:
        subscription = await client.subscribe("/measure/latency")
        timings = []
        for n in range(samples + 20):
            started = time.perf_counter()
            publish = asyncio.ensure_future(client.publish("/measure/latency", n))
            message = await asyncio.wait_for(anext(subscription), 10)
            timings.append(time.perf_counter() - started)
            await publish
            assert message.data == n
        return timings[20:]  # the first ones warm up connections and caches


async def throughput(url: str, transport: str, seconds: float) -> tuple[float, float]:
    delivered = 0
    expected: int | None = None
    all_delivered = asyncio.Event()

    def count(_: object) -> None:
        nonlocal delivered
        delivered += 1
        if expected is not None and delivered >= expected:
            all_delivered.set()

    async with Client(url, transports=TRANSPORTS[transport]) as publisher, \
            Client(url, transports=TRANSPORTS[transport]) as subscriber:
        await subscriber.subscribe("/measure/throughput", count)
        acknowledged = 0
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()

        async def worker() -> None:
            nonlocal acknowledged
            while time.perf_counter() < deadline:
                await publisher.publish("/measure/throughput", {"n": acknowledged})
                acknowledged += 1

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(WINDOW))), seconds + 15)
        elapsed = time.perf_counter() - started
        expected = acknowledged
        if delivered >= expected:
            all_delivered.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_delivered.wait(), 5)
        return acknowledged / elapsed, delivered / (time.perf_counter() - started)


async def measure(url: str, seconds: float, samples: int) -> None:
    print(f"{'transport':<13} {'p50 ms':>7} {'p99 ms':>7} {'mean ms':>8} {'publish/s':>10} {'deliver/s':>10}")
    for transport in TRANSPORTS:
        timings = sorted(await latency(url, transport, samples))
        p50 = timings[len(timings) // 2] * 1000
        p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))] * 1000
        mean = statistics.fmean(timings) * 1000
        published, delivered = await throughput(url, transport, seconds)
        print(f"{transport:<13} {p50:>7.2f} {p99:>7.2f} {mean:>8.2f} {published:>10.0f} {delivered:>10.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=3.0, help="throughput run per transport (default 3)")
    parser.add_argument("--samples", type=int, default=300, help="latency samples per transport (default 300)")
    args = parser.parse_args()
    broker = start_broker()
    try:
        print(f"broker: {broker.url} (memory engine, one process); client and broker share this machine")
        asyncio.run(asyncio.wait_for(measure(broker.url, args.seconds, args.samples), 120))
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
