"""udsbroker: a Python client for udsbrokerd (standard library only).

::

    import udsbroker
    with udsbroker.Client() as c:          # the SPEC's socket rule
        c.subscribe("sensors/#")
        c.publish("sensors/kitchen/temp", b"21.5")
        for msg in c:                      # Message, or an Event
            print(msg.topic, msg.payload)

``Client`` blocks; ``AsyncClient`` has the same calls as coroutines
(``async for msg in c``). Both share the protocol code in ``_core``.

How replies are matched to commands (read this before changing it)
-------------------------------------------------------------------

The broker answers every command that has an answer with exactly one line
(``OK``, ``OK <reply-topic>`` for REQ, ``ERR``, ``PONG``, ``STATS``), in the
order of the commands. Deliveries (``MSG``, ``RMSG``) and notices
(``DROPPED``, ``BYE``) may come between those lines at any point: they are
never answers, whatever they contain. So the client keeps one queue of
commands owed an answer and hands each answer line to the oldest of them;
it never looks at the content of a line to guess whose answer it is.

Publishes (``PUB``, ``RETAIN``, a request's reply) have no answer when they
succeed, and an ``ERR`` when they fail. A run of publishes is one entry in
that queue. Before the next command that has an answer, the client sends a
``PING``; its ``PONG`` ends the run. So an ``ERR`` read while a run is at
the head of the queue belongs to one of its publishes, and never to the
command after it; which publish of the run failed is not known (the error
says ``PUB``).

A failed publish's ``BrokerError`` (``command == "PUB"``, with the count of
further failures in its text) is raised by the next call of the client
after the ``ERR`` was read, before that call does anything, so that call
had no effect and can simply be repeated. Calls that wait for the broker
(``subscribe``, ``stats``, ``request``, ``receive`` and iteration) read, and
so notice it; ``ping()`` also raises the errors it read up to its own
barrier, so when ``ping()`` returns, every earlier publish succeeded.

The client sends ``OPT meta on`` when it connects, so deliveries carry the
publisher's ``uid``, ``gid``, ``pid``, ``via`` and a request's ``reply``
topic. A broker without that option answers ``ERR unknown-command``; the
client then goes on without meta (those fields are None).

A command that has an answer waits for it at most ``command_timeout``
seconds (30 by default; TimeoutError, never a hang). Its answer, if it
comes later, is still matched to it, so later commands stay in step.

Ending: ``close()`` (and leaving a ``with`` block normally) sends ``QUIT``,
so the broker runs no will; ``abort()``, leaving a ``with`` block by an
exception, and a client that is garbage-collected while connected close
without ``QUIT``, as a crash would, so the will runs.

Connection loss and reconnect
-----------------------------

Without ``reconnect``, a lost connection raises ``ConnectionLost`` from the
call that noticed it and from every later call; iteration ends
(StopIteration) when the broker said ``BYE`` and closed. With
``reconnect=True`` the client reconnects with back-off (0.1 s doubling to
5 s), sets meta and the will again, subscribes again to every filter it
held, and reports the gap as a ``Reconnected`` event in the delivery
stream. Publishing while disconnected raises ``ConnectionLost`` (never a
silent loss); publishes accepted but not yet written when the connection
broke are counted in ``ConnectionLost.unsent`` and ``Reconnected.unsent``.
"""

from ._core import (
    SOCKET_ENV,
    SYSTEM_SOCKET,
    BrokerError,
    Bye,
    CannotConnect,
    ConnectionLost,
    Delivery,
    Dropped,
    Error,
    Event,
    Message,
    Reconnected,
    socket_path,
)
from .aio import AsyncClient
from .client import Client

__version__ = "0.2.0"

__all__ = [
    "AsyncClient",
    "BrokerError",
    "Bye",
    "CannotConnect",
    "Client",
    "ConnectionLost",
    "Delivery",
    "Dropped",
    "Error",
    "Event",
    "Message",
    "Reconnected",
    "SOCKET_ENV",
    "SYSTEM_SOCKET",
    "socket_path",
]
