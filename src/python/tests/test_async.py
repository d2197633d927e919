"""AsyncClient against the real daemon: the same calls, as coroutines.

Each test runs its own event loop (asyncio.run): no pytest plugin needed.
"""

from __future__ import annotations

import asyncio
import os

import pytest

import udsbroker
from udsbroker import AsyncClient, BrokerError, Bye, ConnectionLost, Dropped, Message, Reconnected


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


async def nothing_more(c: AsyncClient) -> None:
    await c.ping()
    with pytest.raises(TimeoutError):
        await c.receive(timeout=0.05)


def test_connect_pub_sub_iterate(broker):
    async def main():
        async with AsyncClient(broker.sock) as sub, AsyncClient(broker.sock) as pub:
            assert sub.connected
            await sub.subscribe("a/#")
            await pub.publish("a/b", b"hello world")
            await pub.publish("a/c")
            await pub.publish("z", b"nobody")
            await pub.ping()
            got = []
            async for m in sub:
                got.append((m.topic, m.payload, m.retained))
                if len(got) == 2:
                    break
            assert got == [("a/b", b"hello world", False), ("a/c", b"", False)]
            await nothing_more(sub)
            await sub.unsubscribe("a/#")
            await pub.publish("a/b", b"gone")
            await pub.ping()
            await nothing_more(sub)
        assert not sub.connected

    run(main())


def test_socket_rule_env(broker, monkeypatch):
    monkeypatch.setenv("UDSBROKER_SOCKET", broker.sock)

    async def main():
        c = await AsyncClient().connect()
        assert c.socket_path == broker.sock
        assert await c.ping() > 0
        await c.close()

    run(main())


def test_cannot_connect(tmp_path):
    async def main():
        with pytest.raises(udsbroker.CannotConnect, match="is udsbrokerd running"):
            await AsyncClient(str(tmp_path / "none.sock")).connect()

    run(main())


def test_errors_with_codes_and_order(broker):
    async def main():
        async with AsyncClient(broker.sock) as c:
            await c.publish("$SYS/x", b"no")
            await c.subscribe("ok/#")  # OK: the ERR read before it is the publish's
            with pytest.raises(BrokerError) as e:
                await c.stats()
            assert e.value.code == "forbidden" and e.value.command == "PUB"
            await c.publish("ok/1", b"1")
            assert (await c.receive(5)).topic == "ok/1"
            with pytest.raises(BrokerError) as e:
                await c.subscribe("bad/#/x")
            assert e.value.code == "bad-filter"
            with pytest.raises(ValueError):
                await c.publish("a b", b"x")

    run(main())


def test_ping_stats(broker):
    async def main():
        async with AsyncClient(broker.sock) as c:
            await c.subscribe("s")
            await c.publish("s", b"x")
            assert await c.ping("text") < 5
            st = await c.stats()
            assert st["published"] == 1 and st["delivered"] == 1 and st["clients"] == 1

    run(main())


def test_concurrent_commands_get_their_own_answers(broker):
    async def main():
        async with AsyncClient(broker.sock) as c:
            async def pinger(i):
                for _ in range(50):
                    await c.ping(f"p{i}")

            async def subber(i):
                for j in range(50):
                    await c.subscribe(f"t/{i}/{j}")

            async def stater():
                for _ in range(20):
                    assert "clients" in await c.stats()

            await asyncio.gather(pinger(1), pinger(2), subber(1), subber(2), stater())
            assert (await c.stats())["subscriptions"] == 100

    run(main())


def test_100000_messages_in_order(broker):
    n = 100_000

    async def main():
        async with AsyncClient(broker.sock) as sub, AsyncClient(broker.sock) as pub:
            await sub.subscribe("seq")

            async def publish():
                for i in range(n):
                    await pub.publish("seq", b"%d" % i)
                await pub.ping()

            task = asyncio.create_task(publish())
            i = 0
            async for m in sub:
                assert m.payload == b"%d" % i
                i += 1
                if i == n:
                    break
            await task
            await nothing_more(sub)

    run(main())


