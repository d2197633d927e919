"""The blocking Client against the real daemon."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

import udsbroker
from udsbroker import BrokerError, Bye, Client, ConnectionLost, Dropped, Message, Reconnected


def settle(*clients: Client) -> None:
    """A PING/PONG barrier on each client, in order: afterwards every
    delivery owed to a later client is in its queue."""
    for c in clients:
        c.ping()


def wait_clients(c: Client, n: int) -> None:
    """Waits (bounded) until the broker counts n clients: the others'
    ends were handled, wills included."""
    deadline = time.monotonic() + 10
    while c.stats()["clients"] != n:
        assert time.monotonic() < deadline, "clients never went down to %d" % n
        time.sleep(0.01)


def nothing_more(c: Client) -> None:
    """After a barrier: nothing is waiting for c."""
    with pytest.raises(TimeoutError):
        c.receive(timeout=0)


# ---------------------------------------------------------------- connecting


def test_connect_explicit_path_and_context_manager(broker):
    c = Client(broker.sock)
    assert not c.connected
    with c as same:
        assert same is c and c.connected and c.socket_path == broker.sock
        assert isinstance(c.ping(), float)
    assert not c.connected
    assert c.connect() is c  # connect() returns the client
    c.close()


def test_connect_argument_beats_constructor(broker, tmp_path):
    c = Client(str(tmp_path / "nothing.sock")).connect(broker.sock)
    assert c.socket_path == broker.sock
    c.close()


def test_socket_rule_env(broker, monkeypatch):
    monkeypatch.setenv("UDSBROKER_SOCKET", broker.sock)
    with Client() as c:
        assert c.socket_path == broker.sock


def test_socket_rule_personal_broker(broker, monkeypatch, tmp_path):
    monkeypatch.delenv("UDSBROKER_SOCKET", raising=False)
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    os.symlink(broker.sock, xdg / "udsbroker.sock")  # stat() follows: a socket of ours
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    assert udsbroker.socket_path() == str(xdg / "udsbroker.sock")
    with Client() as c:
        c.ping()


def test_socket_rule_falls_back_to_system_broker(monkeypatch, tmp_path):
    monkeypatch.delenv("UDSBROKER_SOCKET", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert udsbroker.socket_path() == "/run/udsbroker.sock"  # none there
    (tmp_path / "udsbroker.sock").write_text("not a socket")
    assert udsbroker.socket_path() == "/run/udsbroker.sock"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert udsbroker.socket_path() == "/run/udsbroker.sock"
    assert udsbroker.socket_path("/x/y.sock") == "/x/y.sock"


def test_cannot_connect_names_path_and_reason(tmp_path):
    path = str(tmp_path / "none.sock")
    with pytest.raises(udsbroker.CannotConnect) as e:
        Client(path, reconnect=True).connect()
    assert path in str(e.value) and "No such file" in str(e.value)
    assert "is udsbrokerd running?" in str(e.value)
    assert isinstance(e.value, ConnectionError)


def test_eacces_names_the_group_that_may_connect(tmp_path):
    import errno
    import grp

    from udsbroker._core import connect_error

    path = tmp_path / "s.sock"
    path.write_text("")
    group = grp.getgrgid(path.stat().st_gid).gr_name
    err = connect_error(str(path), PermissionError(errno.EACCES, "Permission denied"))
    assert str(err) == f"cannot connect to {path}: Permission denied (members of group {group} may connect)"
    assert err.errno == errno.EACCES and err.path == str(path)


def test_path_too_long_is_a_clear_error(tmp_path):
    path = "/tmp/" + "x" * 120
    with pytest.raises(udsbroker.CannotConnect, match="longer than the 107"):
        Client(path).connect()


def test_meta_refused_is_fine(broker, features):
    with Client(broker.sock) as c:
        assert c.meta == features["OPT meta"]
    with Client(broker.sock, meta=False) as c:
        assert not c.meta


# ---------------------------------------------------------------- pub/sub


def test_publish_subscribe_iterate(broker):
    with Client(broker.sock) as sub, Client(broker.sock) as pub:
        sub.subscribe("a/#", "b/+")
        pub.publish("a/b", b"hello world")
        pub.publish("b/c", "text, as UTF-8: \u00e9")
        pub.publish("a")  # a/# matches its parent; empty payload
        pub.publish("c/d", b"nobody")
        settle(pub, sub)
        got = [next(sub) for _ in range(3)]
        assert [(m.topic, m.payload, m.retained) for m in got] == [
            ("a/b", b"hello world", False),
            ("b/c", "text, as UTF-8: \u00e9".encode(), False),
            ("a", b"", False),
        ]
        assert all(isinstance(m, Message) for m in got)
        nothing_more(sub)


def test_payload_keeps_spaces_and_binary(broker):
    payload = bytes(range(1, 10)) + b"  two spaces \x00 nul \xff"
    with Client(broker.sock) as c:
        c.subscribe("bin")
        c.publish("bin", payload)
        assert c.receive(5).payload == payload


def test_unsubscribe(broker):
    with Client(broker.sock) as c:
        c.subscribe("u/#")
        c.unsubscribe("u/#")
        c.unsubscribe("never/held")  # OK, as the SPEC says
        c.publish("u/x", b"1")
        settle(c)
        nothing_more(c)


def test_own_messages_once_even_with_overlapping_filters(broker):
    with Client(broker.sock) as c:
        c.subscribe("o/#", "o/+", "o/x")
        c.publish("o/x", b"once")
        settle(c)
        assert c.receive(0).payload == b"once"
        nothing_more(c)


def test_line_bigger_than_the_read_buffer(make_broker):
    b = make_broker("max_line = 4M\nqueue_limit = 16M\n")
    big = b"y" * (3 << 20)
    with Client(b.sock) as c:
        c.subscribe("big")
        c.publish("big", big)
        c.publish("big", b"after")
        assert c.receive(10).payload == big
        assert c.receive(10).payload == b"after"


def test_bad_lines_refused_locally(broker):
    with Client(broker.sock) as c:
        for topic in ("", "a b", "a\nb"):
            with pytest.raises(ValueError):
                c.publish(topic, b"x")
        with pytest.raises(ValueError):
            c.publish("t", b"two\nlines")
        with pytest.raises(ValueError):
            c.publish("t", b"ends in CR\r")
        with pytest.raises(TypeError):
            c.publish(b"t", b"x")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            c.subscribe("a b")
        c.ping()  # nothing was sent


# ---------------------------------------------------------------- errors


def test_publish_error_raised_by_next_call_with_code(broker):
    with Client(broker.sock) as c:
        c.publish("$SYS/x", b"no")  # ERR forbidden
        with pytest.raises(BrokerError) as e:
            c.ping()
        assert e.value.code == "forbidden" and e.value.command == "PUB"
        c.ping()  # reported once


def test_publish_error_not_taken_for_the_next_commands_answer(broker):
    with Client(broker.sock) as c:
        c.publish("bad\x01topic", b"x")  # ERR bad-topic
        c.subscribe("ok/#")  # OK: the ERR read before it is the publish's
        with pytest.raises(BrokerError) as e:
            c.stats()  # raised before STATS is sent
        assert e.value.code == "bad-topic" and e.value.command == "PUB"
        c.publish("ok/x", b"1")
        assert c.receive(5).topic == "ok/x"  # the subscription took effect


def test_several_publish_errors_counted(broker):
    with Client(broker.sock) as c:
        with c.batch():
            for _ in range(3):
                c.publish("$x", b"1")
        with pytest.raises(BrokerError, match="2 more failed publishes"):
            c.ping()


def test_subscribe_error_has_code_and_others_still_done(broker):
    with Client(broker.sock) as c:
        with pytest.raises(BrokerError) as e:
            c.subscribe("s/#", "bad/#/x", "t/#")
        assert e.value.code == "bad-filter" and "bad/#/x" in e.value.command
        c.publish("t/1", b"t")
        assert c.receive(5).topic == "t/1"


def test_too_many_subscriptions(make_broker):
    b = make_broker("max_subscriptions = 2\n")
    with Client(b.sock) as c:
        c.subscribe("a", "b")
        with pytest.raises(BrokerError) as e:
            c.subscribe("c")
        assert e.value.code == "too-many-subscriptions"


# ---------------------------------------------------------------- ping, stats


def test_ping_and_stats(broker):
    with Client(broker.sock) as c:
        c.subscribe("st")
        rtt = c.ping("hello there")
        assert 0 < rtt < 5
        c.publish("st", b"x")
        c.ping()
        s = c.stats()
        for key in ("clients", "subscriptions", "published", "delivered", "dropped",
                    "bytes_in", "bytes_out", "uptime"):
            assert isinstance(s[key], int), key
        assert s["clients"] == 1 and s["subscriptions"] == 1
        assert s["published"] == 1 and s["delivered"] == 1


# ---------------------------------------------------------------- streams


def test_100000_messages_in_order(broker):
    n = 100_000
    with Client(broker.sock) as sub, Client(broker.sock) as pub:
        sub.subscribe("seq")
        with pub.batch():
            for i in range(n):
                pub.publish("seq", b"%d" % i)
        pub.ping()
        for i, msg in enumerate(sub):
            assert msg.payload == b"%d" % i
            if i == n - 1:
                break
        settle(sub)
        nothing_more(sub)


def test_unbatched_publishes_all_arrive(broker):
    with Client(broker.sock) as sub, Client(broker.sock) as pub:
        sub.subscribe("one")
        for i in range(1000):
            pub.publish("one", b"%d" % i)
        got = [sub.receive(5).payload for _ in range(1000)]
        assert got == [b"%d" % i for i in range(1000)]


def slow_subscriber(make_broker, raise_events: bool):
    b = make_broker("queue_limit = 256K\n")
    payload = b"z" * 100
    n = 100_000  # about 11.5 MB of MSG lines, 45 times the limit
    sub = Client(b.sock, raise_events=raise_events).connect()
    sub.subscribe("slow")
    with Client(b.sock) as pub:
        with pub.batch():
            for i in range(n):
                pub.publish("slow", b"%06d %s" % (i, payload))
        pub.ping()
    return sub, n


def test_slow_subscriber_sees_dropped_and_the_count_adds_up(make_broker):
    sub, n = slow_subscriber(make_broker, False)
    received = dropped = notices = 0
    last = -1
    while received + dropped < n:
        d = sub.receive(10)
        if isinstance(d, Dropped):
            dropped += d.count
            notices += 1
        else:
            seq = int(d.payload.split(b" ")[0])
            assert seq > last  # in order, gaps only where DROPPED said
            last = seq
            received += 1
    assert received + dropped == n
    assert dropped > 0 and notices > 0
    assert sub.stats()["dropped"] == dropped
    sub.close()


def test_dropped_raised_when_asked(make_broker):
    sub, n = slow_subscriber(make_broker, True)
    with pytest.raises(Dropped) as e:
        while True:
            sub.receive(10)
    assert e.value.count > 0
    sub.close()


# ---------------------------------------------------------------- BYE, loss


def test_bye_as_event_then_iteration_ends(broker):
    c = Client(broker.sock).connect()
    c.subscribe("x")
    broker.stop()
    events = list(c)  # ends: the broker said BYE and closed
    assert len(events) == 1 and isinstance(events[0], Bye)
    assert events[0].reason == "shutdown"
    with pytest.raises(ConnectionLost):
        c.publish("x", b"1")


def test_bye_raised_when_asked(broker):
    c = Client(broker.sock, raise_events=True).connect()
    c.subscribe("x")
    broker.stop()
    with pytest.raises(Bye) as e:
        next(c)
    assert e.value.reason == "shutdown"
    with pytest.raises(StopIteration):
        next(c)


def test_publish_after_loss_raises(broker):
    c = Client(broker.sock).connect()
    broker.stop()
    with pytest.raises(ConnectionLost):
        for _ in range(100):  # the loss is noticed at the latest on a write
            c.publish("x", b"1")
            time.sleep(0.01)
    with pytest.raises(ConnectionLost):
        c.publish("x", b"1")


def test_reconnect_across_broker_restart(broker):
    c = Client(broker.sock, reconnect=True).connect()
    c.subscribe("r/#")
    broker.stop()
    assert isinstance(c.receive(10), Bye)
    with pytest.raises(ConnectionLost):  # down: publishing fails, never vanishes
        c.publish("r/lost", b"x")
    broker.start()  # a new daemon on the same socket
    ev = c.receive(20)
    assert isinstance(ev, Reconnected) and ev.failed == {} and ev.down > 0
    with Client(broker.sock) as pub:
        pub.publish("r/after", b"1")
        pub.ping()
    msg = c.receive(10)
    assert (msg.topic, msg.payload) == ("r/after", b"1")
    c.publish("r/self", b"2")  # publishing works again
    assert c.receive(10).topic == "r/self"
    assert c.stats()["subscriptions"] == 1
    c.close()


# ---------------------------------------------------------------- release 2


def test_retain_and_rmsg(broker, need):
    need("RETAIN")
    with Client(broker.sock) as c:
        c.retain("ret/a", b"v1")
        c.retain("ret/a", b"v2")  # replaces
        c.retain("ret/b", b"b")
        c.retain("ret/b")  # clears (and is delivered live, empty)
        c.ping()
        c.subscribe("ret/#")
        m = c.receive(5)
        assert (m.topic, m.payload, m.retained) == ("ret/a", b"v2", True)
        c.retain("ret/a", b"v3")
        m = c.receive(5)
        assert (m.topic, m.payload, m.retained) == ("ret/a", b"v3", False)
        settle(c)
        nothing_more(c)


def test_will_runs_on_abrupt_end_not_on_close(broker, need):
    need("WILL")
    with Client(broker.sock) as watcher:
        watcher.subscribe("svc/#")
        w = Client(broker.sock).connect()
        w.will("svc/a", b"down")
        w.abort()  # the end of input without QUIT
        m = watcher.receive(10)
        assert (m.topic, m.payload) == ("svc/a", b"down")
        q = Client(broker.sock).connect()
        q.will("svc/b", b"down")
        q.close()  # QUIT: no will
        w2 = Client(broker.sock).connect()
        w2.will("svc/c", b"x")
        w2.will(None)  # cleared
        w2.abort()
        wait_clients(watcher, 1)
        settle(watcher)
        nothing_more(watcher)


def test_will_retain(broker, need):
    need("WILL", "RETAIN")
    w = Client(broker.sock).connect()
    w.retain("svc/db/state", b"up")
    w.will("svc/db/state", b"down", retain=True)
    w.abort()
    with Client(broker.sock) as c:
        deadline = time.monotonic() + 10
        while True:
            c.subscribe("svc/db/state")
            m = c.receive(5)
            if m.payload == b"down" or time.monotonic() > deadline:
                break
            c.unsubscribe("svc/db/state")
        assert m.retained and m.payload == b"down"


def test_meta_fields(broker, need):
    need("OPT meta")
    with Client(broker.sock) as c:
        assert c.meta
        c.subscribe("m")
        c.publish("m", b"with meta")
        c.publish("m")
        m = c.receive(5)
        assert (m.payload, m.uid, m.gid, m.pid, m.via) == (
            b"with meta", os.getuid(), os.getgid(), os.getpid(), "main")
        assert m.reply is None
        e = c.receive(5)
        assert e.payload == b"" and e.pid == os.getpid()


def serve(path: str, topic: str, ready: threading.Event, stop: threading.Event) -> None:
    """A responder: answers each request with the payload upper-cased and
    the requester's pid."""
    with Client(path) as s:
        s.subscribe(topic)
        ready.set()
        while not stop.is_set():
            try:
                m = s.receive(0.1)
            except TimeoutError:
                continue
            if isinstance(m, Message) and m.reply:
                s.reply(m, m.payload.upper() + b" for %d" % (m.pid or -1))


