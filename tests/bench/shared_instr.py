#!/usr/bin/env python3
"""shared_instr.py: what a shared group costs per message, next to one
plain subscriber, in user-space instructions of udsbrokerd counted by
callgrind (as instr.sh does; counts do not depend on how busy the machine
is). Until udsbench has a shared-group mode (issue 14 point 5).

    tests/bench/shared_instr.py [--build DIR] [--sizes 1,10,100]

For each case it runs the daemon under callgrind twice, publishing M1 and
M2 messages of 64 bytes, and prints (Ir(M2) - Ir(M1)) / (M2 - M1): the cost
of one more message, without start-up, connections and subscriptions. Cases:
"plain 1" (one subscriber of the topic) and "group N" (N members of
$share/g/<topic>; each message reaches one of them). A group costs what one
subscriber does when the figures agree within a few percent.
"""
import argparse
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time

TOPIC = "bench/shared"


def connect(path, deadline):
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def read_line(sock, buf):
    while b"\n" not in buf[0]:
        data = sock.recv(65536)
        if not data:
            raise RuntimeError("broker closed a connection")
        buf[0] += data
    line, buf[0] = buf[0].split(b"\n", 1)
    return line


def run(daemon, tmp, members, shared, msgs):
    sock = os.path.join(tmp, "sock")
    out = os.path.join(tmp, "cg.out")
    for f in (sock, out):
        if os.path.exists(f):
            os.unlink(f)
    conf = os.path.join(tmp, "conf")
    with open(conf, "w") as f:
        f.write("[broker]\nqueue_limit = 64M\nsys_interval = 0\n[log]\nlevel = warn\n")
    vg = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                           daemon, "-f", "-c", conf, "-s", sock],
                          stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        filt = ("$share/g/" + TOPIC) if shared else TOPIC
        subs = []
        for _ in range(members):
            s = connect(sock, deadline)
            s.sendall(("SUB %s\n" % filt).encode())
            buf = [b""]
            if read_line(s, buf) != b"OK":
                raise RuntimeError("SUB refused")
            s.setblocking(False)
            subs.append(s)
        pub = connect(sock, deadline)
        line = ("PUB %s %s\n" % (TOPIC, "x" * 64)).encode()
        sel = selectors.DefaultSelector()
        for s in subs:
            sel.register(s, selectors.EVENT_READ)
        got, sent, chunk = 0, 0, 1000
        while got < msgs:
            if sent < msgs and sent - got < 20000:
                n = min(chunk, msgs - sent)
                pub.sendall(line * n)
                sent += n
            for key, _ in sel.select(timeout=0 if sent < msgs else 1):
                data = key.fileobj.recv(1 << 20)
                if not data:
                    raise RuntimeError("broker closed a subscriber")
                got += data.count(b"\n")
        for s in subs:
            s.close()
        pub.close()
    finally:
        vg.send_signal(signal.SIGTERM)
        vg.wait()
    keep = os.environ.get("SHARED_INSTR_KEEP")
    if keep:
        import shutil
        shutil.copy(out, os.path.join(keep, "cg.%s.%d.%d" % ("g" if shared else "p", members, msgs)))
    with open(out) as f:
        for l in f:
            if l.startswith("summary:"):
                return int(l.split()[1])
    raise RuntimeError("no callgrind summary")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--sizes", default="1,10,100")
    ap.add_argument("--m1", type=int, default=20000)
    ap.add_argument("--m2", type=int, default=120000)
    a = ap.parse_args()
    daemon = os.environ.get("UDSBROKERD", os.path.join(a.build, "src/daemon/udsbrokerd"))
    cases = [("plain 1", 1, False)] + [("group %d" % n, n, True)
                                        for n in map(int, a.sizes.split(","))]
    print("| case | instructions per message |")
    print("|---|---|")
    with tempfile.TemporaryDirectory(prefix="udsb-shared.") as tmp:
        for name, n, shared in cases:
            lo = run(daemon, tmp, n, shared, a.m1)
            hi = run(daemon, tmp, n, shared, a.m2)
            print("| %s | %.0f |" % (name, (hi - lo) / (a.m2 - a.m1)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
