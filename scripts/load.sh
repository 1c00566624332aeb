#!/usr/bin/env bash
# Load test of bearer-guard and its peers over real HTTP on 127.0.0.1, with wrk.
#
# Builds and starts benches/bin/load_server.rs (release), which serves the same route
# (GET /records) on one port per variant:
#   unguarded       no guard
#   static_bearer   tower-http ValidateRequestHeaderLayer::bearer (static compare: the floor)
#   cache_hit       bearer-guard, remote verifier (embedded crm-now issuer), verdict cached
#   jwt_cache_on    bearer-guard, JwtVerifier RS256-2048, cache on
#   jwt_cache_off   bearer-guard, JwtVerifier RS256-2048, cache_capacity(0)
#   jwt_authorizer  jwt-authorizer 0.15, RS256-2048, no cache
# then runs wrk against each variant, interleaved (round 1: every variant, round 2: every
# variant, ...), with the same ~930-byte token, and prints req/s, p50/p99 latency and ratios to
# unguarded. Writes <out>/load.csv (one row per round and variant) and <out>/load.svg (a bar
# chart of the per-request cost by variant).
#
# Per-request cost = server worker threads x 1e6 / (req/s): the server's time per request when
# the server, not wrk, is the bottleneck. On a 2-core machine the server gets 1 worker thread
# and wrk 1 thread by default; do the real runs on a quiet machine.
#
# Usage: scripts/load.sh [-r rounds] [-d seconds] [-c connections] [-t wrk_threads]
#                        [-w server_workers] [-o out_dir] [-v "variant ..."]
# Defaults: 3 rounds x 10 s, 32 connections, 1 wrk thread, 1 server worker, benches/results,
# every variant. Loopback only; the server is killed on exit and stops by itself after the
# time the run needs plus two minutes.
set -euo pipefail
NAME=load.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=3
DURATION=10
CONNECTIONS=32
WRK_THREADS=1
WORKERS=1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/benches/results"
VARIANTS="unguarded static_bearer cache_hit jwt_cache_on jwt_cache_off jwt_authorizer"

while getopts "r:d:c:t:w:o:v:h" opt; do
    case "$opt" in
        r) ROUNDS=$OPTARG ;;
        d) DURATION=$OPTARG ;;
        c) CONNECTIONS=$OPTARG ;;
        t) WRK_THREADS=$OPTARG ;;
        w) WORKERS=$OPTARG ;;
        o) OUT=$OPTARG ;;
        v) VARIANTS=$OPTARG ;;
        h) usage 0 ;;
        *) usage 2 ;;
    esac
done
require_positive_integers "$ROUNDS" "$DURATION" "$CONNECTIONS" "$WRK_THREADS" "$WORKERS"
read -r -a VARIANT_LIST <<<"$VARIANTS"

# --- wrk -------------------------------------------------------------------------------
command -v wrk >/dev/null 2>&1 || apt_install wrk

# --- server ----------------------------------------------------------------------------
echo "load.sh: building load_server (release)" >&2
(cd "$ROOT" && cargo build --release -p bearer-guard-benches --bin load_server)
SERVER_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/load_server"

WORK=$(mktemp -d)
PIDS=()
WRK_PID=""
trap cleanup EXIT
trap 'exit 130' INT TERM

