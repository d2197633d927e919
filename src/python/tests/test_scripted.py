"""The client's side of release 2 lines the daemon may not have yet.

A scripted broker (a thread on a Unix socket) answers ``OPT meta``,
``REQ`` and friends exactly as the SPEC words them, so meta parsing,
request/reply and reply routing are tested whatever the daemon implements;
the tests against the daemon (test_client.py) cover the same calls for
real once it has them.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import pytest

import udsbroker
from udsbroker import AsyncClient, BrokerError, Client, Message

TOKEN = b"$reply/00ff00ff00ff00ff"


def answer(line: bytes) -> bytes:
    """What the scripted broker sends back for one line."""
    if line == b"OPT meta on":
        return b"OK\n"
    if line.startswith(b"SUB "):
        out = b"OK\n"
        if line == b"SUB ret/#":
            out += b"RMSG ret/a uid=1;gid=2;pid=3;via=main kept value\nRMSG ret/b via=main\n"
        return out
    if line.startswith(b"UNSUB "):
        return b"OK\n"
    if line.startswith(b"PING"):
        return b"PONG" + line[4:] + b"\n"
    if line == b"STATS":
        return b"STATS clients=1 published=2 bridge.up.state=connected\n"
    if line == b"REQ svc/q question":
        # A delivery between the answer and the reply, with a key of a
        # later release (ignored), then the reply.
        return (b"OK " + TOKEN + b"\n"
                b"MSG live uid=5;gid=6;pid=7;via=main;zzz=later live payload\n"
                b"MSG " + TOKEN + b" uid=1;gid=2;pid=3;via=main answer to question\n"
                b"MSG " + TOKEN + b" via=main a second reply, not for iteration\n")
    if line == b"REQ svc/plain":  # a reply as the SPEC's REQ section shows it, no meta
        return b"OK " + TOKEN + b"\nMSG " + TOKEN + b" plain reply words\n"
    if line == b"REQ svc/slow":
        return b"OK " + TOKEN + b"\n"
    if line.startswith(b"REQ "):
        return b"ERR no-responders nobody is subscribed\n"
    if line == b"GIVE request":
        return b"MSG svc/x uid=9;gid=9;pid=99;via=tcp;reply=$reply/abc please\n"
    if line.startswith(b"PUB ") or line == b"QUIT":
        return b""
    return b"ERR unknown-command scripted\n"


class Scripted:
    """A one-connection-at-a-time broker that answers by ``answer``; keeps
    every line it was sent."""

    def __init__(self, path: Path, respond=answer) -> None:
        self.path = str(path)
        self.respond = respond
        self.lines: list[bytes] = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(4)
        self.listener.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        self.conn: socket.socket | None = None

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            self.conn = conn
            conn.settimeout(0.2)
            buf = b""
            while not self.stop.is_set():
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not data:
                    break
                buf += data
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    self.lines.append(line)
                    out = self.respond(line)
                    if out:
                        conn.sendall(out)
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()


@pytest.fixture
def scripted(tmp_path):
    s = Scripted(tmp_path / "scripted.sock")
    yield s
    s.close()


def test_meta_request_reply_blocking(scripted):
    with Client(scripted.path) as c:
        assert c.meta
        c.subscribe("ret/#")
        a, b = c.receive(5), c.receive(5)
        assert (a.topic, a.payload, a.retained, a.uid, a.gid, a.pid, a.via) == (
            "ret/a", b"kept value", True, 1, 2, 3, "main")
        assert (b.topic, b.payload, b.retained, b.uid, b.via) == ("ret/b", b"", True, None, "main")

        r = c.request("svc/q", b"question", timeout=5)
        assert (r.topic, r.payload, r.uid, r.pid) == (TOKEN.decode(), b"answer to question", 1, 3)
        live = c.receive(5)  # kept for iteration, the unknown key ignored
        assert (live.topic, live.payload, live.uid, live.gid, live.pid) == (
            "live", b"live payload", 5, 6, 7)
        c.ping()
        with pytest.raises(TimeoutError):  # the second reply was not iterated
            c.receive(0)
        assert b"UNSUB " + TOKEN in scripted.lines  # the reply topic was closed

        assert c.request("svc/plain", timeout=5).payload == b"plain reply words"
        with pytest.raises(BrokerError) as e:
            c.request("svc/none", b"x", timeout=1)
        assert e.value.code == "no-responders" and e.value.command == "REQ"
        with pytest.raises(TimeoutError):
            c.request("svc/slow", timeout=0.2)

        c._send(b"GIVE request\n")  # the scripted broker sends a request
        m = c.receive(5)
        assert (m.reply, m.via, m.pid) == ("$reply/abc", "tcp", 99)
        c.reply(m, b"here you are")
        c.ping()
        assert b"PUB $reply/abc here you are" in scripted.lines

        assert c.stats() == {"clients": 1, "published": 2, "bridge.up.state": "connected"}


def test_meta_request_reply_async(scripted):
    async def main():
        async with AsyncClient(scripted.path) as c:
            assert c.meta
            await c.subscribe("ret/#")
            a = await c.receive(5)
            assert a.retained and a.uid == 1
            await c.receive(5)
            r = await c.request("svc/q", b"question", 5)
            assert r.payload == b"answer to question" and r.gid == 2
            assert (await c.receive(5)).topic == "live"
            with pytest.raises(BrokerError) as e:
                await c.request("svc/none", b"x", 1)
            assert e.value.code == "no-responders"
            with pytest.raises(TimeoutError):
                await c.request("svc/slow", b"", 0.2)
            await c.ping()
            st = await c.stats()
            assert st["bridge.up.state"] == "connected"
            c._wbuf += b"GIVE request\n"
            m = await c.receive(5)
            await c.reply(m, b"ok")
            await c.ping()
        assert b"PUB $reply/abc ok" in scripted.lines

    asyncio.run(asyncio.wait_for(main(), 30))


def test_meta_refused_means_no_meta_parsing(tmp_path):
    """A broker that answers OPT meta with ERR unknown-command: deliveries
    are read without a meta field (a payload that looks like meta stays)."""

    def release1(line: bytes) -> bytes:
        if line.startswith(b"OPT"):
            return b'ERR unknown-command unknown command "OPT"\n'
        if line == b"SUB m":
            return b"OK\nMSG m via=main not meta\n"
        return answer(line)

    s = Scripted(tmp_path / "old.sock", release1)
    try:
        with Client(s.path) as c:
            assert not c.meta
            c.subscribe("m")
            m = c.receive(5)
            assert (m.payload, m.via, m.uid) == (b"via=main not meta", None, None)
    finally:
        s.close()


def test_message_repr_and_equality():
    m = Message("t", b"p", True, 1, 2, 3, "main", None)
    assert m == Message("t", b"p", True, 1, 2, 3, "main")
    assert m != Message("t", b"p")
    assert "retained=True" in repr(m) and "uid=1" in repr(m)
    assert isinstance(udsbroker.Dropped(3), udsbroker.Event) and udsbroker.Dropped(3).count == 3
