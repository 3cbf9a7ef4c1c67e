#!/usr/bin/python3
"""apidload.py - load and fault test of apid's submit route and event stream,
for tests/bats/apidload.bats (short) and bench/11-apid.sh (full size).

One process holds CLIENTS Server-Sent-Event connections to /events (one
selector loop, plain sockets) and one more that never reads (a stalled
client, its receive buffer made small), while a pool of threads submits
RATE jobs per second for DURATION seconds through POST /jobs/submit, each
job named load-N. Then it waits until every client has seen every job
reach FINAL (or DRAIN seconds pass) and checks, against the spool itself:

  - every job was accepted once: each submit answered accepted 1 with one
    ID, IDs are distinct, and the spool holds exactly one job per name;
  - every client saw, for every job, each stage of the job's history, in
    order (the stages after `incoming`), and nothing else;
  - the stalled client did not hold the others up: they received every
    event while it had data waiting in apid's send queue (/proc/net/tcp:
    its receive window closed) or lost events (apid dropped it when its
    queue of api.client_queue filled); a run where it did neither fails,
    as proving nothing; with --expect-drop apid must have disconnected it
    (apid keeps its event sockets' send buffers small, so a reader that
    stops fills its queue);
  - apid's resident memory (VmRSS of --pid, sampled every 0.5 s) after the
    first quarter of the run against its end: printed, and the growth is
    checked against --rss-slack-kib.

Prints a JSON summary on stdout; exit 0 when every check passed, 1 with
the failed checks on stderr, 2 on bad usage. Latencies (event time_ms to
arrival) are printed, never asserted.
"""
import argparse
import http.client
import json
import os
import selectors
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def now_ms():
    return time.time() * 1000.0


class SSEClient:
    """One /events connection, read incrementally (chunked or not)."""

    def __init__(self, host, port, token, idx, stalled=False):
        self.idx = idx
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if stalled:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((host, port))
        req = ("GET /events HTTP/1.1\r\nHost: %s:%d\r\n"
               "Authorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n"
               % (host, port, token))
        self.sock.sendall(req.encode())
        self.sock.setblocking(False)
        self.raw = b""
        self.headers_done = False
        self.status = None
        self.chunked = False
        self.chunk_left = 0
        self.body = b""
        self.closed = False
        self.seen = {}          # job id -> [stages]
        self.lat = []           # ms from the event's time_ms to arrival
        self.count = 0
        self.ev_data = []
        self.ev_type = "message"

    def feed(self, data):
        if not data:
            self.closed = True
            return
        self.raw += data
        if not self.headers_done:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.raw[:end].decode("latin-1").split("\r\n")
            self.status = int(head[0].split()[1])
            for h in head[1:]:
                k, _, v = h.partition(":")
                if k.strip().lower() == "transfer-encoding" and \
                        "chunked" in v.lower():
                    self.chunked = True
            self.raw = self.raw[end + 4:]
            self.headers_done = True
        if self.chunked:
            self.dechunk()
        else:
            self.body += self.raw
            self.raw = b""
        self.parse()

    def dechunk(self):
        while self.raw:
            if self.chunk_left > 0:
                take = self.raw[:self.chunk_left]
                self.body += take
                self.raw = self.raw[len(take):]
                self.chunk_left -= len(take)
                if self.chunk_left == 0:
                    self.chunk_left = -2        # its CRLF follows
                continue
            if self.chunk_left < 0:
                if len(self.raw) < -self.chunk_left:
                    return
                self.raw = self.raw[-self.chunk_left:]
                self.chunk_left = 0
                continue
            nl = self.raw.find(b"\r\n")
            if nl < 0:
                return
            size = int(self.raw[:nl].split(b";")[0], 16)
            self.raw = self.raw[nl + 2:]
            if size == 0:
                self.closed = True
                return
            self.chunk_left = size

    def parse(self):
        t = now_ms()
        while True:
            nl = self.body.find(b"\n")
            if nl < 0:
                return
            line = self.body[:nl].rstrip(b"\r").decode("utf-8", "replace")
            self.body = self.body[nl + 1:]
            if line == "":
                if self.ev_data and self.ev_type == "job":
                    self.event(json.loads("\n".join(self.ev_data)), t)
                self.ev_data = []
                self.ev_type = "message"
            elif line.startswith(":"):
                continue
            else:
                field, _, val = line.partition(":")
                val = val[1:] if val.startswith(" ") else val
                if field == "data":
                    self.ev_data.append(val)
                elif field == "event":
                    self.ev_type = val

    def event(self, ev, t):
        self.count += 1
        if ev.get("type") != "stage":
            return
        self.seen.setdefault(ev["id"], []).append(ev.get("stage"))
        if ev.get("time_ms"):
            self.lat.append(t - ev["time_ms"])


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def send_queue(port, peer_port):
    """Bytes queued to send on the loopback connection from PORT to
    PEER_PORT (/proc/net/tcp's tx_queue), 0 when there is none."""
    want = (":%04X" % port, ":%04X" % peer_port)
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fld = line.split()
            if fld[1].endswith(want[0]) and fld[2].endswith(want[1]):
                return int(fld[4].split(":")[0], 16)
    return 0


