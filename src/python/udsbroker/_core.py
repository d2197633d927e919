"""The protocol without I/O: what both clients share.

Everything here is pure: building command lines, parsing the broker's
lines, matching replies to commands, finding the socket path. `Client`
(blocking) and `AsyncClient` (asyncio) only move bytes and wait.
"""

from __future__ import annotations

import errno
import grp
import os
import socket
import stat
from collections import deque
from typing import Any, Callable, Optional, Union

Payload = Union[bytes, bytearray, memoryview, str]

#: The daemon's default socket for the system broker.
SYSTEM_SOCKET = "/run/udsbroker.sock"
#: The environment variable that names a socket, as for udsctl.
SOCKET_ENV = "UDSBROKER_SOCKET"
#: Longest path an AF_UNIX address holds (sun_path, less its NUL).
SUN_PATH_MAX = 107

# Caches are bounded: a client publishing to millions of distinct topics
# must not grow without limit.
_CACHE_MAX = 4096


# ---------------------------------------------------------------- errors


class Error(Exception):
    """Base of every error this package raises."""


class BrokerError(Error):
    """The broker answered ``ERR <code> <text>``.

    ``code`` is the stable token (``bad-topic``, ``forbidden``,
    ``no-responders``, ...); ``text`` the broker's human text; ``command``
    the command that failed, as far as the client knows it (``"PUB"`` for
    a publish: which of the pipelined publishes failed is not known).
    """

    def __init__(self, code: str, text: str = "", command: str = "") -> None:
        self.code = code
        self.text = text
        self.command = command
        where = f"{command}: " if command else ""
        super().__init__(f"{where}{code}" + (f" ({text})" if text else ""))


class ConnectionLost(Error, ConnectionError):
    """The connection to the broker ended, or the client is not connected.

    ``unsent`` counts publishes the client had accepted but not yet
    written to the socket when the connection was lost: they were not
    published (publishes already written may or may not have been
    processed; ``ping()`` is the barrier that tells).
    """

    def __init__(self, message: str, unsent: int = 0) -> None:
        self.unsent = unsent
        super().__init__(message)


class CannotConnect(Error, ConnectionError):
    """connect() failed; the message names the path and the reason."""

    def __init__(self, path: str, message: str, err: int = 0) -> None:
        super().__init__(message)
        self.path = path
        self.errno = err  # after OSError's __init__, which sets it to None


# ---------------------------------------------------------------- deliveries


class Message:
    """One delivery: ``MSG`` (live) or ``RMSG`` (a retained value).

    ``uid``, ``gid``, ``pid`` are the publisher's credentials as the kernel
    told the broker (None when unknown, or when the broker has no ``OPT
    meta``); ``via`` the listener it came through; ``reply`` the reply topic
    of a request (use ``Client.reply``).
    """

    __slots__ = ("topic", "payload", "retained", "uid", "gid", "pid", "via", "reply")

    def __init__(
        self,
        topic: str,
        payload: bytes,
        retained: bool = False,
        uid: Optional[int] = None,
        gid: Optional[int] = None,
        pid: Optional[int] = None,
        via: Optional[str] = None,
        reply: Optional[str] = None,
    ) -> None:
        self.topic = topic
        self.payload = payload
        self.retained = retained
        self.uid = uid
        self.gid = gid
        self.pid = pid
        self.via = via
        self.reply = reply

    def __repr__(self) -> str:
        extra = "".join(
            f", {k}={getattr(self, k)!r}"
            for k in ("uid", "gid", "pid", "via", "reply")
            if getattr(self, k) is not None
        )
        r = ", retained=True" if self.retained else ""
        return f"Message({self.topic!r}, {self.payload!r}{r}{extra})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    __hash__ = None  # type: ignore[assignment]


class Event(Exception):
    """Something about the delivery stream rather than a delivery.

    Events are yielded by iteration like messages, or raised, as the client
    was told (``raise_events=True``): so they are exceptions too.
    """


class Dropped(Event):
    """``DROPPED <n>``: the broker dropped ``count`` messages meant for this
    client because it read too slowly."""

    def __init__(self, count: int) -> None:
        self.count = count
        super().__init__(f"the broker dropped {count} messages for this client")


