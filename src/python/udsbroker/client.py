"""The blocking client; see the package docstring for the protocol rules."""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Iterator, Optional, Union

from ._core import (
    BrokerError,
    CannotConnect,
    ConnectionLost,
    Core,
    Delivery,
    Error,
    Event,
    Message,
    Payload,
    Pending,
    Reconnected,
    check_payload,
    check_topic,
    parse_stats,
    reply_value,
    socket_path,
    unix_socket,
)

READ_SIZE = 1 << 20  # bytes read at once at most; a longer line grows the buffer
FLUSH_AT = 1 << 17  # a batch of publishes is written once it holds this much
BACKOFF_FIRST = 0.1  # seconds before the first reconnect attempt
BACKOFF_MAX = 5.0  # doubling up to this, as udsctl sub does

# OPT meta refused with one of these: a broker without the option; the
# client goes on without meta (uid, gid, pid, via, reply stay None).
_NO_META = ("unknown-command", "bad-argument")


class Client:
    """A blocking connection to udsbrokerd.

    ``Client(path=None, reconnect=False)`` makes the object; ``connect()``
    opens the connection (``path`` or the SPEC's client rule, see
    ``socket_path``) and returns the client, which is also a context
    manager (``close()`` on exit). Iterating yields deliveries (``Message``)
    and events (``Dropped``, ``Bye``, ``Reconnected``) or, with
    ``raise_events=True``, raises the events.

    ``publish`` writes its line at once and waits for nothing; within
    ``with client.batch():`` publishes are buffered and written 128 KiB at
    a time, about four times faster. A failed publish's BrokerError is
    raised by the next call after the broker's ``ERR`` was read, before
    that call does anything; ``ping()`` also raises what it read up to its
    barrier, so it raises if any earlier publish failed.

    A Client is for one thread at a time (give each thread its own, or
    use AsyncClient).
    """

    def __init__(self, path: Optional[str] = None, reconnect: bool = False, *,
                 raise_events: bool = False, meta: bool = True,
                 command_timeout: Optional[float] = 30.0) -> None:
        self.path = path
        self.command_timeout = command_timeout  # TimeoutError past it, never a hang
        self.reconnect = reconnect
        self.raise_events = raise_events
        self.want_meta = meta
        self._core = Core()
        self._sock: Optional[socket.socket] = None
        self._timeout: Optional[float] = None  # the socket's current timeout
        self._buf = bytearray(READ_SIZE)
        self._view = memoryview(self._buf)
        self._end = 0  # bytes of a partial line at the start of _buf
        self._wbuf = bytearray()
        self._cork = 0  # depth of batch() blocks
        self._filters: dict[str, None] = {}  # held, in order, for reconnects
        self._will: Optional[bytes] = None  # the WILL line, for reconnects
        self._connected_path: Optional[str] = None
        self._ended = False  # the broker said BYE and closed
        self._backoff = BACKOFF_FIRST
        self._next_attempt = 0.0
        self._down_since = 0.0
        self._unsent = 0

    # ------------------------------------------------------------ connection

    def connect(self, path: Optional[str] = None) -> "Client":
        """Connects (``path``, else the one given to the constructor, else
        the client rule); returns the client. Raises CannotConnect at once,
        even with ``reconnect=True``."""
        if self._sock is not None:
            raise Error("already connected")
        target = socket_path(path or self.path)
        self._open(target, None)
        return self

    def close(self) -> None:
        """Sends QUIT (so the broker runs no will) and closes."""
        self._shutdown(b"QUIT\n")

    def abort(self) -> None:
        """Closes without QUIT, as a crash would: the broker runs the will.
        Batched publishes are written first."""
        self._shutdown(b"")

    def _shutdown(self, last: bytes) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        with contextlib.suppress(OSError):
            sock.settimeout(1.0)
            sock.sendall(bytes(self._wbuf) + last)
        self._wbuf.clear()
        sock.close()
        self._core.fail_pending()

    def __enter__(self) -> "Client":
        if self._sock is None:
            self.connect()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        """close() (QUIT); abort() when the block raised, so a will runs."""
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        # Never QUIT here: a program that ends without close() (or by an
        # exception) should have its will run.
        with contextlib.suppress(Exception):
            if self._sock is not None:
                self.abort()

    @property
    def connected(self) -> bool:
        """True while a connection is open."""
        return self._sock is not None

    @property
    def meta(self) -> bool:
        """True when the broker took ``OPT meta on`` (uid, gid, pid, via and
        reply are filled in)."""
        return self._core.meta

    @property
    def socket_path(self) -> Optional[str]:
        """The path connected to (also while reconnecting)."""
        return self._connected_path

    def fileno(self) -> int:
        """The socket, to wait on with select(); -1 when not connected."""
        return self._sock.fileno() if self._sock is not None else -1

    def _open(self, path: str, event: Optional[Reconnected]) -> None:
        """Connects and sets meta, the will and the subscriptions again."""
        sock = unix_socket(path)
        self._sock = sock
        self._timeout = None
        self._end = 0
        self._connected_path = path
        self._ended = False
        core = self._core
        core.meta = False
        core.bye = None
        if event is not None:  # before anything the new connection brings
            core.deliveries.append(event)
        try:
            self._handshake(event)
        except BaseException:
            if event is not None:
                with contextlib.suppress(ValueError):
                    core.deliveries.remove(event)
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            raise

    def _handshake(self, event: Optional[Reconnected]) -> None:
        core = self._core
        data = bytearray()
        meta = will = None
        if self.want_meta:
            line, meta = core.command_line(b"OPT meta on\n", "OPT meta on")
            data += line
        if self._will is not None:
            line, will = core.command_line(self._will, "WILL")
            data += line
        subs = []
        for f in self._filters:
            line, p = core.command_line(b"SUB %s\n" % f.encode(), "SUB " + f)
            data += line
            subs.append((f, p))
        if not data:
            return
        self._send(bytes(data))
        deadline = self._deadline(None)
        for p in [meta, will] + [p for _, p in subs]:
            if p is not None:
                self._wait(p, deadline)
        if meta is not None and meta.line != b"OK":
            err = _err_of(meta)
            if err.code not in _NO_META:
                raise err
        if will is not None and will.line != b"OK":
            self._will = None  # refused now (access rules changed): dropped
            if event is not None:
                event.failed["WILL"] = _err_of(will)
        for f, p in subs:
            if p.line != b"OK":
                del self._filters[f]
                if event is not None:
                    event.failed[f] = _err_of(p)

    def _lost(self, exc: Optional[BaseException]) -> ConnectionLost:
        """Forgets the connection; the error to raise."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
        unsent = self._wbuf.count(b"\n")
        self._wbuf.clear()
        self._end = 0
        self._core.fail_pending()
        self._ended = self._core.bye is not None
        self._unsent += unsent
        self._down_since = time.monotonic()
        self._backoff = BACKOFF_FIRST
        self._next_attempt = self._down_since + self._backoff
        why = f": {exc.strerror or exc}" if isinstance(exc, OSError) else " by the broker"
        if self._core.bye is not None:
            why += f" (BYE {self._core.bye})"
        return ConnectionLost(f"connection to {self._connected_path} closed{why}", unsent)

    def _ensure(self) -> None:
        """Raises unless connected; with reconnect on, one attempt if due."""
        if self._sock is not None:
            return
        if not self.reconnect or self._connected_path is None:
            raise ConnectionLost("not connected", 0)
        wait = self._next_attempt - time.monotonic()
        if wait > 0:
            raise ConnectionLost(
                f"not connected to {self._connected_path}: next attempt in {wait:.2f} s", 0)
        self._attempt()

    def _attempt(self) -> None:
        """One reconnect attempt; ConnectionLost if it failed."""
        event = Reconnected(self._unsent, {}, time.monotonic() - self._down_since)
        try:
            self._open(self._connected_path or "", event)
        except (CannotConnect, ConnectionLost, BrokerError) as exc:
            self._backoff = min(self._backoff * 2, BACKOFF_MAX)
            self._next_attempt = time.monotonic() + self._backoff
            raise ConnectionLost(f"not connected: {exc}", 0) from exc
        self._unsent = 0
        self._backoff = BACKOFF_FIRST

    # ------------------------------------------------------------ I/O

    def _settimeout(self, timeout: Optional[float]) -> None:
        if timeout != self._timeout:
            assert self._sock is not None
            self._sock.settimeout(timeout)
            self._timeout = timeout

    def _send(self, data: bytes) -> None:
        """Writes the buffered publishes, then data."""
        if self._sock is None:
            raise ConnectionLost("not connected", 0)
        if self._wbuf:
            self._wbuf += data
            data = self._wbuf  # type: ignore[assignment]
        self._settimeout(None)
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise self._lost(exc) from None
        self._wbuf.clear()

    def flush(self) -> None:
        """Writes the publishes buffered by ``batch()`` now."""
        if self._wbuf:
            self._send(b"")

    @contextlib.contextmanager
    def batch(self) -> Iterator["Client"]:
        """Buffers publishes inside the block; written at its end (or every
        128 KiB, or by any call that waits for the broker)."""
        self._cork += 1
        try:
            yield self
        finally:
            self._cork -= 1
            if not self._cork and self._sock is not None:
                self.flush()

    def _fill(self, timeout: Optional[float]) -> None:
        """Reads what the socket has, waiting at most ``timeout`` seconds
        (TimeoutError), and handles every whole line."""
        if self._wbuf:
            self._send(b"")
        sock = self._sock
        if sock is None:
            raise ConnectionLost("not connected", 0)
        end = self._end
        if end == len(self._buf):  # one line longer than the buffer
            self._view.release()
            self._buf.extend(bytes(len(self._buf)))
            self._view = memoryview(self._buf)
        self._settimeout(timeout)
        try:
            n = sock.recv_into(self._view[end:])
        except (socket.timeout, BlockingIOError):
            raise TimeoutError("no answer from the broker in time") from None
        except OSError as exc:
            raise self._lost(exc) from None
        if n == 0:
            raise self._lost(None)
        last = self._buf.rfind(b"\n", end, end + n)  # the part before had none
        end += n
        if last < 0:
            self._end = end
            return
        chunk = bytes(self._view[: last + 1])
        rest = end - last - 1
        if rest:
            self._view[:rest] = self._view[last + 1 : end]
        self._end = rest
        self._core.feed(chunk)

    def _wait(self, p: Pending, deadline: Optional[float]) -> bytes:
        """Reads until ``p`` has its reply line."""
        while p.line is None:
            self._fill(_left(deadline))
        return p.line

    def _command(self, line: bytes, command: str, timeout: Optional[float] = None) -> bytes:
        """Sends one command owed a reply and returns the reply (raising
        BrokerError for ERR); first raises an earlier publish's error."""
        core = self._core
        core.take_publish_error()
        self._ensure()
        data, p = core.command_line(line, command)
        self._send(data)
        self._wait(p, self._deadline(timeout))
        return reply_value(p)

    def _deadline(self, timeout: Optional[float]) -> Optional[float]:
        """When a command's answer is overdue (timeout, else command_timeout)."""
        if timeout is None:
            timeout = self.command_timeout
        return None if timeout is None else time.monotonic() + timeout

    # ------------------------------------------------------------ publishing

    def publish(self, topic: str, payload: Payload = b"") -> None:
        """``PUB``: publishes payload (bytes, or str as UTF-8) to topic.
        Raises ConnectionLost when not connected; see the class docstring
        for how a broker's refusal is reported."""
        core = self._core
        if core.publish_error is not None:
            core.take_publish_error()
        sock = self._sock
        if sock is None:
            self._ensure()
            sock = self._sock
        line = core.publish_line(b"PUB", topic, payload)
        if self._cork:
            w = self._wbuf
            w += line
            if len(w) >= FLUSH_AT:
                self._send(b"")
        elif self._wbuf or self._timeout is not None:
            self._send(line)
        else:  # the common case, kept short
            try:
                sock.sendall(line)  # type: ignore[union-attr]
            except OSError as exc:
                self._wbuf += line  # counted as unsent
                raise self._lost(exc) from None

    def retain(self, topic: str, payload: Payload = b"") -> None:
        """``RETAIN``: publishes and keeps payload as the topic's retained
        value; an empty payload clears it."""
        core = self._core
        core.take_publish_error()
        self._ensure()
        self._wbuf += core.publish_line(b"RETAIN", topic, payload)
        if not self._cork or len(self._wbuf) >= FLUSH_AT:
            self._send(b"")

    def will(self, topic: Optional[str], payload: Payload = b"", retain: bool = False) -> None:
        """``WILL PUB|RETAIN``: what the broker publishes for this client if
        the connection ends without QUIT (close() sends QUIT). ``topic=None``
        clears it. Set again after each reconnect."""
        if topic is None:
            line = b"WILL\n"
        else:
            t, p = check_topic(topic), check_payload(payload)
            word = b"RETAIN" if retain else b"PUB"
            line = b"WILL %s %s %s\n" % (word, t, p) if p else b"WILL %s %s\n" % (word, t)
        self._command(line, "WILL")
        self._will = None if topic is None else line

    def reply(self, message: Message, payload: Payload = b"") -> None:
        """Answers a request (a Message whose ``reply`` is set)."""
        if not message.reply:
            raise ValueError("this message is not a request (no reply topic; is meta on?)")
        core = self._core
        core.take_publish_error()
        self._ensure()
        self._wbuf += core.publish_line(b"PUB", message.reply, payload)
        if not self._cork or len(self._wbuf) >= FLUSH_AT:
            self._send(b"")

    # ------------------------------------------------------------ subscriptions

    def subscribe(self, filter: str, *more: str) -> None:
        """``SUB`` each filter (sent together, then every answer awaited);
        BrokerError for the first refused, after the others were done."""
        self._subs(b"SUB", (filter,) + more)

    def unsubscribe(self, filter: str, *more: str) -> None:
        """``UNSUB`` each filter."""
        self._subs(b"UNSUB", (filter,) + more)

    def _subs(self, word: bytes, filters: tuple[str, ...]) -> None:
        core = self._core
        core.take_publish_error()
        self._ensure()
        data = bytearray()
        owed = []
        for f in filters:
            line, p = core.command_line(b"%s %s\n" % (word, check_topic(f, "filter")),
                                        f"{word.decode()} {f}")
            data += line
            owed.append((f, p))
        self._send(bytes(data))
        first: Optional[BrokerError] = None
        deadline = self._deadline(None)
        for f, p in owed:
            self._wait(p, deadline)
            if p.line == b"OK":
                if word == b"SUB":
                    self._filters[f] = None
                else:
                    self._filters.pop(f, None)
            elif first is None:
                first = _err_of(p)
        if first is not None:
            raise first

    # ------------------------------------------------------------ receiving

    def receive(self, timeout: Optional[float] = None) -> Delivery:
        """The next delivery or event, waiting at most ``timeout`` seconds
        (TimeoutError; None waits for ever). ConnectionLost when the
        connection ended (without reconnect)."""
        core = self._core
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            core.take_publish_error()
            if core.deliveries:
                d = core.deliveries.popleft()
                if self.raise_events and isinstance(d, Event):
                    raise d
                return d
            if self._sock is None:
                if not self.reconnect or self._connected_path is None:
                    raise ConnectionLost(
                        "the broker closed the connection" if self._ended else "not connected", 0)
                self._reconnect_until(deadline)
                continue
            try:
                self._fill(_left(deadline))
            except ConnectionLost:
                if not self.reconnect and not core.deliveries:
                    raise

    def _reconnect_until(self, deadline: Optional[float]) -> None:
        """Attempts to reconnect, with back-off, until it worked or the
        deadline passed (TimeoutError)."""
        while self._sock is None:
            now = time.monotonic()
            wait = max(0.0, self._next_attempt - now)
            if deadline is not None and now + wait > deadline:
                time.sleep(max(0.0, deadline - now))
                raise TimeoutError("not reconnected in time")
            time.sleep(wait)
            with contextlib.suppress(ConnectionLost):
                self._attempt()

    def __iter__(self) -> "Client":
        return self

    def __next__(self) -> Delivery:
        d = self._core.deliveries
        if d and self._core.publish_error is None:
            m = d.popleft()
            if type(m) is Message or not self.raise_events:
                return m
            raise m
        try:
            return self.receive()
        except ConnectionLost:
            if self._ended:
                raise StopIteration from None
            raise

    # ------------------------------------------------------------ requests

    def request(self, topic: str, payload: Payload = b"", timeout: float = 5.0) -> Message:
        """``REQ``: sends a request and returns the first reply (a Message
        on the reply topic). BrokerError ``no-responders`` when nobody is
        subscribed; TimeoutError when no reply came within ``timeout``.
        Deliveries that arrive meanwhile are kept for iteration."""
        t, p = check_topic(topic), check_payload(payload)
        deadline = time.monotonic() + timeout
        line = b"REQ %s %s\n" % (t, p) if p else b"REQ %s\n" % t
        answer = self._command(line, "REQ", timeout)
        rtopic = answer[3:]
        waiting = self._core.replies.get(rtopic)
        try:
            while waiting is not None and not waiting and self._sock is not None:
                self._fill(_left(deadline))
                waiting = self._core.replies.get(rtopic)
            if not waiting:
                if waiting is None:
                    raise ConnectionLost("connection lost while waiting for a reply", 0)
                raise TimeoutError(f"no reply to {topic} within {timeout} s")
            return waiting[0]
        finally:
            if self._sock is not None:
                with contextlib.suppress(ConnectionLost, BrokerError, TimeoutError):
                    self._command(b"UNSUB %s\n" % rtopic, "UNSUB " + rtopic.decode(), 5.0)
            self._core.replies.pop(rtopic, None)

    # ------------------------------------------------------------ the rest

    def ping(self, text: Optional[str] = None) -> float:
        """``PING``: the round trip in seconds. Every earlier line was
        processed when it returns; raises a failed publish's error."""
        start = time.perf_counter()
        line = b"PING %s\n" % text.encode() if text else b"PING\n"
        self._command(line, "PING")
        rtt = time.perf_counter() - start
        self._core.take_publish_error()  # the barrier: every earlier ERR is in
        return rtt

    def stats(self) -> dict[str, Union[int, str]]:
        """``STATS``: the broker's counters (int) and states (str) by name."""
        return parse_stats(self._command(b"STATS\n", "STATS"))


def _err_of(p: Pending) -> BrokerError:
    try:
        reply_value(p)
    except BrokerError as err:
        return err
    return BrokerError("unexpected", (p.line or b"").decode("utf-8", "replace"), p.command)


def _left(deadline: Optional[float]) -> Optional[float]:
    """Seconds to the deadline (0 at least), or None."""
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())