def history_stages(spool, jid):
    out = []
    with open(os.path.join(spool, "data", jid, "history")) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and "not moved" not in line:
                out.append(parts[1])
    return out


def pct(vals, p):
    if not vals:
        return None
    v = sorted(vals)
    return round(v[min(len(v) - 1, max(0, int(p * len(v) / 100.0 + 0.5) - 1))], 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--token-file", required=True,
                    help="a tokens file as apid reads it; its first token is used (kept off argv)")
    ap.add_argument("--spool", required=True)
    ap.add_argument("--disk", required=True, help="a raw disk for every job")
    ap.add_argument("--pid", type=int, required=True, help="apid's pid")
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--final", default="request")
    ap.add_argument("--drain", type=float, default=30)
    ap.add_argument("--threads", type=int, default=64)
    ap.add_argument("--rss-slack-kib", type=int, default=4096)
    ap.add_argument("--expect-drop", action="store_true",
                    help="the stalled client must have been disconnected")
    a = ap.parse_args()
    with open(a.token_file) as f:    # apid's format: ROLE TOKEN [NAME]
        token = [ln.split()[1] for ln in f
                 if ln.strip() and not ln.startswith("#")][0]

    fails = []
    sel = selectors.DefaultSelector()
    clients = []
    for i in range(a.clients):
        c = SSEClient(a.host, a.port, token, i)
        clients.append(c)
        sel.register(c.sock, selectors.EVENT_READ, c)
    stalled = SSEClient(a.host, a.port, token, -1, stalled=True)

    def pump(timeout):
        for key, _ in sel.select(timeout):
            c = key.data
            try:
                data = c.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            c.feed(data)
            if c.closed:
                sel.unregister(c.sock)

    deadline = time.time() + 10
    while time.time() < deadline and not all(c.headers_done for c in clients):
        pump(0.2)
    bad = [c.idx for c in clients if c.status != 200]
    if bad:
        print("apidload: %d clients got no 200 from /events" % len(bad),
              file=sys.stderr)
        return 1

    rss = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                rss.append((time.time(), rss_kib(a.pid)))
            except OSError:
                pass
            stop.wait(0.5)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    tls = threading.local()
    results = {}
    lock = threading.Lock()

    def submit(i, due):
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        if not hasattr(tls, "conn"):
            tls.conn = http.client.HTTPConnection(a.host, a.port, timeout=120)
        body = json.dumps({"name": "load-%d" % i, "source": {
            "type": "file", "disks": [{"path": a.disk, "format": "raw"}]}})
        for attempt in range(2):
            try:
                tls.conn.request("POST", "/jobs/submit", body, {
                    "Authorization": "Bearer " + token,
                    "Content-Type": "application/json"})
                r = tls.conn.getresponse()
                ans = (r.status, r.read())
                break
            except (http.client.HTTPException, OSError) as e:
                # a kept-alive connection apid closed: one new one, not
                # a second submit of a job that may have been written
                tls.conn.close()
                tls.conn = http.client.HTTPConnection(a.host, a.port,
                                                      timeout=120)
                ans = (0, str(e).encode())
                if attempt or not isinstance(e, http.client.RemoteDisconnected):
                    break
        with lock:
            results[i] = ans

    n = int(a.rate * a.duration)
    t0 = time.time()
    pool = ThreadPoolExecutor(max_workers=a.threads)
    futs = [pool.submit(submit, i, t0 + i / a.rate) for i in range(n)]
    while not all(f.done() for f in futs):
        pump(0.05)
    pool.shutdown()
    t_sub = time.time() - t0

    ids = {}
    for i in range(n):
        st, raw = results.get(i, (0, b""))
        try:
            ans = json.loads(raw)
        except ValueError:
            ans = {}
        jids = ans.get("job_ids") or []
        if st != 200 or ans.get("accepted") != 1 or len(jids) != 1:
            fails.append("job load-%d: %s %s" % (i, st, raw[:200]))
            continue
        ids[jids[0]] = i
    if len(ids) != len([1 for i in range(n) if results.get(i, (0,))[0] == 200]):
        fails.append("a job ID was answered twice")

    def complete(c):
        return all(a.final in c.seen.get(j, ()) for j in ids)
    end = time.time() + a.drain
    while time.time() < end and not all(complete(c) for c in clients
                                        if not c.closed):
        pump(0.1)
    stop.set()
    sampler.join()

    # the spool: exactly one job per name
    names = {}
    for stage in os.listdir(a.spool):
        d = os.path.join(a.spool, stage)
        if stage in ("data", "tmp", "run", "incoming") or not os.path.isdir(d):
            continue
        for f in os.listdir(d):
            if f.startswith("."):
                continue
            try:
                with open(os.path.join(d, f)) as jf:
                    nm = json.load(jf).get("name", "")
            except (OSError, ValueError):
                continue
            names.setdefault(nm, []).append(f)
    for i in range(n):
        got = names.get("load-%d" % i, [])
        if len(got) != 1:
            fails.append("load-%d is %d times in the spool" % (i, len(got)))

    hist = {j: [s for s in history_stages(a.spool, j) if s != "incoming"]
            for j in ids}
    closed = [c.idx for c in clients if c.closed]
    if closed:
        fails.append("%d clients were disconnected (first: %d)" %
                     (len(closed), closed[0]))
    missing = 0
    for c in clients:
        for j, want in hist.items():
            if c.seen.get(j, []) != want:
                missing += 1
                if missing <= 5:
                    fails.append("client %d, job %s: saw %s, history %s" %
                                 (c.idx, j, c.seen.get(j), want))
    if missing > 5:
        fails.append("... %d (client, job) pairs in all" % missing)

    # the stalled client: what apid's side of its connection could not
    # send (the kernel's send queue: a closed receive window); then read
    # what it holds (2 s of silence ends it): fewer events than the others
    # got means apid dropped some, a closed stream that apid dropped it
    backlog = send_queue(a.port, stalled.sock.getsockname()[1])
    stalled.sock.settimeout(2)
    try:
        while not stalled.closed:
            stalled.feed(stalled.sock.recv(1 << 20))
    except (socket.timeout, OSError):
        pass
    full = min(c.count for c in clients)
    if a.expect_drop and not stalled.closed:
        fails.append("apid did not disconnect the stalled client (it got "
                     "%d of %d events)" % (stalled.count, full))
    if stalled.count >= full and not backlog:
        fails.append("the stalled client got all %d events and nothing "
                     "waited for it: it never stalled (the test proves "
                     "nothing)" % full)

    quarter = rss[len(rss) // 4][1] if rss else 0
    last = rss[-1][1] if rss else 0
    peak = max((r for _, r in rss), default=0)
    if rss and last - quarter > a.rss_slack_kib:
        fails.append("apid's RSS grew from %d KiB to %d KiB" % (quarter, last))
    lat = [x for c in clients for x in c.lat]
    summary = {
        "jobs": n, "accepted": len(ids), "submit_seconds": round(t_sub, 1),
        "rate": round(n / t_sub, 1) if t_sub else None,
        "clients": a.clients,
        "events_per_client": min(c.count for c in clients),
        "stage_events_expected_per_client": sum(len(h) for h in hist.values()),
        "latency_ms_p50": pct(lat, 50), "latency_ms_p99": pct(lat, 99),
        "latency_ms_max": round(max(lat), 1) if lat else None,
        "stalled_backlog_bytes": backlog, "stalled_events": stalled.count, "stalled_dropped": stalled.closed,
        "rss_kib_start": rss[0][1] if rss else None,
        "rss_kib_quarter": quarter, "rss_kib_end": last, "rss_kib_peak": peak,
        "failures": len(fails),
    }
    print(json.dumps(summary))
    for f in fails:
        print("apidload: " + f, file=sys.stderr)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