class Bye(Event):
    """``BYE <reason>``: the broker is closing this connection (``shutdown``,
    ``slow-consumer``, ``idle``)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the broker closes the connection: {reason}")


class Reconnected(Event):
    """The client (``reconnect=True``) lost its connection and made a new
    one: meta, the will and every subscription were set again. Messages
    published in the gap were not delivered to this client. ``unsent``
    publishes accepted before the loss were never written; ``failed`` maps
    a filter the broker now refused to its BrokerError (it is no longer
    held), and ``"WILL"`` to the error if the will was refused (it is
    dropped)."""

    def __init__(self, unsent: int = 0, failed: Optional[dict[str, BrokerError]] = None,
                 down: float = 0.0) -> None:
        self.unsent = unsent
        self.failed = failed or {}
        self.down = down
        super().__init__(f"reconnected after {down:.3f} s")


Delivery = Union[Message, Event]


# ---------------------------------------------------------------- socket path


def socket_path(path: Optional[str] = None) -> str:
    """The socket a client uses, by the SPEC's client rule.

    ``path`` if given, else ``$UDSBROKER_SOCKET``, else
    ``$XDG_RUNTIME_DIR/udsbroker.sock`` when it exists, is a socket and is
    owned by the calling user (a personal broker), else the system broker's
    ``/run/udsbroker.sock``.
    """
    if path:
        return os.fspath(path)
    env = os.environ.get(SOCKET_ENV)
    if env:
        return env
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        personal = os.path.join(xdg, "udsbroker.sock")
        try:
            st = os.stat(personal)
        except OSError:
            pass
        else:
            if stat.S_ISSOCK(st.st_mode) and st.st_uid == os.getuid():
                return personal
    return SYSTEM_SOCKET


def connect_error(path: str, exc: OSError) -> CannotConnect:
    """The error for a failed connect(), worded as udsctl words it."""
    err = exc.errno or 0
    why = os.strerror(err) if err else str(exc)
    msg = f"cannot connect to {path}: {why}"
    if err in (errno.ENOENT, errno.ECONNREFUSED):
        msg += " (is udsbrokerd running?)"
    elif err == errno.EACCES:
        try:
            gid = os.stat(path).st_gid
            try:
                group = grp.getgrgid(gid).gr_name
            except KeyError:
                group = str(gid)
            msg += f" (members of group {group} may connect)"
        except OSError:
            pass
    return CannotConnect(path, msg, err)


def unix_socket(path: str) -> socket.socket:
    """A connected AF_UNIX stream socket, or CannotConnect."""
    if len(os.fsencode(path)) > SUN_PATH_MAX:
        raise CannotConnect(
            path,
            f"cannot connect to {path}: the path is {len(os.fsencode(path))} bytes, "
            f"longer than the {SUN_PATH_MAX} a Unix socket address holds",
            errno.ENAMETOOLONG,
        )
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise connect_error(path, exc) from None
    return sock


# ---------------------------------------------------------------- lines out


def check_topic(topic: str, what: str = "topic") -> bytes:
    """The topic as bytes; ValueError for what would break the line.

    The broker checks the MQTT rules itself (ERR bad-topic); here only what
    would make the line mean something else: a space, a newline, nothing.
    """
    if not isinstance(topic, str):
        raise TypeError(f"{what} must be str, not {type(topic).__name__}")
    if not topic or " " in topic or "\n" in topic or "\r" in topic:
        raise ValueError(f"bad {what} {topic!r}: empty, or has a space or a line break")
    return topic.encode("utf-8")


def check_payload(payload: Payload) -> bytes:
    """The payload as bytes; ValueError if it cannot travel in one line."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    elif not isinstance(payload, bytes):
        if not isinstance(payload, (bytearray, memoryview)):
            raise TypeError(f"payload must be bytes or str, not {type(payload).__name__}")
        payload = bytes(payload)
    if b"\n" in payload or payload.endswith(b"\r"):
        raise ValueError("a payload may not contain a newline nor end with a carriage return")
    return payload


def _meta_fields(meta: bytes) -> tuple[Optional[int], Optional[int], Optional[int],
                                        Optional[str], Optional[str]]:
    """(uid, gid, pid, via, reply) from ``key=value;key=value``; unknown
    keys are ignored, as the SPEC asks."""
    uid = gid = pid = None
    via = reply = None
    for field in meta.decode("utf-8", "surrogateescape").split(";"):
        key, _, value = field.partition("=")
        try:
            if key == "uid":
                uid = int(value)
            elif key == "gid":
                gid = int(value)
            elif key == "pid":
                pid = int(value)
        except ValueError:
            pass
        if key == "via":
            via = value
        elif key == "reply":
            reply = value
    return uid, gid, pid, via, reply


