"""The asyncio client: the calls of ``Client``, as coroutines.

See the package docstring for how replies are matched and how failures
are reported. Publishes are buffered and written once per pass of the
event loop (or every 128 KiB), so a loop of ``await c.publish(...)`` costs
no system call per message and nothing waits in a buffer once the caller
yields to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import time
from typing import Any, Optional, Union

from ._core import (
    SUN_PATH_MAX,
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
    connect_error,
    parse_stats,
    reply_value,
    socket_path,
)
from .client import _NO_META, BACKOFF_FIRST, BACKOFF_MAX, FLUSH_AT


class _Protocol(asyncio.Protocol):
    """Moves bytes between one connection and its AsyncClient."""

    def __init__(self, client: "AsyncClient") -> None:
        self.client = client
        self.transport: Optional[asyncio.Transport] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.client._data(self, data)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.client._connection_lost(self, exc)

    def pause_writing(self) -> None:
        self.client._paused = True

    def resume_writing(self) -> None:
        self.client._resume()


class AsyncClient:
    """An asyncio connection to udsbrokerd, with the calls of ``Client``.

    ``await AsyncClient(path=None, reconnect=False).connect()``, or
    ``async with AsyncClient() as c``; ``async for msg in c`` yields
    deliveries and events (or raises the events, ``raise_events=True``).
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
        self._core.reply_hook = self._reply_arrived
        self._proto: Optional[_Protocol] = None
        self._transport: Optional[asyncio.Transport] = None
        self._partial = bytearray()  # a line not yet whole
        self._wbuf = bytearray()
        self._flush_soon = False
        self._paused = False
        self._drained: Optional[asyncio.Future[None]] = None
        self._waiter: Optional[asyncio.Future[None]] = None  # receive() waiting
        self._reply_waiters: dict[bytes, asyncio.Future[None]] = {}
        self._filters: dict[str, None] = {}
        self._will: Optional[bytes] = None
        self._connected_path: Optional[str] = None
        self._ended = False
        self._closing = False
        self._handshaking = False  # receive() waits: the event keeps its place
        self._reconnecting: Optional[asyncio.Task[None]] = None
        self._down_since = 0.0
        self._unsent = 0

    # ------------------------------------------------------------ connection

    async def connect(self, path: Optional[str] = None) -> "AsyncClient":
        """Connects (``path``, else the constructor's, else the client
        rule); returns the client. CannotConnect at once, even with
        ``reconnect=True``."""
        if self._transport is not None:
            raise Error("already connected")
        self._closing = False
        await self._open(socket_path(path or self.path), None)
        return self

    async def close(self) -> None:
        """Sends QUIT (so the broker runs no will) and closes."""
        self._shutdown(b"QUIT\n")

    async def abort(self) -> None:
        """Closes without QUIT, as a crash would: the broker runs the will."""
        self._shutdown(b"")

    def _shutdown(self, last: bytes) -> None:
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            self._reconnecting = None
        transport = self._transport
        if transport is None:
            return
        self._wbuf += last
        self._flush()
        transport.close()  # after what is buffered is written
        self._forget(None)

    async def __aenter__(self) -> "AsyncClient":
        if self._transport is None:
            await self.connect()
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        """close() (QUIT); abort() when the block raised, so a will runs."""
        self._shutdown(b"QUIT\n" if exc_type is None else b"")

    @property
    def connected(self) -> bool:
        """True while a connection is open."""
        return self._transport is not None

    @property
    def meta(self) -> bool:
        """True when the broker took ``OPT meta on``."""
        return self._core.meta

    @property
    def socket_path(self) -> Optional[str]:
        """The path connected to (also while reconnecting)."""
        return self._connected_path

    async def _open(self, path: str, event: Optional[Reconnected]) -> None:
        loop = asyncio.get_running_loop()
        if len(os.fsencode(path)) > SUN_PATH_MAX:
            raise CannotConnect(
                path, f"cannot connect to {path}: the path is longer than the "
                f"{SUN_PATH_MAX} bytes a Unix socket address holds", errno.ENAMETOOLONG)
        try:
            transport, proto = await loop.create_unix_connection(lambda: _Protocol(self), path)
        except OSError as exc:
            raise connect_error(path, exc) from None
        self._proto, self._transport = proto, transport
        self._connected_path = path
        self._partial.clear()
        self._paused = False
        self._ended = False
        core = self._core
        core.meta = False
        core.bye = None
        if event is not None:
            core.deliveries.append(event)
        self._handshaking = True
        try:
            await self._handshake(event)
        except BaseException:
            if event is not None:
                with contextlib.suppress(ValueError):
                    core.deliveries.remove(event)
            transport.close()
            self._forget(None)
            raise
        finally:
            self._handshaking = False

    async def _handshake(self, event: Optional[Reconnected]) -> None:
        loop = asyncio.get_running_loop()
        owed: list[tuple[str, Any, Pending]] = []
        if self.want_meta:
            owed.append(("meta", None, self._queue(b"OPT meta on\n", "OPT meta on", loop)))
        if self._will is not None:
            owed.append(("will", None, self._queue(self._will, "WILL", loop)))
        for f in self._filters:
            owed.append(("sub", f, self._queue(b"SUB %s\n" % f.encode(), "SUB " + f, loop)))
        if not owed:
            return
        self._flush()
        await self._answers([p for _, _, p in owed], None)
        for kind, f, p in owed:
            if kind == "meta" and p.line != b"OK":
                err = _err_of(p)
                if err.code not in _NO_META:
                    raise err
            elif kind == "will" and p.line != b"OK":
                self._will = None  # refused now (access rules changed): dropped
                if event is not None:
                    event.failed["WILL"] = _err_of(p)
            elif kind == "sub" and p.line != b"OK":
                del self._filters[f]
                if event is not None:
                    event.failed[f] = _err_of(p)

    def _queue(self, line: bytes, command: str, loop: asyncio.AbstractEventLoop) -> Pending:
        """Buffers a command owed a reply; its Pending has a future."""
        data, p = self._core.command_line(line, command, loop.create_future())
        self._wbuf += data
        return p

    def _forget(self, exc: Optional[BaseException]) -> ConnectionLost:
        """The connection is gone: fails what waits on it."""
        self._proto, self._transport = None, None
        unsent = self._wbuf.count(b"\n")
        self._wbuf.clear()
        self._unsent += unsent
        self._ended = self._core.bye is not None
        self._down_since = time.monotonic()
        why = f": {exc}" if exc is not None else " by the broker"
        if self._core.bye is not None:
            why += f" (BYE {self._core.bye})"
        lost = ConnectionLost(f"connection to {self._connected_path} closed{why}", unsent)
        for p in self._core.fail_pending():
            if p.future is not None and not p.future.done():
                p.future.set_exception(lost)
                p.future.exception()  # retrieved: no "never retrieved" warning
        for fut in self._reply_waiters.values():
            if not fut.done():
                fut.set_result(None)
        self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        return lost

    def _connection_lost(self, proto: _Protocol, exc: Optional[Exception]) -> None:
        if proto is not self._proto:
            return  # an old connection, already forgotten
        self._forget(exc)
        if self.reconnect and not self._closing and self._reconnecting is None:
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        """Reconnects with back-off until it works (or close())."""
        delay = BACKOFF_FIRST
        try:
            while self._transport is None and not self._closing:
                await asyncio.sleep(delay)
                event = Reconnected(self._unsent, {}, time.monotonic() - self._down_since)
                try:
                    await self._open(self._connected_path or "", event)
                except (CannotConnect, ConnectionLost, BrokerError):
                    delay = min(delay * 2, BACKOFF_MAX)
                    continue
                self._unsent = 0
                self._wake()
        finally:
            self._reconnecting = None

    def _ensure(self) -> None:
        if self._transport is None:
            state = "reconnecting" if self._reconnecting is not None else "closed"
            raise ConnectionLost(f"not connected ({state})", 0)

    # ------------------------------------------------------------ I/O

    def _data(self, proto: _Protocol, data: bytes) -> None:
        if proto is not self._proto:
            return
        partial = self._partial
        if partial:  # a line spread over reads: only the new bytes are searched
            start = len(partial)
            partial += data
            last = partial.rfind(b"\n", start)
            if last < 0:
                return
            data = bytes(partial[: last + 1])
            del partial[: last + 1]
        else:
            last = data.rfind(b"\n")
            if last < 0:
                partial += data
                return
            if last + 1 < len(data):
                partial += data[last + 1 :]
                data = data[: last + 1]
        self._core.feed(data)
        if self._core.deliveries or self._core.publish_error is not None:
            self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _reply_arrived(self, topic: bytes) -> None:
        fut = self._reply_waiters.get(topic)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _resume(self) -> None:
        self._paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _flush(self) -> None:
        self._flush_soon = False
        if self._wbuf and self._transport is not None:
            self._transport.write(bytes(self._wbuf))
            self._wbuf.clear()

    async def _after_publish(self) -> None:
        """Writes now past 128 KiB (waiting while the socket is full),
        else once the loop comes round."""
        if len(self._wbuf) >= FLUSH_AT:
            self._flush()
            if self._paused:
                self._drained = asyncio.get_running_loop().create_future()
                await self._drained
        elif not self._flush_soon:
            self._flush_soon = True
            asyncio.get_running_loop().call_soon(self._flush)

    async def flush(self) -> None:
        """Writes the buffered publishes now."""
        self._flush()

    async def _command(self, line: bytes, command: str,
                       timeout: Optional[float] = None) -> bytes:
        core = self._core
        core.take_publish_error()
        self._ensure()
        p = self._queue(line, command, asyncio.get_running_loop())
        self._flush()
        await self._answers([p], timeout)
        return reply_value(p)

    async def _answers(self, owed: list[Pending], timeout: Optional[float]) -> None:
        """Waits for the answers (TimeoutError past timeout, else past
        command_timeout)."""
        if timeout is None:
            timeout = self.command_timeout
        try:
            await asyncio.wait_for(asyncio.gather(*(p.future for p in owed)), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError("no answer from the broker in time") from None

    # ------------------------------------------------------------ publishing

    async def publish(self, topic: str, payload: Payload = b"") -> None:
        """``PUB``; ConnectionLost when not connected."""
        core = self._core
        if core.publish_error is not None:
            core.take_publish_error()
        if self._transport is None:
            self._ensure()
        self._wbuf += core.publish_line(b"PUB", topic, payload)
        if self._flush_soon and len(self._wbuf) < FLUSH_AT:
            return
        await self._after_publish()

    async def retain(self, topic: str, payload: Payload = b"") -> None:
        """``RETAIN``: publish and keep as the retained value (empty clears)."""
        self._core.take_publish_error()
        self._ensure()
        self._wbuf += self._core.publish_line(b"RETAIN", topic, payload)
        await self._after_publish()

    async def will(self, topic: Optional[str], payload: Payload = b"",
                   retain: bool = False) -> None:
        """``WILL PUB|RETAIN`` (``topic=None`` clears it)."""
        if topic is None:
            line = b"WILL\n"
        else:
            t, p = check_topic(topic), check_payload(payload)
            word = b"RETAIN" if retain else b"PUB"
            line = b"WILL %s %s %s\n" % (word, t, p) if p else b"WILL %s %s\n" % (word, t)
        await self._command(line, "WILL")
        self._will = None if topic is None else line

    async def reply(self, message: Message, payload: Payload = b"") -> None:
        """Answers a request (a Message whose ``reply`` is set)."""
        if not message.reply:
            raise ValueError("this message is not a request (no reply topic; is meta on?)")
        self._core.take_publish_error()
        self._ensure()
        self._wbuf += self._core.publish_line(b"PUB", message.reply, payload)
        await self._after_publish()

    # ------------------------------------------------------------ subscriptions

    async def subscribe(self, filter: str, *more: str) -> None:
        """``SUB`` each filter; BrokerError for the first refused."""
        await self._subs(b"SUB", (filter,) + more)

    async def unsubscribe(self, filter: str, *more: str) -> None:
        """``UNSUB`` each filter."""
        await self._subs(b"UNSUB", (filter,) + more)

    async def _subs(self, word: bytes, filters: tuple[str, ...]) -> None:
        core = self._core
        core.take_publish_error()
        self._ensure()
        loop = asyncio.get_running_loop()
        owed = [(f, self._queue(b"%s %s\n" % (word, check_topic(f, "filter")),
                                f"{word.decode()} {f}", loop)) for f in filters]
        self._flush()
        await self._answers([p for _, p in owed], None)
        first: Optional[BrokerError] = None
        for f, p in owed:
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

    async def receive(self, timeout: Optional[float] = None) -> Delivery:
        """The next delivery or event, waiting at most ``timeout`` seconds
        (TimeoutError). ConnectionLost once the connection ended (and no
        reconnect is under way)."""
        core = self._core
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            core.take_publish_error()
            if core.deliveries and not self._handshaking:
                d = core.deliveries.popleft()
                if self.raise_events and isinstance(d, Event):
                    raise d
                return d
            if self._transport is None and self._reconnecting is None:
                raise ConnectionLost(
                    "the broker closed the connection" if self._ended else "not connected", 0)
            self._flush()
            self._waiter = loop.create_future()
            try:
                left = None if deadline is None else max(0.0, deadline - loop.time())
                await asyncio.wait_for(self._waiter, left)
            except asyncio.TimeoutError:
                raise TimeoutError("nothing from the broker in time") from None
            finally:
                self._waiter = None

    def __aiter__(self) -> "AsyncClient":
        return self

    async def __anext__(self) -> Delivery:
        d = self._core.deliveries
        if d and self._core.publish_error is None and not self._handshaking:
            m = d.popleft()
            if type(m) is Message or not self.raise_events:
                return m
            raise m
        try:
            return await self.receive()
        except ConnectionLost:
            if self._ended:
                raise StopAsyncIteration from None
            raise

    # ------------------------------------------------------------ requests

    async def request(self, topic: str, payload: Payload = b"",
                      timeout: float = 5.0) -> Message:
        """``REQ``: the first reply, as a Message. BrokerError
        ``no-responders``; TimeoutError when none came in time."""
        t, p = check_topic(topic), check_payload(payload)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        line = b"REQ %s %s\n" % (t, p) if p else b"REQ %s\n" % t
        answer = await self._command(line, "REQ", timeout)
        rtopic = answer[3:]
        fut: asyncio.Future[None] = loop.create_future()
        self._reply_waiters[rtopic] = fut
        try:
            waiting = self._core.replies.get(rtopic)
            if waiting is not None and not waiting:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(fut, max(0.0, deadline - loop.time()))
            waiting = self._core.replies.get(rtopic)
            if not waiting:
                if waiting is None:
                    raise ConnectionLost("connection lost while waiting for a reply", 0)
                raise TimeoutError(f"no reply to {topic} within {timeout} s")
            return waiting[0]
        finally:
            del self._reply_waiters[rtopic]
            if self._transport is not None:
                with contextlib.suppress(ConnectionLost, BrokerError, asyncio.TimeoutError):
                    await self._command(b"UNSUB %s\n" % rtopic,
                                        "UNSUB " + rtopic.decode(), 5.0)
            self._core.replies.pop(rtopic, None)

    # ------------------------------------------------------------ the rest

    async def ping(self, text: Optional[str] = None) -> float:
        """``PING``: the round trip in seconds; the ordering barrier."""
        start = time.perf_counter()
        await self._command(b"PING %s\n" % text.encode() if text else b"PING\n", "PING")
        rtt = time.perf_counter() - start
        self._core.take_publish_error()  # the barrier: every earlier ERR is in
        return rtt

    async def stats(self) -> dict[str, Union[int, str]]:
        """``STATS``: the broker's counters by name."""
        return parse_stats(await self._command(b"STATS\n", "STATS"))


def _err_of(p: Pending) -> BrokerError:
    try:
        reply_value(p)
    except BrokerError as err:
        return err
    return BrokerError("unexpected", (p.line or b"").decode("utf-8", "replace"), p.command)
