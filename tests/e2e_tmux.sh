#!/usr/bin/env bash
# End-to-end check of the terminal UI in a real terminal (tmux, 120x40):
#   1. `volcv --demo` starts, F5 sends, the result shows in the Response pane and the image is
#      saved; q quits with exit code 0 and the shell is back in canonical mode (terminal restored).
#   2. SIGTERM while the UI runs also restores the terminal.
#   3. So does SIGHUP (the SSH session or the terminal window went away).
#   4. In a detached tmux that volcv knows is tmux (TMUX set), keys sent the moment the first
#      frame is complete are all handled (j j j moves the selection, F5 sends), and the
#      start-up query ends on tmux's own answer instead of waiting for its timeout.
#   5. A bracketed paste with CR line endings (tmux paste-buffer -p) keeps its lines in the
#      prompt editor; Esc discards the edit.
# Usage: tests/e2e_tmux.sh [path/to/volcv]   (default: target/debug/volcv)
# Skips (exit 0) with a message when tmux is not installed. Every wait is bounded.
set -euo pipefail

BIN=${1:-${CARGO_TARGET_DIR:-target}/debug/volcv}
if ! command -v tmux >/dev/null 2>&1; then
    echo "e2e_tmux: tmux is not installed; skipping"
    exit 0
fi
if [[ ! -x "$BIN" ]]; then
    echo "e2e_tmux: no volcv binary at $BIN (build it, or pass its path)" >&2
    exit 1
fi
BIN=$(realpath "$BIN")
SOCK="volcv-e2e-$$"
TMP=$(mktemp -d)
PROMPT='e2e-shell$ '
T() { tmux -L "$SOCK" "$@"; }
cleanup() {
    T kill-server 2>/dev/null || true
    # The UI may still be flushing its log after SIGHUP; give it a moment.
    sleep 0.5
    rm -rf "$TMP" 2>/dev/null || true
}
trap cleanup EXIT

TARGET=e2e
fail() {
    echo "e2e_tmux: FAIL: $*" >&2
    echo "----- screen -----" >&2
    T capture-pane -t "$TARGET" -p >&2 || true
    exit 1
}

# wait_for PATTERN SECONDS [POLL]: until the screen matches (grep -E).
wait_for() {
    local pattern=$1 deadline=$((SECONDS + $2)) poll=${3:-0.2}
    while ((SECONDS < deadline)); do
        if T capture-pane -t "$TARGET" -p | grep -Eq -- "$pattern"; then
            return 0
        fi
        sleep "$poll"
    done
    fail "no match for /$pattern/ within $2 s"
}

# The UI is gone and the shell prompt is the last non-empty line.
wait_for_shell() {
    local deadline=$((SECONDS + $1))
    while ((SECONDS < deadline)); do
        local screen
        screen=$(T capture-pane -t e2e -p)
        if ! grep -q "Parameters" <<<"$screen" &&
            [[ $(grep -v '^[[:space:]]*$' <<<"$screen" | tail -n 1) == "${PROMPT% }"* ]]; then
            return 0
        fi
        sleep 0.2
    done
    fail "the shell did not come back within $1 s"
}

T -f /dev/null new-session -d -s e2e -x 120 -y 40 \
    "env -i HOME=$TMP PATH=$PATH TERM=xterm-256color LANG=C.UTF-8 \
     XDG_CONFIG_HOME=$TMP/config XDG_DATA_HOME=$TMP/data XDG_STATE_HOME=$TMP/state \
     PS1='$PROMPT' bash --norc --noprofile"
wait_for "^e2e-shell" 10

# 1. Send, see the result, quit with q.
T send-keys -t e2e "$BIN --demo" Enter
wait_for "1 Parameters" 20
wait_for "demo \(mock\)" 5
T send-keys -t e2e F5
wait_for "in flight" 10
wait_for "✔ 10000 success" 30
wait_for "→ .*/demo/images/[0-9a-f]{8}" 30
T send-keys -t e2e q
wait_for_shell 10
T send-keys -t e2e 'echo "exit=$?"; stty -a | grep -Eo "(^| )-?icanon( |$)"' Enter
wait_for "^exit=0" 5
wait_for "^ ?icanon" 5
saved=$(find "$TMP/data" -path '*/demo/images/*' -name '*.jpg' | wc -l)
[[ $saved -eq 1 ]] || fail "expected 1 image in the demo history store, found $saved"
[[ -f "$TMP/data/volcv/demo/history.sqlite3" ]] || fail "no demo history database"