# ---------------------------------------------------------------- replies


class Pending:
    """A command sent that is owed exactly one reply line."""

    __slots__ = ("command", "line", "future")

    def __init__(self, command: str, future: Any = None) -> None:
        self.command = command  # "SUB a/#", for error messages; "REQ" marks a request
        self.line: Optional[bytes] = None  # the reply, once it came
        self.future = future  # AsyncClient: resolved with the line


# A run of publishes (PUB, RETAIN, replies) sent one after another. None of
# them is answered on success; the run ends with the PING the client sends
# before the next command that is answered, so every ERR read while a run
# is at the head of the queue belongs to one of its publishes.
_PUBLISHES = Pending("PUB")

# The words that begin an answer (as opposed to a delivery or a notice).
_REPLY_WORDS = (b"OK", b"ERR", b"PONG", b"STATS")


class Core:
    """One connection's protocol state: the reply queue and the deliveries.

    Lines out are built by the ``*_line`` methods; lines in are fed to
    ``feed``. Deliveries and events go to ``deliveries``; each reply line
    goes to the oldest command still owed one (see the package docstring).
    """

    def __init__(self) -> None:
        self.deliveries: deque[Delivery] = deque()
        self.pending: deque[Pending] = deque()
        self.publishing = False  # the queue's tail is a run of publishes
        self.meta = False  # the broker took OPT meta on
        self.publish_error: Optional[BrokerError] = None
        self.publish_errors = 0
        self.bye: Optional[str] = None
        self.replies: dict[bytes, list[Message]] = {}  # open request topics
        self.reply_hook: Optional[Callable[[bytes], None]] = None
        self._topics: dict[str, bytes] = {}
        self._names: dict[bytes, str] = {}
        self._metas: dict[bytes, tuple[Any, ...]] = {}

    # ---- lines out

    def publish_line(self, word: bytes, topic: str, payload: Payload) -> bytes:
        """``PUB``/``RETAIN`` line; marks a run of publishes owed no reply."""
        t = self._topics.get(topic)
        if t is None:
            t = check_topic(topic)
            if len(self._topics) >= _CACHE_MAX:
                self._topics.clear()
            self._topics[topic] = t
        if type(payload) is not bytes or b"\n" in payload or payload.endswith(b"\r"):
            payload = check_payload(payload)
        if not self.publishing:
            self.pending.append(_PUBLISHES)
            self.publishing = True
        if payload:
            return b"%s %s %s\n" % (word, t, payload)
        return b"%s %s\n" % (word, t)

    def command_line(self, line: bytes, command: str, future: Any = None) -> tuple[bytes, Pending]:
        """The bytes to send for a command owed a reply, and its queue entry.

        After a run of publishes, a PING goes first: its PONG closes the
        run, so an ERR is never mistaken for this command's answer.
        """
        if self.publishing:
            self.publishing = False
            line = b"PING\n" + line
        p = Pending(command, future)
        self.pending.append(p)
        return line, p

    def take_publish_error(self) -> None:
        """Raises the first failed publish's error since the last call."""
        err = self.publish_error
        if err is not None:
            self.publish_error = None
            n, self.publish_errors = self.publish_errors, 0
            if n > 1:
                err = BrokerError(err.code, f"{err.text} (and {n - 1} more failed publishes)",
                                  err.command)
            raise err

    # ---- lines in

    def feed(self, chunk: bytes) -> None:
        """Handles ``chunk``, whole lines each ending with a newline."""
        lines = chunk.split(b"\n")
        lines.pop()
        names = self._names
        append = self.deliveries.append
        replies = self.replies
        meta = self.meta
        for line in lines:
            if line[:4] == b"MSG ":
                if not meta:
                    parts = line.split(b" ", 2)
                    t = parts[1]
                    topic = names.get(t)
                    if topic is None:
                        topic = self._name(t)
                    if replies and t in replies:
                        self._reply_msg(t, Message(topic, parts[2] if len(parts) > 2 else b""))
                    else:
                        append(Message(topic, parts[2] if len(parts) > 2 else b""))
                    continue
                t, msg = self._meta_message(line[4:], False)
                if replies and t in replies:
                    if msg.via is None:  # SPEC shows replies without meta
                        parts = line.split(b" ", 2)
                        msg = Message(msg.topic, parts[2] if len(parts) > 2 else b"")
                    self._reply_msg(t, msg)
                else:
                    append(msg)
            elif line[:5] == b"RMSG ":
                if meta:
                    append(self._meta_message(line[5:], True)[1])
                else:
                    parts = line.split(b" ", 2)
                    topic = names.get(parts[1]) or self._name(parts[1])
                    append(Message(topic, parts[2] if len(parts) > 2 else b"", True))
            else:
                self._other(line)
                meta = self.meta  # OPT meta's OK changes how the next lines read

    def _name(self, t: bytes) -> str:
        name = t.decode("utf-8", "surrogateescape")
        if len(self._names) >= _CACHE_MAX:
            self._names.clear()
        self._names[t] = name
        return name

    def _meta_message(self, rest: bytes, retained: bool) -> tuple[bytes, Message]:
        """A delivery with meta on, ``<topic> <meta> [<payload>]``: the
        topic's bytes and the Message."""
        parts = rest.split(b" ", 2)
        t = parts[0]
        topic = self._names.get(t) or self._name(t)
        payload = parts[2] if len(parts) > 2 else b""
        if len(parts) < 2:
            return t, Message(topic, payload, retained)
        fields = self._metas.get(parts[1])
        if fields is None:
            fields = _meta_fields(parts[1])
            if fields[3] is None:  # no via=: not a meta field (see feed)
                return t, Message(topic, payload, retained, *fields)
            if fields[4] is None:  # replies are new each time: not cached
                if len(self._metas) >= _CACHE_MAX:
                    self._metas.clear()
                self._metas[parts[1]] = fields
        return t, Message(topic, payload, retained, *fields)

    def _reply_msg(self, t: bytes, msg: Message) -> None:
        """A reply to an open request: kept for request(), not iterated."""
        self.replies[t].append(msg)
        if self.reply_hook is not None:
            self.reply_hook(t)

    def _other(self, line: bytes) -> None:
        word, _, rest = line.partition(b" ")
        if word in _REPLY_WORDS:
            self._reply(word, line)
        elif word == b"DROPPED":
            try:
                n = int(rest)
            except ValueError:
                n = 0
            self.deliveries.append(Dropped(n))
        elif word == b"BYE":
            self.bye = rest.decode("utf-8", "replace")
            self.deliveries.append(Bye(self.bye))
        # Anything else is a line of a later release: ignored.

    def _reply(self, word: bytes, line: bytes) -> None:
        if not self.pending:
            # Unsolicited: the broker refusing the connection (server-busy).
            if word == b"ERR":
                self.publish_error = parse_err(line, "connect")
                self.publish_errors += 1
            return
        head = self.pending[0]
        if head is _PUBLISHES:
            if word == b"ERR":
                if self.publish_error is None:
                    self.publish_error = parse_err(line, "PUB")
                self.publish_errors += 1
                return
            self.pending.popleft()  # the PONG that closes the run
            return
        self.pending.popleft()
        head.line = line
        if head.command == "OPT meta on" and line == b"OK":
            self.meta = True
        if head.command == "REQ" and line.startswith(b"OK "):
            self.replies[line[3:]] = []
        if head.future is not None and not head.future.done():
            head.future.set_result(line)

    def fail_pending(self) -> list[Pending]:
        """Forgets every command owed a reply (the connection is gone)."""
        owed = [p for p in self.pending if p is not _PUBLISHES]
        self.pending.clear()
        self.publishing = False
        self.replies.clear()
        return owed


def parse_err(line: bytes, command: str) -> BrokerError:
    """BrokerError from ``ERR <code> <text>``."""
    parts = line.decode("utf-8", "replace").split(" ", 2)
    code = parts[1] if len(parts) > 1 else "unknown"
    text = parts[2] if len(parts) > 2 else ""
    return BrokerError(code, text, command)


def parse_stats(line: bytes) -> dict[str, Union[int, str]]:
    """``STATS k=v k=v`` as a dict; decimal values become int."""
    out: dict[str, Union[int, str]] = {}
    for field in line.decode("utf-8", "replace").split()[1:]:
        key, _, value = field.partition("=")
        try:
            out[key] = int(value)
        except ValueError:
            out[key] = value
    return out


def reply_value(p: Pending) -> bytes:
    """The reply line of ``p``; BrokerError if it is an ERR."""
    line = p.line
    assert line is not None
    if line.startswith(b"ERR"):
        raise parse_err(line, p.command)
    return line
