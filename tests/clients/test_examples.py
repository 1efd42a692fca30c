"""docs/examples run as users run them: real processes against real servers on loopback."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

from tests.support.servers import ROOT, BrokerProcess

EXAMPLES = ROOT / "docs" / "examples"


def run_example(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=30, check=False)


def test_pubsub_example_receives_its_hello_world(broker: BrokerProcess) -> None:
    result = run_example("pubsub.py", broker.url)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == 'received on /messages: {"text": "Hello world"}\n'


def test_one_to_one_example_news_and_my_other_event() -> None:
    server = subprocess.Popen([sys.executable, str(EXAMPLES / "one_to_one_server.py"), "0"], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    watchdog = threading.Timer(40, server.kill)  # a blocked readline ends (and fails) instead of hanging
    watchdog.start()
    try:
        assert server.stdout is not None
        listening = server.stdout.readline()
        assert listening.startswith("listening on http://127.0.0.1:"), listening
        url = listening.split()[-1]
        first = run_example("one_to_one_client.py", url)
        assert (first.returncode, first.stderr) == (0, "")
        assert first.stdout == 'news: {"hello": "world"}\n'
        assert server.stdout.readline() == 'my other event: {"my": "data"}\n'
        second = run_example("one_to_one_client.py", url)  # every client gets its own news
        assert second.stdout == 'news: {"hello": "world"}\n'
        assert server.stdout.readline() == 'my other event: {"my": "data"}\n'
        server.send_signal(signal.SIGTERM)
        assert server.wait(15) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once shut down
    finally:
        watchdog.cancel()
        if server.poll() is None:
            server.kill()
            server.wait(5)
        if server.stdout is not None:
            server.stdout.close()