def test_request_reply(broker, need):
    need("REQ", "OPT meta")
    ready, stop = threading.Event(), threading.Event()
    t = threading.Thread(target=serve, args=(broker.sock, "svc/up", ready, stop))
    t.start()
    try:
        assert ready.wait(10)
        with Client(broker.sock) as c:
            c.subscribe("other")
            c.publish("other", b"kept")
            r = c.request("svc/up", b"hello", timeout=5.0)
            assert r.payload == b"HELLO for %d" % os.getpid()
            assert r.topic.startswith("$reply/")
            assert c.receive(5).payload == b"kept"  # not lost meanwhile
            assert c.request("svc/up", b"", timeout=5.0).payload.startswith(b" for ")
            assert c.stats()["subscriptions"] == 2  # reply topics were closed
    finally:
        stop.set()
        t.join()


def test_request_no_responders_and_timeout(broker, need):
    need("REQ")
    with Client(broker.sock) as c:
        with pytest.raises(BrokerError) as e:
            c.request("nobody/here", b"x", timeout=1.0)
        assert e.value.code == "no-responders"
        with Client(broker.sock) as mute:
            mute.subscribe("mute")
            start = time.monotonic()
            with pytest.raises(TimeoutError):
                c.request("mute", b"x", timeout=0.3)
            assert time.monotonic() - start < 3


