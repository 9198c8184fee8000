#!/usr/bin/env python3
"""Drives the real volcv binary in a pseudo-terminal, for benches/run.sh (not a test).

  ptydrive.py start BIN [--runs N] [--silent]
      process start to the first full frame at 200x50 (the last row's key hints written),
      median of N runs; then, on the last run, peak RSS after 1 s idle and CPU time and
      context switches over 10 s idle.
  ptydrive.py answer BIN BODY.json [--body-tab]
      volcv pointed at a loopback HTTP server that answers BODY.json: F5, then the time from
      the server's last byte written to the frame showing the summary, and the peak RSS.

  ptydrive.py firstkey BIN [--runs N] [--silent | --tmux]
      a key (`?`, the help) sent the moment the first frame is complete, until its effect is
      drawn; median of N runs. --tmux runs volcv in a detached tmux session (known as tmux:
      TMUX set), reading its output with pipe-pane and sending the key with send-keys.

The terminal answers the start-up query like xterm does (device attributes without sixel, then
the status report), unless --silent (a terminal that answers nothing; volcv's query then runs
to its 0.5 s timeout beside the running UI).
Results are printed as `RESULT key=value ...` lines. Linux only (/proc).
"""

import argparse
import fcntl
import http.server
import os
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time

COLS, ROWS = 200, 50
# CSI, OSC, APC/DCS/PM strings, charset selections and two-byte escapes.
ANSI = re.compile(
    rb"\x1b(?:\[[0-9;?<>=!]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[_P^][^\x1b]*\x1b\\|[()][0-9A-Za-z]|[=>78DEHMc])"
)
LAST_ROW = re.compile(rb"Tab\s*pane")


def strip(b):
    return ANSI.sub(b"", b)


