#!/usr/bin/env bash
# Runs every volcv benchmark on a release build and prints a Markdown table against the
# targets of the performance issue (what | target | measured | verdict), then the raw output.
#
#   benches/run.sh            everything (about 3 minutes after the build, on 2 cores)
#   RUNS=5 benches/run.sh     fewer start-up runs
#
# Installs what it needs when missing (hyperfine, curl, python3; perf if the kernel allows,
# else CPU time is read from /proc). Linux only: it reads /proc and drives a pseudo-terminal.
# Benchmarks report; nothing here fails on a missed target.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUNS=${RUNS:-20}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d /tmp/volcv-bench.XXXXXX)
MOCK_PID=
cleanup() {
    if [ -n "$MOCK_PID" ]; then kill "$MOCK_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
log() { printf '\n== %s\n' "$*" >&2; }
# Runs a command; its output goes to stderr (the log) and stdout (kept for the table). Stops
# the script if the command fails.
capture() {
    local f
    f=$(mktemp "$WORK/out.XXXXXX")
    if ! "$@" >"$f" 2>&1; then
        cat "$f" >&2
        echo "failed: $*" >&2
        exit 1
    fi
    cat "$f" >&2
    cat "$f"
}

# ------------------------------------------------------------------ tools
apt_install() {
    command -v apt-get >/dev/null || { echo "please install: $*" >&2; return 1; }
    local sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get install -y -qq "$@" >/dev/null 2>&1 ||
        { $sudo apt-get update -qq >/dev/null 2>&1 && $sudo apt-get install -y -qq "$@" >/dev/null; }
}
for tool in hyperfine curl python3; do
    if ! command -v "$tool" >/dev/null; then
        log "installing $tool"
        apt_install "$tool"
    fi
done
if ! perf stat -x, -e task-clock true >/dev/null 2>&1; then
    apt_install linux-perf >/dev/null 2>&1 || true
fi

# ------------------------------------------------------------------ build
log "building (release)"
start=$(date +%s%N)
cargo build --release --locked --bin volcv >&2
build_s=$(( ($(date +%s%N) - start) / 1000000000 ))
BIN=$CARGO_TARGET_DIR/release/volcv
bin_mb=$(python3 -c "import os; print(f'{os.path.getsize(\"$BIN\") / 1e6:.1f}')")
BENCHES="--bench tui --bench history"
[ -f benches/sweep.rs ] && BENCHES="$BENCHES --bench sweep"
# shellcheck disable=SC2086
cargo bench --locked $BENCHES --no-run >&2
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ start-up, idle
log "start-up to first frame ($RUNS runs), idle RSS and CPU"
start_out=$(capture python3 benches/ptydrive.py start "$BIN" --runs "$RUNS" --idle 10 | grep '^RESULT')
silent_out=$(capture python3 benches/ptydrive.py start "$BIN" --runs 5 --idle 0 --silent | grep '^RESULT')
log "start to first key handled (xterm-like pty, silent pty, detached tmux)"
firstkey_out=$(
    capture python3 benches/ptydrive.py firstkey "$BIN" --runs 10 | grep '^RESULT'
    capture python3 benches/ptydrive.py firstkey "$BIN" --runs 10 --silent | grep '^RESULT'
    capture python3 benches/ptydrive.py firstkey "$BIN" --runs 10 --tmux | grep '^RESULT'
)

# ------------------------------------------------------------------ big answers
log "big answers, in process (cargo bench --bench tui)"
tui_out=$(capture cargo bench --locked --bench tui)
cargo bench --locked --bench tui -- --write-bodies "$WORK" >/dev/null 2>&1
log "big answers, the real binary (peak RSS)"
json_real=$(capture python3 benches/ptydrive.py answer "$BIN" "$WORK/json-1mb.json" --body-tab --runs 5 | grep '^RESULT')
images_real=$(capture python3 benches/ptydrive.py answer "$BIN" "$WORK/images-8mb.json" --runs 3 | grep '^RESULT')

# ------------------------------------------------------------------ send vs curl
log "volcv send vs curl against the mock (latency 0)"
"$BIN" mock --addr 127.0.0.1:0 --latency 0 --quiet >"$WORK/mock.url" 2>/dev/null &
MOCK_PID=$!
for _ in $(seq 50); do [ -s "$WORK/mock.url" ] && break; sleep 0.1; done
URL=$(head -1 "$WORK/mock.url")
mkdir -p "$WORK/home" "$WORK/out"
SEND_ENV="env HOME=$WORK/home XDG_CONFIG_HOME=$WORK/home/config XDG_DATA_HOME=$WORK/home/data"
SEND_ARGS="--endpoint $URL --auth none --image https://example.com/ref.jpg --set prompt=a-red-fox --set seed=7 --set return_url=false"
$SEND_ENV "$BIN" send $SEND_ARGS --dry-run 2>/dev/null | sed '1,/^$/d' >"$WORK/body.json"
hyperfine -N --warmup 3 --runs 40 --export-json "$WORK/send.json" \
    -n "volcv send" "$SEND_ENV $BIN send $SEND_ARGS --out $WORK/out" \
    -n "volcv send --no-history" "$SEND_ENV $BIN send $SEND_ARGS --out $WORK/out --no-history" \
    -n "curl" "curl -s -o /dev/null -X POST -H Content-Type:application/json --data-binary @$WORK/body.json ${URL}?Action=CVProcess&Version=2022-08-31" >&2
send_medians=$(python3 -c "
import json; r = json.load(open('$WORK/send.json'))['results']
print(' '.join(f'{x[\"median\"] * 1000:.2f}' for x in r))")
kill "$MOCK_PID" 2>/dev/null || true
MOCK_PID=

# ------------------------------------------------------------------ history, sweep
log "history with 100 000 entries (cargo bench --bench history)"
history_out=$(capture cargo bench --locked --bench history)
sweep_out=
if [ -f benches/sweep.rs ]; then
    log "sweep (cargo bench --bench sweep)"
    sweep_out=$(capture cargo bench --locked --bench sweep)
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ the table
python3 - "$start_out" "$silent_out" "$firstkey_out" "$tui_out" "$json_real" "$images_real" "$send_medians" \
    "$history_out" "$sweep_out" "$build_s" "$bin_mb" "$load_before" "$load_after" <<'EOF'
import re, sys
(start, silent, firstkey, tui, json_real, images_real, send, history, sweep, build_s, bin_mb,
 load_before, load_after) = sys.argv[1:]

def kv(line):
    return {k: v for k, v in (p.split("=", 1) for p in line.split()[1:] if "=" in p)}

def result(text, case):
    for line in text.splitlines():
        if line.startswith("RESULT ") and f"case={case}" in line:
            return kv(line)
    return {}

def f(d, k):
    try:
        return float(d[k])
    except (KeyError, ValueError):
        return float("nan")

def verdict(ok):
    return "met" if ok else "**missed**"

def hist(label):
    for line in history.splitlines():
        if line.startswith(label):
            m = re.search(r"median\s+([0-9.]+) ms", line)
            if m:
                return float(m.group(1))
    return float("nan")

rows = []
s, q = kv(start), kv(silent)
ff = f(s, "first_frame_median_ms")
rows.append(("process start to first full frame, 200x50", "<= 25 ms median",
             f"{ff:.1f} ms median ({s.get('runs')} runs; {f(q, 'first_frame_median_ms'):.1f} ms with a terminal that answers nothing)",
             verdict(ff <= 25 and f(q, "first_frame_median_ms") <= 25)))
fk = {c: result(firstkey, c) for c in ("xterm", "silent", "tmux")}
def fk_part(c, label):
    d = fk[c]
    if "skipped" in d:
        return f"{label}: not run ({d['skipped']})"
    return f"{label} {f(d, 'first_key_median_ms'):.1f} ms ({f(d, 'after_frame_median_ms'):+.1f} after its first frame, worst {f(d, 'after_frame_max_ms'):+.1f})"
fk_ok = all("skipped" in fk[c] or f(fk[c], "after_frame_median_ms") <= 5 for c in fk)
rows.append(("start to first key handled (a key sent the moment the first frame is complete, until its effect is drawn)",
             "first frame + <= 5 ms, in all three",
             "; ".join([fk_part("xterm", "xterm-like pty"), fk_part("silent", "silent pty"), fk_part("tmux", "detached tmux")]),
             verdict(fk_ok)))
rss = f(s, "rss_peak_kib") / 1024
rows.append(("peak RSS idle after start", "<= 15 MB", f"{rss:.1f} MB (VmHWM after 1 s)", verdict(rss <= 15)))
cpu = f(s, "perf_cpu_ms") if "perf_cpu_ms" in s else f(s, "idle_cpu_ms")
sw = int(f(s, "perf_switches") if "perf_switches" in s else f(s, "idle_switches"))
how = "perf stat" if "perf_cpu_ms" in s else "/proc schedstat"
rows.append(("CPU while idle for 10 s", "< 5 ms, no wake-ups beyond input",
             f"{cpu:.2f} ms CPU, {sw} context switches ({how})", verdict(cpu < 5 and sw <= 10)))
k = result(tui, "keys")
rows.append(("key press to frame (update + render + diff), 200x50, history and images loaded", "p99 <= 4 ms",
             f"p99 {f(k, 'p99_ms'):.2f} ms (p50 {f(k, 'p50_ms'):.2f}, max {f(k, 'max_ms'):.2f}; {int(f(k, 'keys'))} keys)",
             verdict(f(k, "p99_ms") <= 4)))
j, jr = result(tui, "json"), kv(json_real)
jpeak = f(jr, "peak_rss_median_kib") / 1024
rows.append(("1 MB JSON: body received to summary + Body tab drawn", "<= 30 ms, peak RSS <= 30 MB",
             f"{f(j, 'drawn_ms'):.1f} ms median in process ({f(jr, 'drawn_median_ms'):.1f} ms in the real binary); peak RSS {jpeak:.1f} MB (real binary)",
             verdict(f(j, "drawn_ms") <= 30 and jpeak <= 30)))
i, ir = result(tui, "images"), kv(images_real)
rows.append(("4 JPEGs 2048x2048 as base64 (~8 MB body): received to all previews drawn", "<= 300 ms, no frame > 33 ms",
             f"{f(i, 'drawn_ms'):.0f} ms median, longest UI frame {f(i, 'longest_frame_ms'):.1f} ms; peak RSS {f(ir, 'peak_rss_median_kib') / 1024:.0f} MB (real binary)",
             verdict(f(i, "drawn_ms") <= 300 and f(i, "longest_frame_ms") <= 33)))
v, vn, c = (float(x) for x in send.split())
rows.append(("`volcv send` vs curl, same body, mock with latency 0", "overhead <= 15 ms median",
             f"{v - c:+.1f} ms ({v:.1f} vs {c:.1f} ms; {vn - c:+.1f} ms with --no-history)", verdict(v - c <= 15)))
op, fts, ent = hist("TUI open pane"), hist("TUI search 'lighthouse'"), hist("TUI open entry")
rows.append(("history of 100 000 rows: open pane, first page / FTS search / open entry", "<= 10 / 50 / 10 ms",
             f"{op:.2f} / {fts:.1f} / {ent:.2f} ms (medians)", verdict(op <= 10 and fts <= 50 and ent <= 10)))
if sweep:
    m = re.search(r"wall[^0-9]*([0-9.]+)\s*s\b", sweep)
    if m:
        wall = float(m.group(1))
        rows.append(("sweep of 40 cells at QPS 10 against the mock", "wall within 10 % of 4 s",
                     f"{wall:.2f} s", verdict(abs(wall - 4) <= 0.4)))
    else:
        rows.append(("sweep of 40 cells at QPS 10 against the mock", "wall within 10 % of 4 s",
                     "see the sweep output below", "?"))
else:
    rows.append(("sweep of 40 cells at QPS 10 against the mock", "wall within 10 % of 4 s",
                 "not run (benches/sweep.rs not in this tree)", "-"))

print()
print("| what | target | measured | verdict |")
print("|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
print()
print(f"Release build {float(build_s):.0f} s (incremental unless the target dir was empty), binary {bin_mb} MB. "
      f"Load average {load_before} before, {load_after} after.")
EOF