echo "e2e_tmux: send, result, quit: ok"

# 2 and 3. SIGTERM and SIGHUP restore the terminal too.
for sig in TERM HUP; do
    case $sig in TERM) code=143 ;; HUP) code=129 ;; esac
    T send-keys -t e2e clear Enter
    T send-keys -t e2e "$BIN --demo" Enter
    wait_for "1 Parameters" 20
    # The next runs list the request from the history store (the demo's own) and open it.
    wait_for "3 History \\(1\\)" 10
    wait_for "✔ 10000 success" 10
    shell_pid=$(T display-message -p -t e2e '#{pane_pid}')
    ui_pid=""
    for _ in $(seq 50); do
        ui_pid=$(pgrep -P "$shell_pid" | head -n 1 || true)
        [[ -n $ui_pid ]] && break
        sleep 0.1
    done
    [[ -n $ui_pid ]] || fail "cannot find the volcv process under the shell ($shell_pid)"
    kill -"$sig" "$ui_pid"
    wait_for_shell 10
    T send-keys -t e2e 'echo "exit=$?"; stty -a | grep -Eo "(^| )-?icanon( |$)"' Enter
    # 128 + the signal's number, as the CLI's commands exit.
    wait_for "^exit=$code" 5
    wait_for "^ ?icanon" 5
    echo "e2e_tmux: SIG$sig restores the terminal and exits $code: ok"
done

# 4. A detached tmux, known as tmux: keys sent at once after the first frame.
Q=$TMP/q
mkdir -p "$Q"
T new-session -d -s e2q -x 120 -y 40 \
    "env -i HOME=$Q PATH=$PATH TERM=tmux-256color LANG=C.UTF-8 TMUX=\"\$TMUX\" \
     TMUX_PANE=\"\$TMUX_PANE\" XDG_CONFIG_HOME=$Q/config XDG_DATA_HOME=$Q/data \
     XDG_STATE_HOME=$Q/state $BIN --demo; sleep 30"
TARGET=e2q
wait_for "Tab pane" 20 0.01
T send-keys -t e2q j j j F5
wait_for "▸ scale" 10
wait_for "✔ 10000 success" 30
grep -q "terminal query complete" "$Q/state/volcv/tui.log" ||
    fail "the query did not end on tmux's answer: $(grep 'terminal query' "$Q/state/volcv/tui.log" || true)"
T send-keys -t e2q q
echo "e2e_tmux: detached tmux, keys at once: ok"

# 5. A bracketed paste as tmux sends it (its lines separated by CR) keeps its lines in the
#    prompt editor, and Esc discards the edit.
P=$TMP/p
mkdir -p "$P"
T new-session -d -s e2p -x 120 -y 40 \
    "env -i HOME=$P PATH=$PATH TERM=xterm-256color LANG=C.UTF-8 \
     XDG_CONFIG_HOME=$P/config XDG_DATA_HOME=$P/data XDG_STATE_HOME=$P/state $BIN --demo; sleep 30"
TARGET=e2p
wait_for "Tab pane" 20
# The reference row is selected first; the prompt is the next row.
T send-keys -t e2p j Enter
wait_for "prompt \(Tab: keep, Esc: discard\)" 10
T send-keys -t e2p C-u
T set-buffer -b e2p $'paste line one\npaste line two'
# -p: bracketed paste; tmux turns each LF into CR, as terminals do.
T paste-buffer -p -d -b e2p -t e2p
wait_for "│paste line one +│" 10
wait_for "│paste line two +│" 5
if T capture-pane -t e2p -p | grep -q "paste line onepaste"; then
    fail "the pasted lines were glued"
fi
T send-keys -t e2p Escape
wait_for "prompt edit discarded" 5
T capture-pane -t e2p -p | grep -q "paste line" && fail "Esc did not discard the pasted prompt"
T send-keys -t e2p q
echo "e2e_tmux: a CR paste keeps its lines, Esc discards: ok"