def test_reply_needs_a_request(broker):
    with Client(broker.sock) as c:
        with pytest.raises(ValueError):
            c.reply(Message("t", b"x"), b"y")


def test_reconnect_sets_the_will_again(broker, need):
    need("WILL")
    c = Client(broker.sock, reconnect=True).connect()
    c.will("svc/r", b"gone")
    c.subscribe("keep")
    broker.stop()
    assert isinstance(c.receive(10), Bye)
    broker.start()
    assert isinstance(c.receive(20), Reconnected)
    with Client(broker.sock) as watcher:
        watcher.subscribe("svc/r")
        c.abort()
        assert watcher.receive(10).payload == b"gone"


def test_unsolicited_err_does_not_confuse(make_broker):
    b = make_broker("max_clients = 1\n")
    with Client(b.sock) as first:
        first.ping()
        with pytest.raises((BrokerError, ConnectionLost, udsbroker.CannotConnect)) as e:
            c = Client(b.sock, meta=True).connect()
            c.ping()
        if isinstance(e.value, BrokerError):
            assert e.value.code == "server-busy"
        first.ping()


def test_fileno_for_select(broker):
    import select

    with Client(broker.sock) as c:
        c.subscribe("sel")
        c.publish("sel", b"x")
        r, _, _ = select.select([c], [], [], 5)
        assert r == [c]
        assert c.receive(5).payload == b"x"
    assert c.fileno() == -1