class Term:
    """A process on a pseudo-terminal of COLS x ROWS; output is read by a thread."""

    def __init__(self, argv, env, answer=True):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.chunks = []  # (perf_counter, bytes)
        self.lock = threading.Lock()
        self.answer = answer
        self.master = master
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        tail = b""
        while True:
            try:
                r, _, _ = select.select([self.master], [], [], 0.5)
                if not r:
                    if self.proc.poll() is not None:
                        return
                    continue
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            now = time.perf_counter()
            with self.lock:
                self.chunks.append((now, data))
            if self.answer:
                scan = tail + data
                # Device attributes: a VT220-class terminal with colours, no sixel.
                if b"\x1b[c" in scan:
                    self.write(b"\x1b[?62;22c")
                # Status report: "OK". It ends volcv's query.
                if b"\x1b[5n" in scan:
                    self.write(b"\x1b[0n")
                tail = scan[-8:]

    def write(self, b):
        try:
            os.write(self.master, b)
        except OSError:
            pass

    def size(self):
        with self.lock:
            return len(self.chunks)

    def wait_for(self, patterns, since=0, timeout=20.0):
        """The read time of the chunk that completed every pattern in the output after chunk
        index `since` (escape sequences stripped), or None."""
        deadline = time.perf_counter() + timeout
        checked = since
        while time.perf_counter() < deadline:
            with self.lock:
                chunks = list(self.chunks)
            for k in range(max(checked, since), len(chunks)):
                text = strip(b"".join(c for _, c in chunks[since : k + 1]))
                if all(p.search(text) for p in patterns):
                    return chunks[k][0]
            checked = len(chunks)
            time.sleep(0.001)
        return None

    def quiet(self, for_s=1.0, timeout=30.0):
        """Waits until nothing has been written for `for_s` seconds."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                last = self.chunks[-1][0] if self.chunks else self.t0
            if time.perf_counter() - last >= for_s:
                return
            time.sleep(0.05)

    def stop(self):
        self.write(b"q")
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        os.close(self.master)


def env_for(home, extra=None):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "XDG_CONFIG_HOME": os.path.join(home, "config"),
        "XDG_DATA_HOME": os.path.join(home, "data"),
        "XDG_STATE_HOME": os.path.join(home, "state"),
        "XDG_CACHE_HOME": os.path.join(home, "cache"),
        "TERM": "xterm-256color",
        "COLORTERM": "truecolor",
        "LANG": "C.UTF-8",
    }
    env.update(extra or {})
    return env


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_snapshot(pid):
    """Per thread: (on-CPU ns, context switches); and the process's utime+stime ticks, which
    include threads that ended."""
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
            switches = 0
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        switches += int(line.split()[1])
            threads[tid] = (ns, switches)
        except OSError:
            pass
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return threads, int(fields[11]) + int(fields[12])


def perf_works():
    if not shutil.which("perf"):
        return False
    r = subprocess.run(
        ["perf", "stat", "-x,", "-e", "task-clock", "true"],
        capture_output=True,
        text=True,
    )
    return r.returncode == 0 and "not supported" not in r.stderr


def idle(pid, seconds):
    """CPU and wake-ups of `pid` over `seconds` of idling."""
    use_perf = perf_works()
    perf = None
    if use_perf:
        perf = subprocess.Popen(
            ["perf", "stat", "-x,", "-e", "task-clock,context-switches", "-p", str(pid), "--", "sleep", str(seconds)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    (ta, ticks_a) = cpu_snapshot(pid)
    time.sleep(seconds)
    (tb, ticks_b) = cpu_snapshot(pid)
    # Threads alive at the end: their time since the start (or since they started). A thread
    # that ended meanwhile is only in the tick count (10 ms resolution).
    zero = (0, 0)
    out = {
        "idle_cpu_ms": sum(b[0] - ta.get(t, zero)[0] for t, b in tb.items()) / 1e6,
        "idle_switches": sum(b[1] - ta.get(t, zero)[1] for t, b in tb.items()),
        "idle_ticks_ms": (ticks_b - ticks_a) * 1000 / os.sysconf("SC_CLK_TCK"),
        "idle_threads_ended": len(set(ta) - set(tb)),
    }
    if perf:
        _, err = perf.communicate()
        for line in err.splitlines():
            parts = line.split(",")
            if len(parts) > 3 and parts[2] == "task-clock":
                out["perf_cpu_ms"] = float(parts[0])
            if len(parts) > 3 and parts[2] == "context-switches":
                out["perf_switches"] = int(parts[0])
    return out


def cmd_start(args):
    times, last = [], None
    for i in range(args.runs):
        home = tempfile.mkdtemp(prefix="volcv-bench-")
        t = Term([args.bin, "--demo"], env_for(home), answer=not args.silent)
        done = t.wait_for([LAST_ROW])
        if done is None:
            t.stop()
            sys.exit(f"no full frame within 20 s; output: {strip(b''.join(c for _, c in t.chunks))[-2000:]!r}")
        times.append((done - t.t0) * 1000)
        if i == args.runs - 1:
            time.sleep(1.0)
            last = {
                "rss_peak_kib": status_kib(t.proc.pid, "VmHWM"),
                "rss_now_kib": status_kib(t.proc.pid, "VmRSS"),
                "threads": len(os.listdir(f"/proc/{t.proc.pid}/task")),
            }
            if args.idle > 0:
                last.update(idle(t.proc.pid, args.idle))
        t.stop()
        shutil.rmtree(home, ignore_errors=True)
    times.sort()
    out = {
        "runs": len(times),
        "first_frame_median_ms": statistics.median(times),
        "first_frame_min_ms": times[0],
        "first_frame_max_ms": times[-1],
    }
    out.update(last or {})
    print("RESULT " + " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in out.items()))


HELP = re.compile(rb"Esc closes")


def cmd_firstkey(args):
    if args.tmux:
        return firstkey_tmux(args)
    frames, keys = [], []
    for _ in range(args.runs):
        home = tempfile.mkdtemp(prefix="volcv-bench-")
        t = Term([args.bin, "--demo"], env_for(home), answer=not args.silent)
        frame = t.wait_for([LAST_ROW])
        if frame is None:
            t.stop()
            sys.exit("no first frame")
        since = t.size()
        t.write(b"?")
        done = t.wait_for([HELP], since=since, timeout=20)
        if done is None:
            t.stop()
            sys.exit(f"the key was not handled; output: {strip(b''.join(c for _, c in t.chunks[since:]))[-2000:]!r}")
        frames.append((frame - t.t0) * 1000)
        keys.append((done - t.t0) * 1000)
        t.stop()
        shutil.rmtree(home, ignore_errors=True)
    report_firstkey("silent" if args.silent else "xterm", frames, keys)


def report_firstkey(case, frames, keys):
    deltas = sorted(k - f for f, k in zip(frames, keys))
    print(
        f"RESULT case={case} runs={len(keys)} first_frame_median_ms={statistics.median(frames):.3f} "
        f"first_key_median_ms={statistics.median(keys):.3f} after_frame_median_ms={statistics.median(deltas):.3f} "
        f"after_frame_max_ms={deltas[-1]:.3f}"
    )


def firstkey_tmux(args):
    if not shutil.which("tmux"):
        print("RESULT case=tmux skipped=no-tmux")
        return
    frames, keys = [], []
    for i in range(args.runs):
        home = tempfile.mkdtemp(prefix="volcv-bench-")
        sock = f"volcv-bench-{os.getpid()}-{i}"
        out = os.path.join(home, "pane.out")
        open(out, "wb").close()
        env = env_for(home, {"TERM": "tmux-256color"})
        inner = " ".join(f"{k}={v}" for k, v in env.items())
        T = ["tmux", "-L", sock]
        cmd = f'read _; exec env -i {inner} TMUX="$TMUX" TMUX_PANE="$TMUX_PANE" {args.bin} --demo'
        subprocess.run(T + ["-f", "/dev/null", "new-session", "-d", "-s", "b", "-x", str(COLS), "-y", str(ROWS), cmd], check=True)
        subprocess.run(T + ["pipe-pane", "-o", "-t", "b", f"cat >> {out}"], check=True)
        time.sleep(0.2)

        def wait(pattern, since, timeout=20.0):
            deadline = time.perf_counter() + timeout
            while time.perf_counter() < deadline:
                with open(out, "rb") as f:
                    data = f.read()
                if pattern.search(strip(data[since:])):
                    return time.perf_counter(), len(data)
                time.sleep(0.0005)
            return None, 0

        t0 = time.perf_counter()
        subprocess.run(T + ["send-keys", "-t", "b", "Enter"], check=True)
        frame, size = wait(LAST_ROW, 0)
        if frame is None:
            subprocess.run(T + ["kill-server"])
            sys.exit("no first frame in tmux")
        subprocess.run(T + ["send-keys", "-t", "b", "?"], check=True)
        done, _ = wait(HELP, size)
        subprocess.run(T + ["send-keys", "-t", "b", "q"])
        time.sleep(0.3)
        subprocess.run(T + ["kill-server"], stderr=subprocess.DEVNULL)
        shutil.rmtree(home, ignore_errors=True)
        if done is None:
            sys.exit("the key was not handled in tmux")
        frames.append((frame - t0) * 1000)
        keys.append((done - t0) * 1000)
    report_firstkey("tmux", frames, keys)


class Answer(http.server.BaseHTTPRequestHandler):
    body = b""
    written = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)
        self.wfile.flush()
        Answer.written.append(time.perf_counter())

    def log_message(self, *a):
        pass


def cmd_answer(args):
    with open(args.body, "rb") as f:
        Answer.body = f.read()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    times, peaks, befores = [], [], []
    for _ in range(args.runs):
        home = tempfile.mkdtemp(prefix="volcv-bench-")
        os.makedirs(os.path.join(home, "config", "volcv"))
        with open(os.path.join(home, "config", "volcv", "config.toml"), "w") as f:
            f.write(
                "[defaults]\n"
                'prompt = "a corgi astronaut floating above the moon"\n'
                'image_urls = \'["https://example.com/volcv-bench-reference.jpg"]\'\n'
                "return_url = false\n"
            )
        Answer.written.clear()
        t = Term(
            [args.bin, "--endpoint", url, "--auth", "none", "--image-protocol", "halfblocks"],
            env_for(home),
        )
        if t.wait_for([LAST_ROW]) is None:
            t.stop()
            sys.exit("no first frame")
        t.quiet(0.5)
        befores.append(status_kib(t.proc.pid, "VmHWM"))
        patterns = [re.compile(rb"10000\s*success")]
        if args.body_tab:
            # Response pane, next tab (Body), before sending.
            t.write(b"2")
            time.sleep(0.1)
            t.write(b"l")
            time.sleep(0.1)
            patterns.append(re.compile(rb'"detections"'))
        since = t.size()
        t.write(b"\x1b[15~")  # F5
        done = t.wait_for(patterns, since=since, timeout=60)
        if done is None or not Answer.written:
            t.stop()
            sys.exit(f"no answer drawn; output: {strip(b''.join(c for _, c in t.chunks[since:]))[-3000:]!r}")
        times.append((done - Answer.written[0]) * 1000)
        t.quiet(1.5)
        peaks.append(status_kib(t.proc.pid, "VmHWM"))
        t.stop()
        shutil.rmtree(home, ignore_errors=True)
    server.shutdown()
    print(
        "RESULT "
        f"runs={len(times)} body_mb={len(Answer.body) / 1e6:.2f} "
        f"drawn_median_ms={statistics.median(times):.3f} drawn_min_ms={min(times):.3f} "
        f"drawn_max_ms={max(times):.3f} peak_rss_median_kib={int(statistics.median(peaks))} "
        f"peak_rss_max_kib={max(peaks)} before_kib={int(statistics.median(befores))}"
    )


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start")
    s.add_argument("bin")
    s.add_argument("--runs", type=int, default=20)
    s.add_argument("--idle", type=float, default=10.0, help="seconds of idle to measure (0: skip)")
    s.add_argument("--silent", action="store_true")
    k = sub.add_parser("firstkey")
    k.add_argument("bin")
    k.add_argument("--runs", type=int, default=10)
    k.add_argument("--silent", action="store_true")
    k.add_argument("--tmux", action="store_true")
    a = sub.add_parser("answer")
    a.add_argument("bin")
    a.add_argument("body")
    a.add_argument("--runs", type=int, default=5)
    a.add_argument("--body-tab", action="store_true")
    args = p.parse_args()
    {"start": cmd_start, "answer": cmd_answer, "firstkey": cmd_firstkey}[args.cmd](args)


if __name__ == "__main__":
    main()
