#!/usr/bin/env python3
"""retained.py -- what retained values cost udsbrokerd, next to mosquitto.

    tests/bench/retained.py [BUILD_DIR] [--values N] [--scan N] [--no-mosquitto]

Starts its own udsbrokerd (BUILD_DIR/src/daemon/udsbrokerd, or $UDSBROKERD)
on a socket in a temporary directory, and mosquitto (when installed) on a
loopback port, and measures, in one run:

  * memory: RSS growth per retained value after N values (default 10^6) of
    32-byte topics and 16-byte payloads, for both brokers;
  * lookup: broker CPU time per SUB of one exact topic among those N values
    (from /proc/PID/stat, over 2,000 SUB/UNSUB pairs);
  * scan: a SUB of '#' over --scan values (default 100,000): how long until
    the subscriber has them all, and the longest PING round trip another
    client saw meanwhile (it pings back to back).

Figures only: nothing is asserted. Stops what it started.
"""
import argparse
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

TICK = os.sysconf("SC_CLK_TCK")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def topic(i):
    t = "sensors/room%05d/temp/v%010d" % (i % 100000, i)
    return t[:32].ljust(32, "x")


def payload(i):
    return ("%016d" % i)[-16:]


class Lines:
    """A line reader over a Unix socket."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.s.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def line(self, timeout=60):
        while b"\n" not in self.buf:
            r, _, _ = select.select([self.s], [], [], timeout)
            if not r:
                raise TimeoutError("no line")
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def until(self, want):
        while True:
            line = self.line()
            if line == want:
                return
            if line.startswith(b"ERR"):
                raise RuntimeError(line.decode(errors="replace"))


def uds_memory(daemon, tmp, n):
    conf = os.path.join(tmp, "uds.conf")
    with open(conf, "w") as f:
        f.write("[broker]\nsys_interval = 0\nmax_retained = %d\n"
                "max_retained_bytes = 1024M\nmax_line = 1M\n[log]\nlevel = warn\n" % (n + 10))
    sock = os.path.join(tmp, "uds.sock")
    p = subprocess.Popen([daemon, "-f", "-c", conf, "-s", sock])
    try:
        c = Lines(sock)
        c.send(b"PING ready\n")
        c.until(b"PONG ready")
        before = rss_kb(p.pid)
        batch = []
        for i in range(n):
            batch.append(b"RETAIN %s %s\n" % (topic(i).encode(), payload(i).encode()))
            if len(batch) == 10000:
                c.send(b"".join(batch))
                batch = []
        c.send(b"".join(batch) + b"PING done\n")
        c.until(b"PONG done")
        after = rss_kb(p.pid)
        res = {"per_value": (after - before) * 1024 / n}

        # Lookup: SUB of one exact topic among n values.
        cpu0 = cpu_s(p.pid)
        reps = 2000
        want = topic(n // 2).encode()
        for _ in range(reps):
            c.send(b"SUB %s\nUNSUB %s\n" % (want, want))
            c.until(b"OK")
            r = c.line()
            if not r.startswith(b"RMSG " + want):
                raise RuntimeError(r)
            c.until(b"OK")
        res["sub_exact_cpu_us"] = (cpu_s(p.pid) - cpu0) * 1e6 / reps
        return res
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)


def uds_scan(daemon, tmp, n):
    conf = os.path.join(tmp, "scan.conf")
    with open(conf, "w") as f:
        f.write("[broker]\nsys_interval = 0\nmax_retained = %d\nqueue_limit = 1024M\n"
                "[log]\nlevel = warn\n" % (n + 10))
    sock = os.path.join(tmp, "scan.sock")
    p = subprocess.Popen([daemon, "-f", "-c", conf, "-s", sock])
    try:
        c = Lines(sock)
        c.send(b"".join(b"RETAIN %s %s\n" % (topic(i).encode(), payload(i).encode())
                        for i in range(n)) + b"PING done\n")
        c.until(b"PONG done")
        a = Lines(sock)
        pinger = Lines(sock)
        t0 = time.monotonic()
        a.send(b"SUB #\n")
        got, worst, pings = 0, 0.0, 0
        a.s.setblocking(False)
        while got < n + 1:
            t = time.monotonic()
            pinger.send(b"PING\n")
            pinger.until(b"PONG")
            worst = max(worst, time.monotonic() - t)
            pings += 1
            try:
                chunk = a.s.recv(1 << 22)
            except BlockingIOError:
                chunk = b""
            got += chunk.count(b"\n")  # "OK", then one RMSG a value
            if time.monotonic() - t0 > 120:
                raise TimeoutError("scan")
        return {"scan_s": time.monotonic() - t0, "scan_ping_max_ms": worst * 1000,
                "scan_pings": pings}
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)


def mqtt_packet(kind, body):
    n, enc = len(body), b""
    while True:
        b, n = n % 128, n // 128
        enc += bytes([b | (128 if n else 0)])
        if not n:
            break
    return bytes([kind]) + enc + body


def mqtt_str(s):
    return struct.pack("!H", len(s)) + s


def mosquitto_memory(n):
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(exe):
        return None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    conf.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
               "log_dest none\nmax_queued_messages 0\n" % port)
    conf.close()
    p = subprocess.Popen([exe, "-c", conf.name], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                c = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        c.sendall(mqtt_packet(0x10, mqtt_str(b"MQTT") + b"\x04\x02\x00\x3c" +
                              mqtt_str(b"retained-bench")))
        if c.recv(4)[:1] != b"\x20":
            raise RuntimeError("no CONNACK")
        before = rss_kb(p.pid)
        batch = []
        for i in range(n):
            batch.append(mqtt_packet(0x31, mqtt_str(topic(i).encode()) + payload(i).encode()))
            if len(batch) == 10000:
                c.sendall(b"".join(batch))
                batch = []
        c.sendall(b"".join(batch) + b"\xc0\x00")  # PINGREQ after them all
        got = b""
        while b"\xd0\x00" not in got:
            got += c.recv(64)
        after = rss_kb(p.pid)
        c.close()
        return {"per_value": (after - before) * 1024 / n}
    finally:
        p.terminate()
        p.wait(timeout=60)
        os.unlink(conf.name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--values", type=int, default=1000000)
    ap.add_argument("--scan", type=int, default=100000)
    ap.add_argument("--no-mosquitto", action="store_true")
    o = ap.parse_args()
    daemon = os.environ.get("UDSBROKERD") or os.path.join(o.build, "src/daemon/udsbrokerd")
    tmp = tempfile.mkdtemp(prefix="udsb-retained.")
    try:
        uds = uds_memory(daemon, tmp, o.values)
        uds.update(uds_scan(daemon, tmp, o.scan))
        mosq = None if o.no_mosquitto else mosquitto_memory(o.values)
    finally:
        shutil.rmtree(tmp)
    print("| measure | udsbrokerd | mosquitto |")
    print("|---|---|---|")
    print("| RSS per retained value, %d values (32 B topic, 16 B payload) | %.0f B | %s |"
          % (o.values, uds["per_value"], "%.0f B" % mosq["per_value"] if mosq else "not run"))
    print("| broker CPU per SUB of one exact topic among them | %.1f us | |"
          % uds["sub_exact_cpu_us"])
    print("| SUB # over %d values: all received after | %.3f s | |" % (o.scan, uds["scan_s"]))
    print("| meanwhile, longest PING round trip of another client | %.1f ms (%d pings) | |"
          % (uds["scan_ping_max_ms"], uds["scan_pings"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