MAX_SECONDS=$((ROUNDS * ${#VARIANT_LIST[@]} * (DURATION + 5) + 120))
"$SERVER_BIN" --env-file "$WORK/server.env" --workers "$WORKERS" --max-seconds "$MAX_SECONDS" \
    2>"$WORK/server.log" &
PIDS+=($!)
wait_for_file "$WORK/server.env" "${PIDS[-1]}" \
    || { cat "$WORK/server.log" >&2; echo "load.sh: server died or not ready after 60 s" >&2; exit 1; }
# shellcheck disable=SC1091
source "$WORK/server.env"
for variant in "${VARIANT_LIST[@]}"; do
    port_var="PORT_$variant"
    [[ -n "${!port_var:-}" ]] || { echo "load.sh: unknown variant '$variant'" >&2; exit 2; }
done

# --- runs ------------------------------------------------------------------------------
mkdir -p "$OUT"
CSV="$OUT/load.csv"
echo "round,variant,requests_per_s,p50_us,p99_us,non_2xx,socket_errors,duration_s,connections,wrk_threads,server_workers" >"$CSV"
echo "load.sh: ${ROUNDS} round(s) x ${#VARIANT_LIST[@]} variant(s) x ${DURATION} s, ${CONNECTIONS} connections, wrk ${WRK_THREADS} thread(s), server ${WORKERS} worker(s)" >&2
FAILED=0
for round in $(seq 1 "$ROUNDS"); do
    for variant in "${VARIANT_LIST[@]}"; do
        port_var="PORT_$variant"
        wrk_round "$round" "$variant" "http://127.0.0.1:${!port_var}/records"
    done
done

# --- summary, SVG ----------------------------------------------------------------------
echo
awk -F, -v workers="$WORKERS" -v order="${VARIANTS}" -v svg="$OUT/load.svg" \
    -v title="GET /records over loopback, wrk -c ${CONNECTIONS}, ${ROUNDS} x ${DURATION} s, server ${WORKERS} worker(s)" '
NR > 1 { n[$2]++; rps[$2] += $3; p50[$2] += $4; p99[$2] += $5 }
END {
    count = split(order, names, " ")
    base = ("unguarded" in n) ? rps["unguarded"] / n["unguarded"] : 0
    printf "| variant | req/s | p50 (us) | p99 (us) | us/request | req/s vs unguarded | cost vs unguarded |\n"
    printf "|---|---:|---:|---:|---:|---:|---:|\n"
    max = 0
    for (i = 1; i <= count; i++) {
        v = names[i]
        r = rps[v] / n[v]
        cost[v] = workers * 1000000 / r
        if (cost[v] > max) max = cost[v]
        ratio = base > 0 ? sprintf("%.2f", r / base) : "-"
        costratio = base > 0 ? sprintf("%.2fx", base / r) : "-"
        printf "| %s | %.0f | %.1f | %.1f | %.2f | %s | %s |\n", v, r, p50[v] / n[v], p99[v] / n[v], cost[v], ratio, costratio
    }
    # A horizontal bar chart of the per-request cost, written by hand.
    left = 130; width = 440; bar = 26; gap = 10; top = 44
    height = top + count * (bar + gap) + 30
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", left + width + 90, height > svg
    printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n" > svg
    printf "<text x=\"10\" y=\"18\" font-size=\"13\" font-weight=\"bold\">Per-request cost by variant (us = %d x 1e6 / req/s; lower is better)</text>\n", workers > svg
    printf "<text x=\"10\" y=\"34\" fill=\"#555\">%s</text>\n", title > svg
    for (i = 1; i <= count; i++) {
        v = names[i]
        y = top + (i - 1) * (bar + gap)
        w = max > 0 ? cost[v] / max * width : 0
        color = (v == "unguarded") ? "#9e9e9e" : (v ~ /^(cache_hit|jwt_cache_on|jwt_cache_off)$/) ? "#1f77b4" : "#ff7f0e"
        printf "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", left - 8, y + bar / 2 + 4, v > svg
        printf "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n", left, y, w, bar, color > svg
        printf "<text x=\"%.1f\" y=\"%d\">%.2f us</text>\n", left + w + 6, y + bar / 2 + 4, cost[v] > svg
    }
    printf "<text x=\"10\" y=\"%d\" fill=\"#555\">blue: bearer-guard, orange: peers, grey: unguarded</text>\n", height - 10 > svg
    printf "</svg>\n" > svg
}' "$CSV"
echo
echo "load.sh: wrote $CSV and $OUT/load.svg" >&2
exit "$FAILED"