def test_slow_subscriber_dropped_adds_up(make_broker):
    b = make_broker("queue_limit = 256K\n")
    n = 100_000

    async def main():
        sub = await AsyncClient(b.sock).connect()
        await sub.subscribe("slow")
        async with AsyncClient(b.sock) as pub:
            for i in range(n):
                await pub.publish("slow", b"%06d " % i + b"z" * 100)
            await pub.ping()
        received = dropped = 0
        while received + dropped < n:
            d = await sub.receive(10)
            if isinstance(d, Dropped):
                dropped += d.count
            else:
                received += 1
        assert dropped > 0 and received + dropped == n
        await sub.close()

    run(main())


def test_bye_then_iteration_ends(broker):
    async def main():
        c = await AsyncClient(broker.sock).connect()
        await c.subscribe("x")
        broker.stop()
        got = [d async for d in c]
        assert len(got) == 1 and isinstance(got[0], Bye) and got[0].reason == "shutdown"
        with pytest.raises(ConnectionLost):
            await c.publish("x", b"1")

    run(main())


def test_bye_raised_when_asked(broker):
    async def main():
        c = await AsyncClient(broker.sock, raise_events=True).connect()
        broker.stop()
        with pytest.raises(Bye):
            await c.receive(10)

    run(main())


def test_reconnect_across_broker_restart(broker):
    async def main():
        c = await AsyncClient(broker.sock, reconnect=True).connect()
        await c.subscribe("r/#")
        broker.stop()
        assert isinstance(await c.receive(10), Bye)
        await asyncio.sleep(0)  # the loss is handled
        with pytest.raises(ConnectionLost):
            await c.publish("r/lost", b"x")
        broker.start()
        ev = await c.receive(20)
        assert isinstance(ev, Reconnected)
        async with AsyncClient(broker.sock) as pub:
            await pub.publish("r/after", b"1")
            await pub.ping()
        m = await c.receive(10)
        assert (m.topic, m.payload) == ("r/after", b"1")
        assert (await c.stats())["subscriptions"] == 1
        await c.close()

    run(main())


def test_retain_rmsg(broker, need):
    need("RETAIN")

    async def main():
        async with AsyncClient(broker.sock) as c:
            await c.retain("ret/x", "kept")
            await c.ping()
            await c.subscribe("ret/+")
            m = await c.receive(5)
            assert (m.topic, m.payload, m.retained) == ("ret/x", b"kept", True)
            await c.retain("ret/x")

    run(main())


def test_will(broker, need):
    need("WILL")

    async def main():
        async with AsyncClient(broker.sock) as watcher:
            await watcher.subscribe("svc/#")
            w = await AsyncClient(broker.sock).connect()
            await w.will("svc/a", "down")
            await w.abort()  # no QUIT
            m = await watcher.receive(10)
            assert (m.topic, m.payload) == ("svc/a", b"down")

    run(main())


def test_meta(broker, need):
    need("OPT meta")

    async def main():
        async with AsyncClient(broker.sock) as c:
            await c.subscribe("m")
            await c.publish("m", b"x")
            m = await c.receive(5)
            assert (m.uid, m.gid, m.pid, m.via) == (os.getuid(), os.getgid(), os.getpid(), "main")

    run(main())


def test_request_reply(broker, need):
    need("REQ", "OPT meta")

    async def main():
        async with AsyncClient(broker.sock) as server, AsyncClient(broker.sock) as c:
            await server.subscribe("svc/echo")

            async def serve():
                async for m in server:
                    if isinstance(m, Message) and m.reply:
                        await server.reply(m, b"echo " + m.payload)

            task = asyncio.create_task(serve())
            replies = await asyncio.gather(*(c.request("svc/echo", b"%d" % i, 5.0)
                                             for i in range(10)))
            assert sorted(r.payload for r in replies) == sorted(b"echo %d" % i for i in range(10))
            with pytest.raises(BrokerError) as e:
                await c.request("nobody", b"", 1.0)
            assert e.value.code == "no-responders"
            task.cancel()

    run(main())


def test_line_bigger_than_a_read(make_broker):
    b = make_broker("max_line = 4M\nqueue_limit = 16M\n")
    big = b"y" * (3 << 20)

    async def main():
        async with AsyncClient(b.sock) as c:
            await c.subscribe("big")
            await c.publish("big", big)
            await c.publish("big", b"after")
            assert (await c.receive(10)).payload == big
            assert (await c.receive(10)).payload == b"after"

    run(main())
