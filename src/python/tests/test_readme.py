"""The README's "From Python" examples, run as they stand against a broker.

As tests/client/readme_example.sh keeps the C example honest: the blocks
are taken from README.md itself, so the code people copy is the code that
runs here. The request/reply pair runs only when the daemon has REQ (and
OPT meta, which the service needs for the reply topic).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import udsbroker

ROOT = Path(__file__).resolve().parents[3]


def python_blocks() -> list[str]:
    """The ```python blocks of the README's "From Python" section."""
    text = (ROOT / "README.md").read_text()
    m = re.search(r"^## From Python\n(.*?)(?=^## )", text, re.S | re.M)
    assert m, 'README.md has no "## From Python" section'
    return re.findall(r"^```python\n(.*?)^```$", m.group(1), re.S | re.M)


BLOCKS = python_blocks()


def env_for(broker) -> dict[str, str]:
    env = dict(os.environ)
    env["UDSBROKER_SOCKET"] = broker.sock  # the examples give no path
    env["PYTHONPATH"] = str(ROOT / "src" / "python")
    return env


def run_block(code: str, broker, timeout: float = 30) -> str:
    p = subprocess.run([sys.executable, "-c", code], env=env_for(broker), cwd=broker.dir,
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_readme_has_the_four_examples():
    assert len(BLOCKS) == 4, "pub/sub, asyncio, service, request: update this test with the README"
    assert "udsbroker.Client()" in BLOCKS[0] and "AsyncClient()" in BLOCKS[1]
    assert "c.reply(" in BLOCKS[2] and "c.request(" in BLOCKS[3]


def test_readme_publish_subscribe(broker):
    assert run_block(BLOCKS[0], broker) == "demo/hello hi\n"


def test_readme_asyncio(broker):
    assert run_block(BLOCKS[1], broker) == "demo/hello hi\n"


def test_readme_request_reply(broker, need):
    need("REQ", "OPT meta")
    service = subprocess.Popen([sys.executable, "-c", BLOCKS[2]], env=env_for(broker),
                               cwd=broker.dir, stderr=subprocess.PIPE, text=True)
    try:
        # The service is ready once its SUB is held: ask the broker.
        with udsbroker.Client(broker.sock) as c:
            deadline = time.monotonic() + 20
            while c.stats()["subscriptions"] < 1:
                assert service.poll() is None, service.stderr.read() if service.stderr else ""
                assert time.monotonic() < deadline, "the README's service never subscribed"
                time.sleep(0.05)
        out = run_block(BLOCKS[3], broker)
        assert re.fullmatch(r"\d\d:\d\d:\d\d\n", out), out
    finally:
        service.terminate()
        service.wait(10)
