"""``bayeux-broker publish`` and ``bayeux-broker subscribe`` (docs/cli.md), run as real processes
against a broker started with the real CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

from tests.support.servers import ROOT, BrokerProcess, free_port


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "broker", *args]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli(*args), cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)


def test_subscribe_prints_one_json_line_per_message_until_interrupted(broker: BrokerProcess) -> None:
    subscriber = subprocess.Popen(cli("subscribe", broker.url, "/cli/*", "/other"), cwd=ROOT, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watchdog = threading.Timer(40, subscriber.kill)  # a blocked readline ends (and fails) instead of hanging
    watchdog.start()
    try:
        assert subscriber.stderr is not None
        assert subscriber.stderr.readline().startswith("# subscribed to /cli/* /other")
        published = run("publish", broker.url, "/cli/a", '{"text": "héllo", "n": 1}')
        assert (published.returncode, published.stderr) == (0, "")
        assert run("publish", "--transport", "long-polling", broker.url, "/other", "[1, 2]").returncode == 0
        assert subscriber.stdout is not None
        lines = [json.loads(subscriber.stdout.readline()) for _ in range(2)]
        assert lines == [{"channel": "/cli/a", "data": {"text": "héllo", "n": 1}},
                         {"channel": "/other", "data": [1, 2]}]
        subscriber.send_signal(signal.SIGINT)
        assert subscriber.wait(15) == 0
    finally:
        watchdog.cancel()
        if subscriber.poll() is None:
            subscriber.kill()
            subscriber.wait(5)
        for stream in (subscriber.stdout, subscriber.stderr):
            if stream is not None:
                stream.close()


def test_refused_publish_exits_1_with_the_bayeux_error(broker: BrokerProcess) -> None:
    result = run("publish", broker.url, "/cli/*", "1")
    assert result.returncode == 1
    assert result.stderr.strip() == "bayeux-broker: 405:/cli/*:Invalid channel"


def test_refused_subscribe_exits_1(broker: BrokerProcess) -> None:
    result = run("subscribe", broker.url, "/service/x")
    assert result.returncode == 1
    assert "403:/service/x:Forbidden channel" in result.stderr


def test_data_must_be_json(broker: BrokerProcess) -> None:
    result = run("publish", broker.url, "/cli/a", "{not json")
    assert result.returncode == 2
    assert "DATA is not JSON" in result.stderr


def test_unreachable_server_gives_up_after_the_connect_timeout() -> None:
    started = time.monotonic()
    result = run("publish", "--connect-timeout", "1", f"http://127.0.0.1:{free_port()}/faye", "/a", "1")
    assert result.returncode == 1
    assert "no answer from" in result.stderr
    assert time.monotonic() - started < 15
