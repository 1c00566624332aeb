#!/usr/bin/env bash
# Load test of the sidecar behind nginx, over real HTTP on 127.0.0.1, with wrk.
#
# Builds (release) the sidecar binary `bearer-guard` and the example `load_issuer` (the mock
# crm-now issuer with one token of scopes "read write"), starts them, and starts one nginx
# (one process, config generated into a temp dir) with three servers:
#   nginx_plain     nginx proxying to the backend, no auth
#   nginx_sidecar   the README's nginx config: auth_request to the sidecar (its verdict cache
#                   holds the token after the first request), then proxying to the backend
#   backend         `return 200` (the same nginx; both variants proxy to it)
# then runs wrk against the two variants, interleaved (round 1: both, round 2: both, ...),
# GET /records with the same token, and prints req/s, p50/p99 latency and the ratio
# nginx_sidecar / nginx_plain. Writes <out>/load_sidecar.csv (one row per round and variant).
#
# Usage: scripts/load_sidecar.sh [-r rounds] [-d seconds] [-c connections] [-t wrk_threads]
#                                [-w sidecar_workers] [-o out_dir]
# Defaults: 3 rounds x 10 s, 32 connections, 1 wrk thread, 1 sidecar worker thread,
# benches/results. Loopback only; every process is killed on exit and stops by itself after
# the time the run needs plus two minutes. Do the real runs on a quiet machine.
set -euo pipefail
NAME=load_sidecar.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=3
DURATION=10
CONNECTIONS=32
WRK_THREADS=1
WORKERS=1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/benches/results"
VARIANTS=(nginx_plain nginx_sidecar)

while getopts "r:d:c:t:w:o:h" opt; do
    case "$opt" in
        r) ROUNDS=$OPTARG ;;
        d) DURATION=$OPTARG ;;
        c) CONNECTIONS=$OPTARG ;;
        t) WRK_THREADS=$OPTARG ;;
        w) WORKERS=$OPTARG ;;
        o) OUT=$OPTARG ;;
        h) usage 0 ;;
        *) usage 2 ;;
    esac
done
require_positive_integers "$ROUNDS" "$DURATION" "$CONNECTIONS" "$WRK_THREADS" "$WORKERS"

