"""Fixtures: a real udsbrokerd in a temporary directory, and what it can do.

The daemon is ``$UDSBROKERD`` (meson sets it), else the build tree's
``build/src/daemon/udsbrokerd``. Each test gets its own daemon, started with
``-f -c CONF -s SOCK`` and ready once its socket answers PING.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "src" / "python"))  # the package in place

READY_TIMEOUT = 20.0  # seconds for a daemon to answer PING (loaded machines, sanitizers)
STOP_TIMEOUT = 10.0


def daemon_path() -> str:
    return os.environ.get("UDSBROKERD") or str(ROOT / "build" / "src" / "daemon" / "udsbrokerd")


def ask(path: str, line: bytes, timeout: float = 5.0) -> bytes:
    """Sends one line on a new connection and returns the first line back."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(line + b"\nPING probe\n")
        data = b""
        while b"\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.split(b"\n", 1)[0]


class Broker:
    """One udsbrokerd process on a socket in a temporary directory."""

    def __init__(self, tmp: Path, config: str = "") -> None:
        self.dir = tmp
        self.sock = str(tmp / "b.sock")
        self.conf = tmp / "udsbrokerd.conf"
        self.conf.write_text("[broker]\n" + config)
        self.log = tmp / "udsbrokerd.log"
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> "Broker":
        """Starts the daemon and waits (bounded) until it answers PING."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [daemon_path(), "-f", "-c", str(self.conf), "-s", self.sock],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"udsbrokerd exited {self.proc.returncode}: "
                                   + self.log.read_text())
            try:
                if ask(self.sock, b"PING ready", 1.0) == b"PONG ready":
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"udsbrokerd did not answer within {READY_TIMEOUT} s")
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM, then a bounded wait (SIGKILL past it)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RuntimeError("udsbrokerd did not stop on SIGTERM")
        if proc.returncode != 0:  # the SPEC: exit 0; a sanitizer's report is not
            raise RuntimeError(f"udsbrokerd exited {proc.returncode} on SIGTERM: "
                               + self.log.read_text()[-4000:])


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A daemon with the default settings."""
    b = Broker(tmp_path).start()
    yield b
    b.stop()


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[object]:
    """A factory: make_broker(config) -> a started Broker (stopped after)."""
    made: list[Broker] = []

    def make(config: str = "", name: str = "b") -> Broker:
        d = tmp_path / name
        d.mkdir(exist_ok=True)
        b = Broker(d, config).start()
        made.append(b)
        return b

    yield make
    for b in made:
        b.stop()


# ---- what the daemon under test implements (release 2 is being built)

_FEATURES: dict[str, bool] = {}


def _probe(tmp: Path) -> dict[str, bool]:
    b = Broker(tmp).start()
    try:
        def has(line: bytes) -> bool:
            return not ask(b.sock, line).startswith(b"ERR unknown-command")

        return {
            "RETAIN": has(b"RETAIN probe/x v"),
            "WILL": has(b"WILL"),
            "OPT meta": has(b"OPT meta on"),
            "REQ": has(b"REQ probe/x"),
        }
    finally:
        b.stop()


@pytest.fixture(scope="session")
def features(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bool]:
    """Which release 2 commands the daemon knows, probed once."""
    if not _FEATURES:
        _FEATURES.update(_probe(tmp_path_factory.mktemp("probe")))
    return _FEATURES


@pytest.fixture
def need(features: dict[str, bool]):
    """need("RETAIN", ...): skips the test, naming what the daemon lacks."""

    def check(*commands: str) -> None:
        missing = [c for c in commands if not features[c]]
        if missing:
            pytest.skip("daemon has no " + " nor ".join(missing) + " yet")

    return check
