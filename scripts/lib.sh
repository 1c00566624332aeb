# Shared parts of the wrk load scripts (scripts/load.sh, scripts/load_sidecar.sh), sourced by
# them after they set NAME (their name, for messages). Not run on its own.
#
# The scripts keep their state in globals this file reads and writes: WORK (temp dir), PIDS
# (background processes, killed on exit), WRK_PID, FAILED, and for `wrk_round`: DURATION,
# CONNECTIONS, WRK_THREADS, WORKERS, TOKEN, CSV.

# Prints the calling script's header comment (line 2 to `set -euo`) and exits with $1.
usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit "${1:-0}"
}

# Exits 2 unless every argument is a positive integer.
require_positive_integers() {
    local n
    for n in "$@"; do
        [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "$NAME: '$n' is not a positive integer" >&2; exit 2; }
    done
}

# Installs the given Debian packages with apt-get (sudo unless root); nothing when none given.
apt_install() {
    [[ $# -gt 0 ]] || return 0
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    echo "$NAME: installing $* with apt-get" >&2
    $sudo apt-get update
    $sudo apt-get install -y "$@"
}

# Kills wrk and every process in PIDS (and waits for them), removes WORK. Set as the EXIT trap.
cleanup() {
    if [[ -n "${WRK_PID:-}" ]]; then
        kill "$WRK_PID" 2>/dev/null || true
    fi
    local pid
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    [[ -z "${WORK:-}" ]] || rm -rf "$WORK"
}

# Waits (at most 60 s) until file $1 is not empty; fails at once when process $2 has exited.
wait_for_file() {
    for _ in $(seq 1 600); do
        [[ -s "$1" ]] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# wrk latency to microseconds: "812.00us", "1.23ms", "2.01s".
to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000;
        else if (v ~ /s$/) print n * 1000000; else print n }'
}

# One wrk run (bounded by `timeout`) of round $1, variant $2 against URL $3 with the token:
# prints req/s and p50/p99, appends a CSV row, sets FAILED=1 when any answer was not 2xx.
wrk_round() {
    local round=$1 variant=$2 url=$3 out rps p50 p99 non2xx errors
    # In the background, so that a signal to the script is handled at once (bash runs traps
    # only between foreground commands, but `wait` is interrupted).
    timeout $((DURATION + 30)) wrk -t "$WRK_THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --latency \
        -H "Authorization: Bearer $TOKEN" "$url" >"$WORK/wrk.out" &
    WRK_PID=$!
    wait "$WRK_PID" || { cat "$WORK/wrk.out" >&2; echo "$NAME: wrk failed on $variant" >&2; exit 1; }
    WRK_PID=""
    out=$(cat "$WORK/wrk.out")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(to_us "$(awk '$1 == "50%" {print $2}' <<<"$out")")
    p99=$(to_us "$(awk '$1 == "99%" {print $2}' <<<"$out")")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    errors=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")
    non2xx=${non2xx:-0}
    errors=${errors:-0}
    if [[ "$non2xx" != 0 ]]; then
        echo "$NAME: $variant answered $non2xx non-2xx responses: its numbers are worthless" >&2
        FAILED=1
    fi
    printf "round %s  %-15s %10.0f req/s  p50 %8.1f us  p99 %8.1f us\n" "$round" "$variant" "$rps" "$p50" "$p99" >&2
    echo "$round,$variant,$rps,$p50,$p99,$non2xx,$errors,$DURATION,$CONNECTIONS,$WRK_THREADS,$WORKERS" >>"$CSV"
}