# --- wrk, nginx ------------------------------------------------------------------------
MISSING=()
command -v wrk >/dev/null 2>&1 || MISSING+=(wrk)
NGINX=$(command -v nginx 2>/dev/null || true)
[[ -n "$NGINX" ]] || { [[ -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx; } || true
[[ -n "$NGINX" ]] || MISSING+=(nginx)
if [[ ${#MISSING[@]} -gt 0 ]]; then
    apt_install "${MISSING[@]}"
    NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
fi

# --- build -----------------------------------------------------------------------------
echo "load_sidecar.sh: building bearer-guard and load_issuer (release)" >&2
(cd "$ROOT" && cargo build --release -p bearer-guard-sidecar --bin bearer-guard --example load_issuer)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"

WORK=$(mktemp -d)
PIDS=()
WRK_PID=""
trap cleanup EXIT
trap 'exit 130' INT TERM

MAX_SECONDS=$((ROUNDS * ${#VARIANTS[@]} * (DURATION + 5) + 120))

# --- issuer, sidecar -------------------------------------------------------------------
"$TARGET/examples/load_issuer" --env-file "$WORK/issuer.env" --max-seconds "$MAX_SECONDS" \
    2>"$WORK/issuer.log" &
PIDS+=($!)
wait_for_file "$WORK/issuer.env" "${PIDS[-1]}" \
    || { cat "$WORK/issuer.log" >&2; echo "load_sidecar.sh: issuer not ready" >&2; exit 1; }
# shellcheck disable=SC1091
source "$WORK/issuer.env"

env -i PATH="$PATH" GUARD_VERIFY_URL="$VERIFY_URL" GUARD_LISTEN=127.0.0.1:0 \
    GUARD_FORWARDED_HEADERS=original \
    RUST_LOG=warn TOKIO_WORKER_THREADS="$WORKERS" \
    timeout "$MAX_SECONDS" "$TARGET/bearer-guard" >"$WORK/sidecar.out" 2>"$WORK/sidecar.log" &
PIDS+=($!)
for _ in $(seq 1 600); do
    grep -q "listening on" "$WORK/sidecar.out" 2>/dev/null && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || break
    sleep 0.1
done
SIDECAR=$(sed -n 's/.*listening on http:\/\/\([0-9.:]*\).*/\1/p' "$WORK/sidecar.out")
[[ -n "$SIDECAR" ]] || { cat "$WORK/sidecar.log" >&2; echo "load_sidecar.sh: sidecar did not start" >&2; exit 1; }

# --- nginx -----------------------------------------------------------------------------
read -r PORT_PLAIN PORT_SIDECAR PORT_BACKEND < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log $WORK/nginx/error.log warn;
pid $WORK/nginx/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/client_body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;

    upstream bearer_guard {
        server $SIDECAR;
        keepalive 32;
    }
    upstream backend {
        server 127.0.0.1:$PORT_BACKEND;
        keepalive 32;
    }
    map \$status \$auth_www_403 {
        403     \$auth_www;
        default "";
    }

    server {
        listen 127.0.0.1:$PORT_BACKEND;
        location / { return 200 "backend\n"; }
    }

    server {
        listen 127.0.0.1:$PORT_PLAIN;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
    }

    # The README's server block (with keep-alive to the backend, as in nginx_plain).
    server {
        listen 127.0.0.1:$PORT_SIDECAR;
        location / {
            auth_request /_auth;
            auth_request_set \$auth_subject \$upstream_http_x_auth_subject;
            auth_request_set \$auth_scopes \$upstream_http_x_auth_scopes;
            auth_request_set \$auth_source \$upstream_http_x_auth_source;
            auth_request_set \$auth_owner_type \$upstream_http_x_auth_owner_type;
            auth_request_set \$auth_expires \$upstream_http_x_auth_expires;
            auth_request_set \$auth_www \$upstream_http_www_authenticate;
            add_header WWW-Authenticate \$auth_www_403 always;
            error_page 500 = @auth_unavailable;
            proxy_set_header X-Auth-Subject \$auth_subject;
            proxy_set_header X-Auth-Scopes \$auth_scopes;
            proxy_set_header X-Auth-Source \$auth_source;
            proxy_set_header X-Auth-Owner-Type \$auth_owner_type;
            proxy_set_header X-Auth-Expires \$auth_expires;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
        location = /_auth {
            internal;
            proxy_pass http://bearer_guard/auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI \$request_uri;
            proxy_set_header X-Original-Method \$request_method;
            proxy_set_header X-Forwarded-Uri "";
            proxy_set_header X-Forwarded-Method "";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location @auth_unavailable {
            add_header Retry-After 5 always;
            add_header WWW-Authenticate \$auth_www always;
            default_type application/json;
            return 503 '{"error":"temporarily_unavailable"}';
        }
    }
}
EOF
timeout "$MAX_SECONDS" "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" &
PIDS+=($!)
status_of() {
    # HTTP status of GET /records on port $1, with the header line $2 (bash only: no curl).
    local port=$1 auth=${2:-} line
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf 'GET /records HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close\r\n\r\n' "$auth" >&3
    read -r line <&3 || true
    exec 3>&-
    awk '{print $2}' <<<"$line"
}
for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT_SIDECAR") 2>/dev/null && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || break
    sleep 0.05
done
AUTH="Authorization: Bearer $TOKEN"$'\r\n'
plain=$(status_of "$PORT_PLAIN" || true)
guarded=$(status_of "$PORT_SIDECAR" "$AUTH" || true)
refused=$(status_of "$PORT_SIDECAR" || true)
if [[ "$plain" != 200 || "$guarded" != 200 || "$refused" != 401 ]]; then
    cat "$WORK/nginx/error.log" "$WORK/sidecar.log" >&2 2>/dev/null || true
    echo "load_sidecar.sh: sanity check failed (plain $plain, with token $guarded, without $refused; want 200 200 401)" >&2
    exit 1
fi

# --- runs ------------------------------------------------------------------------------
mkdir -p "$OUT"
CSV="$OUT/load_sidecar.csv"
echo "round,variant,requests_per_s,p50_us,p99_us,non_2xx,socket_errors,duration_s,connections,wrk_threads,sidecar_workers" >"$CSV"
echo "load_sidecar.sh: ${ROUNDS} round(s) x ${#VARIANTS[@]} variants x ${DURATION} s, ${CONNECTIONS} connections, wrk ${WRK_THREADS} thread(s), sidecar ${WORKERS} worker(s), nginx 1 process" >&2
FAILED=0
for round in $(seq 1 "$ROUNDS"); do
    for variant in "${VARIANTS[@]}"; do
        case "$variant" in
            nginx_plain) port=$PORT_PLAIN ;;
            nginx_sidecar) port=$PORT_SIDECAR ;;
        esac
        wrk_round "$round" "$variant" "http://127.0.0.1:$port/records"
    done
done

# --- summary ---------------------------------------------------------------------------
echo
awk -F, '
NR > 1 { n[$2]++; rps[$2] += $3; p50[$2] += $4; p99[$2] += $5 }
END {
    base = rps["nginx_plain"] / n["nginx_plain"]
    printf "| variant | req/s | p50 (us) | p99 (us) | req/s vs nginx_plain |\n"
    printf "|---|---:|---:|---:|---:|\n"
    split("nginx_plain nginx_sidecar", names, " ")
    for (i = 1; i <= 2; i++) {
        v = names[i]
        r = rps[v] / n[v]
        printf "| %s | %.0f | %.1f | %.1f | %.3f |\n", v, r, p50[v] / n[v], p99[v] / n[v], r / base
    }
}' "$CSV"
echo
echo "load_sidecar.sh: wrote $CSV" >&2
exit "$FAILED"
