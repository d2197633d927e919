#!/usr/bin/env python3
"""Python client speed: udsbroker's Client against redis-py's pub/sub.

    tests/bench/python_speed.py [-n COUNT] [--udsbrokerd PATH] [--redis-server PATH]

One run, in one process, each side alone on the machine in turn:

- udsbroker: a daemon on a socket in a temporary directory; a subscriber
  connects and subscribes, a publisher sends COUNT 64-byte messages with
  ``Client.publish`` in a loop (each written at once), then COUNT more
  inside ``with client.batch()``; after each, ``for msg in client``
  receives them. The broker holds what the subscriber has not read yet
  (queue_limit 1024M), so publishing and receiving are timed apart.
- redis-py: redis-server on a Unix socket in a temporary directory (no
  persistence, no pub/sub output limit); ``r.publish`` in a loop (one round
  trip each, so only min(COUNT, 100000) of them), then COUNT through a
  pipeline (transaction=False, 1000 per execute); ``pubsub.listen()``
  receives them.

Prints messages/s for each and the ratios udsbroker / redis-py. Every
message is counted on the way in; a lost one fails the run (exit 1).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src" / "python"))

import udsbroker  # noqa: E402

PAYLOAD = b"x" * 64
TOPIC = "bench/py"


def wait_socket(path: str, line: bytes, answer: bytes, proc: subprocess.Popen) -> None:
    """Waits (20 s at most) until the server on path answers line."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited {proc.returncode}")
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(1)
                s.connect(path)
                s.sendall(line)
                if s.recv(100).startswith(answer):
                    return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"no answer on {path}")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def bench_uds(daemon: str, n: int, tmp: Path) -> dict[str, float]:
    conf = tmp / "udsbrokerd.conf"
    conf.write_text("[broker]\nqueue_limit = 1024M\n")
    sock = str(tmp / "uds.sock")
    proc = subprocess.Popen([daemon, "-f", "-c", str(conf), "-s", sock],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict[str, float] = {}
    try:
        wait_socket(sock, b"PING\n", b"PONG", proc)
        with udsbroker.Client(sock) as sub, udsbroker.Client(sock) as pub:
            sub.subscribe(TOPIC)
            for name in ("publish", "publish_batch"):
                publish = pub.publish
                start = time.perf_counter()
                if name == "publish":
                    for _ in range(n):
                        publish(TOPIC, PAYLOAD)
                else:
                    with pub.batch():
                        for _ in range(n):
                            publish(TOPIC, PAYLOAD)
                pub.ping()  # the broker processed every one
                out[name] = rate(n, time.perf_counter() - start)

                got = 0
                start = time.perf_counter()
                for msg in sub:
                    if type(msg) is not udsbroker.Message or msg.payload != PAYLOAD:
                        sys.exit(f"udsbroker: unexpected {msg!r}")
                    got += 1
                    if got == n:
                        break
                out[name.replace("publish", "receive")] = rate(n, time.perf_counter() - start)
            if sub.stats()["dropped"] != 0:
                sys.exit("udsbroker: messages were dropped")
    finally:
        stop(proc)
    return out


def bench_redis(server: str, n: int, tmp: Path) -> dict[str, float]:
    import redis  # python3-redis

    sock = str(tmp / "redis.sock")
    proc = subprocess.Popen(
        [server, "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no",
         "--client-output-buffer-limit", "pubsub 0 0 0", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict[str, float] = {}
    try:
        wait_socket(sock, b"PING\r\n", b"+PONG", proc)
        r = redis.Redis(unix_socket_path=sock)
        ps = r.pubsub()
        ps.subscribe(TOPIC)
        listen = ps.listen()
        assert next(listen)["type"] == "subscribe"
        n_loop = min(n, 100_000)
        for name, count in (("publish", n_loop), ("publish_batch", n)):
            start = time.perf_counter()
            if name == "publish":
                publish = r.publish
                for _ in range(count):
                    publish(TOPIC, PAYLOAD)
            else:
                pipe = r.pipeline(transaction=False)
                for i in range(count):
                    pipe.publish(TOPIC, PAYLOAD)
                    if i % 1000 == 999:
                        pipe.execute()
                pipe.execute()
            r.ping()
            out[name] = rate(count, time.perf_counter() - start)

            got = 0
            start = time.perf_counter()
            for msg in listen:
                if msg["type"] != "message" or msg["data"] != PAYLOAD:
                    sys.exit(f"redis: unexpected {msg!r}")
                got += 1
                if got == count:
                    break
            out[name.replace("publish", "receive")] = rate(count, time.perf_counter() - start)
        ps.close()
        r.close()
    finally:
        stop(proc)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=1_000_000, help="messages per phase")
    ap.add_argument("--udsbrokerd", default=os.environ.get("UDSBROKERD")
                    or str(ROOT / "build" / "src" / "daemon" / "udsbrokerd"))
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="udsb-pybench-") as d:
        tmp = Path(d)
        uds = bench_uds(args.udsbrokerd, args.n, tmp)
        red = None
        if importlib.util.find_spec("redis") is None:
            print("redis-py missing (apt-get install python3-redis; it is for "
                  "/usr/bin/python3): udsbroker only")
        elif not shutil.which(args.redis_server):
            print("redis-server missing (apt-get install redis-server): udsbroker only")
        else:
            red = bench_redis(args.redis_server, args.n, tmp)

    rows = [
        ("publish, a loop of publish()", "publish"),
        ("receive what that published", "receive"),
        ("publish, batched (uds batch(), redis pipeline)", "publish_batch"),
        ("receive what that published", "receive_batch"),
    ]
    print(f"{args.n:,} messages of {len(PAYLOAD)} bytes per phase "
          f"(redis-py publish() loop: {min(args.n, 100_000):,}); messages/s")
    print(f"{'':48} {'udsbroker':>12} {'redis-py':>12} {'ratio':>7}")
    for label, key in rows:
        u = uds[key]
        if red is None:
            print(f"{label:48} {u:12,.0f}")
        else:
            print(f"{label:48} {u:12,.0f} {red[key]:12,.0f} {u / red[key]:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