def test_socket_is_a_unix_stream(broker):
    with Client(broker.sock) as c:
        s = socket.socket(fileno=os.dup(c.fileno()))
        assert s.family == socket.AF_UNIX and s.type == socket.SOCK_STREAM
        s.close()


def test_with_block_that_raises_runs_the_will(broker, need):
    need("WILL")
    with Client(broker.sock) as watcher:
        watcher.subscribe("svc/#")
        with pytest.raises(RuntimeError):
            with Client(broker.sock) as c:
                c.will("svc/crash", b"down")
                raise RuntimeError("the service failed")
        m = watcher.receive(10)
        assert (m.topic, m.payload) == ("svc/crash", b"down")
        with Client(broker.sock) as c:
            c.will("svc/clean", b"down")
        wait_clients(watcher, 1)  # a clean end sent QUIT: no will
        settle(watcher)
        nothing_more(watcher)


def test_batch_holds_publishes_until_flush(broker):
    with Client(broker.sock) as sub, Client(broker.sock) as pub:
        sub.subscribe("b")
        with pub.batch():
            pub.publish("b", b"1")
            pub.publish("b", b"2")
            settle(sub)
            nothing_more(sub)  # still in pub's buffer
            pub.flush()
            assert [sub.receive(5).payload for _ in range(2)] == [b"1", b"2"]
            pub.publish("b", b"3")
        assert sub.receive(5).payload == b"3"  # written when the block ended


def test_a_call_raising_a_publish_error_had_no_effect(broker):
    with Client(broker.sock) as c:
        c.subscribe("e")
        c.publish("$x", b"no")
        c.subscribe("e2")  # reads the ERR
        with pytest.raises(BrokerError):
            c.publish("e", b"not sent")
        c.publish("e", b"sent")
        assert c.receive(5).payload == b"sent"
        settle(c)
        nothing_more(c)
