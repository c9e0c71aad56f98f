#!/usr/bin/env bash
# Every benchmark figure of issues 6 and 11 in one command. Builds the release binaries, then for each
# row starts a fresh server (signalr-emulator, the raw WebSocket ceiling, Socket.IO 4, or an empty
# axum handler), drives it with signalr-loadgen (wrk for REST) with the same clients, messages and
# payload as the other servers of that row, stops it, and finally prints one markdown table.
# Everything runs on 127.0.0.x; every run has a deadline and every wait is bounded.
#
# Usage: bash benches/run.sh [--full] [--soak-only] [--only GROUPS] [--wait-quiet SECONDS | --no-wait]
#   --full          also run the 100,000-client rows (one node, capped by `ulimit -Hn`; and a
#                   cluster of 6 nodes, group cluster-full), and the soak for 10 minutes instead
#                   of $BENCH_SOAK_SECONDS
#   --only GROUPS   run only these comma-separated row groups (also $BENCH_ONLY): fanout, large,
#                   msgpack, paced, rest, slow, default-mode, tls (WSS vs WS), cluster (nodes over
#                   Redis), cluster-full (the 100,000-client cluster row, heavy); the others'
#                   rows say "not run"
#   --soak-only     run only the soak row (with --full: the 10-minute soak)
#   --wait-quiet S  wait up to S seconds (default 1200) for the 1-minute load average to fall
#                   below $QUIET_LOAD (default 0.8) before measuring; the table says if it did
#   --no-wait       start at once
# Environment switches for a partial run (the defaults are those of the full run):
#   BENCH_BUILD=fat|thin|none  fat (default): the release profile (fat LTO, 10+ minutes on a busy
#                   machine); thin: the same with thin LTO and 16 codegen units (much faster to
#                   build, figures indicative); none: use the binaries already in $BENCH_BIN
#   BENCH_BIN=DIR   where the binaries are (default target/release)
#   BENCH_SOAK=0    skip the soak row (default 1: it always runs, as part of every run)
# Output: the table on stdout and in target/bench/table.md; each run's JSON summary, stderr and
# server log in target/bench/.
set -uo pipefail
cd "$(dirname "$0")/.."

FULL=0
SOAK_ONLY=0
WAIT_QUIET=1200
ONLY=${BENCH_ONLY:+,${BENCH_ONLY// /,},}
while [[ $# -gt 0 ]]; do
  case $1 in
    --full) FULL=1 ;;
    --soak-only) SOAK_ONLY=1 ;;
    --no-wait) WAIT_QUIET=0 ;;
    --wait-quiet) WAIT_QUIET=${2:?--wait-quiet needs seconds}; shift ;;
    --only) ONLY=",${2:?--only needs row groups},"; shift ;;
    *) echo "usage: bash benches/run.sh [--full] [--soak-only] [--only GROUPS] [--wait-quiet SECONDS | --no-wait]" >&2; exit 2 ;;
  esac
  shift
done
# want GROUP: whether this run includes the row group.
want() { [[ -z $ONLY || $ONLY == *",$1,"* ]]; }

# The figures of issue 6; each can be overridden from the environment.
CLIENTS=${BENCH_CLIENTS:-2000}
MESSAGES=${BENCH_MESSAGES:-200}
PAYLOAD=${BENCH_PAYLOAD:-64}
LARGE=${BENCH_LARGE:-10000}
RATE=${BENCH_RATE:-20}
PACED_MESSAGES=${BENCH_PACED_MESSAGES:-100}
# Loopback sockets buffer about 4 MB per connection, so a slow consumer's server queue only fills
# after ~4 MB: 1 KB messages make that happen within a bounded run.
SLOW_CLIENTS=${BENCH_SLOW_CLIENTS:-200}
SLOW_MESSAGES=${BENCH_SLOW_MESSAGES:-6000}
SLOW_PAYLOAD=${BENCH_SLOW_PAYLOAD:-1024}
FULL_CLIENTS=${BENCH_FULL_CLIENTS:-100000}
# The default-mode echo row (issue 10): clients, and calls per client (one in flight each).
ECHO_CLIENTS=${BENCH_ECHO_CLIENTS:-1000}
ECHO_ROUNDS=${BENCH_ECHO_ROUNDS:-100}
WRK_SECONDS=${BENCH_WRK_SECONDS:-10}
WRK_CONNECTIONS=${BENCH_WRK_CONNECTIONS:-32}
QUIET_LOAD=${QUIET_LOAD:-0.8}
# The soak: clients connecting and leaving in a loop under steady broadcasts. The default run
# keeps it short; --full runs the 10 minutes of issue 15.
SOAK_CLIENTS=${BENCH_SOAK_CLIENTS:-1000}
SOAK_SECONDS=${BENCH_SOAK_SECONDS:-120}
SOAK_WARMUP=${BENCH_SOAK_WARMUP:-30}
SOAK_RATE=${BENCH_SOAK_RATE:-10}
(( FULL )) && SOAK_SECONDS=${BENCH_SOAK_FULL_SECONDS:-600}
# Runs per row and server (see `load`).
REPEAT=${BENCH_REPEAT:-3}
# Broadcasts in flight at once: the servers batch the frames queued for a client into one write,
# so pipelined sends are what reaches a server's ceiling.
SEND_CONCURRENCY=${BENCH_SEND_CONCURRENCY:-8}
# Clients opening at once: below the 128-connection listen backlog of tokio's TcpListener::bind,
# which the emulator uses (a fuller backlog drops SYNs, and each drop costs the client 1 s).
CONNECT_CONCURRENCY=${BENCH_CONNECT_CONCURRENCY:-100}

# Ports can be moved when another run (another checkout) holds them.
EMU_PORT=${BENCH_EMU_PORT:-18801}
RAW_PORT=${BENCH_RAW_PORT:-18802}
SIO_PORT=${BENCH_SIO_PORT:-18803}
EMPTY_PORT=${BENCH_EMPTY_PORT:-18804}
OUT=target/bench
BIN=${BENCH_BIN:-target/release}
BUILD=${BENCH_BUILD:-fat}
SOAK=${BENCH_SOAK:-1}
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.err "$OUT"/*.txt "$OUT"/*.log "$OUT"/table.md

log() { echo "[bench] $*" >&2; }

# --- Tools -----------------------------------------------------------------------------------
case $BUILD in
  fat)
    log "building release binaries"
    cargo build --release --workspace --bins --quiet || exit 1
    ;;
  thin)
    log "building release binaries with thin LTO (BENCH_BUILD=thin: figures indicative)"
    CARGO_PROFILE_RELEASE_LTO=thin CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
      cargo build --release --workspace --bins --quiet || exit 1
    ;;
  none) log "using the binaries in $BIN as they are (BENCH_BUILD=none)" ;;
  *) echo "BENCH_BUILD must be fat, thin or none (not '$BUILD')" >&2; exit 2 ;;
esac
for binary in signalr-emulator signalr-loadgen; do
  [[ -x $BIN/$binary ]] || { echo "$BIN/$binary is missing (BENCH_BUILD=$BUILD)" >&2; exit 1; }
done
if [[ ! -d benches/socketio/node_modules ]]; then
  log "installing the Socket.IO baseline (npm ci)"
  (cd benches/socketio && npm ci --no-audit --no-fund --quiet) || log "npm ci failed: Socket.IO rows will be empty"
fi
if ! command -v wrk >/dev/null; then
  log "installing wrk (Debian package)"
  { apt-get install -y -qq wrk || { apt-get update -qq && apt-get install -y -qq wrk; }; } >/dev/null 2>&1 \
    || log "could not install wrk: the REST row will be empty"
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null
FD_LIMIT=$(ulimit -n)
if (( FD_LIMIT < LARGE + 500 )); then
  log "ulimit -n is $FD_LIMIT; the $LARGE-client rows need at least $((LARGE + 500))"
  exit 1
fi

# --- Servers ---------------------------------------------------------------------------------
SERVER_PID=
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_server NAME PORT COMMAND...: starts it in the background and waits (10 s at most) until
# it accepts connections.
start_server() {
  local name=$1 port=$2
  shift 2
  if port_open "$port"; then
    log "port $port is already in use"
    exit 1
  fi
  "$@" >"$OUT/$name.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    port_open "$port" && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  log "$name did not start; see $OUT/$name.log"
  stop_server
  return 1
}

# Stops the server this script started (SIGTERM, then SIGKILL after 10 s).
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  kill "$SERVER_PID" 2>/dev/null
  for _ in $(seq 100); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=
}
# The cluster rows (issue 11): their nodes, Redis and table rows.
source benches/cluster.sh
trap 'stop_server; stop_cluster' EXIT

# The emulator logs at warn: at info it writes a line per connect and disconnect, and (see the
# README's bench section) those lines currently grow with the number of open connections.
# PIN, when set, is a command prefix (taskset) the REST rows start their server with.
PIN=()
emulator() { start_server "$1" "$EMU_PORT" "${PIN[@]}" env RUST_LOG=warn "$BIN/signalr-emulator" -p "$EMU_PORT" "${@:2}"; }
# The emulator over TLS, with a certificate from its own --tls-self-signed CA in $TLS_DIR.
emulator_tls() {
  start_server "$1" "$EMU_PORT" env RUST_LOG=warn "$BIN/signalr-emulator" -p "$EMU_PORT" \
    --tls-self-signed --tls-self-signed-dir "$TLS_DIR"
}
raw() { start_server "$1" "$RAW_PORT" "$BIN/signalr-loadgen" raw-server -p "$RAW_PORT"; }
socketio() { start_server "$1" "$SIO_PORT" node benches/socketio/server.js "$SIO_PORT"; }
empty() { start_server "$1" "$EMPTY_PORT" "${PIN[@]}" "$BIN/signalr-loadgen" empty-server -p "$EMPTY_PORT"; }

# load LABEL PORT ARGS...: $REPEAT loadgen runs (or $REPS runs numbered from $REP) against the
# running server, JSON summaries in $OUT/LABEL.1.json ... The first run meets the fresh server, so
# memory and connection-setup figures come from it; throughput and latency take the best run,
# which filters out the noise of other work on a shared machine. The first failure ends the row.
# Clients spread over 16 source addresses: closed connections hold their port in TIME_WAIT for
# 60 s, and once an address has few of its ~28k ports left, bind() slows down (with 4 addresses
# a 10,000-client run once took 23 s to connect instead of 1 s).
load() {
  local label=$1 port=$2
  shift 2
  local from=${REP:-1}
  for rep in $(seq "$from" $((from + ${REPS:-$REPEAT} - 1))); do
    (( rep == from )) || sleep 1
    "$BIN/signalr-loadgen" run --url "${URL_SCHEME:-http}://127.0.0.1:$port" --label "$label" \
      --server-pid "$SERVER_PID" --connect-concurrency "$CONNECT_CONCURRENCY" --source-ips 16 \
      "$@" >"$OUT/$label.$rep.json" 2>"$OUT/$label.$rep.err"
    local rc=$?
    log "$label #$rep: $(tail -n 1 "$OUT/$label.$rep.err")"
    (( rc == 0 )) || return $rc
  done
}

# --- Waiting for a quiet machine -------------------------------------------------------------
load1() { cut -d' ' -f1 /proc/loadavg; }
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }
LOAD_START=$(load1)
if (( WAIT_QUIET > 0 )) && ! below "$LOAD_START" "$QUIET_LOAD"; then
  log "load average $LOAD_START; waiting up to $WAIT_QUIET s for it to fall below $QUIET_LOAD"
  waited=0
  while (( waited < WAIT_QUIET )) && ! below "$(load1)" "$QUIET_LOAD"; do
    sleep 15
    waited=$((waited + 15))
  done
fi
LOAD_START=$(load1)
log "starting at load average $LOAD_START"

# --- Rows ------------------------------------------------------------------------------------
FULL_RUN_CLIENTS=0
if (( ! SOAK_ONLY )); then
FANOUT=(-n "$CLIENTS" -m "$MESSAGES" -b "$PAYLOAD" --send-concurrency "$SEND_CONCURRENCY" --deadline 120)
# alternate ROW ARGS...: $REPEAT runs of the emulator and of the raw server with ARGS, in turn,
# each on a fresh server: this machine's load drifts within a row, and runs in turn see the same
# machine, where three of one and then three of the other may not. When only default-mode wants
# the row, the emulator's runs alone: its rows compare with them.
alternate() {
  local row=$1
  shift
  for rep in $(seq "$REPEAT"); do
    emulator "emulator-$row" && REPS=1 REP=$rep load "$row-emulator" "$EMU_PORT" "$@"
    local rc=$?
    stop_server
    (( rc == 0 )) || return $rc
    want "$row" || continue
    raw "raw-$row" && REPS=1 REP=$rep load "$row-raw" "$RAW_PORT" --mode raw "$@"
    rc=$?
    stop_server
    (( rc == 0 )) || return $rc
  done
}

# The default-mode fan-out rows compare with the REST rows of the same run, so they need them.
if want fanout || want default-mode; then
  alternate fanout "${FANOUT[@]}"
fi
if want fanout; then
  socketio socketio-fanout && load fanout-socketio "$SIO_PORT" --mode socketio "${FANOUT[@]}"
  stop_server
fi

LARGE_RUN=(-n "$LARGE" -m "$MESSAGES" -b "$PAYLOAD" --send-concurrency "$SEND_CONCURRENCY" --settle 2 --deadline 180)
if want large || want default-mode; then
  alternate large "${LARGE_RUN[@]}"
fi

if want msgpack; then
  emulator emulator-msgpack && load msgpack-emulator "$EMU_PORT" --protocol messagepack "${FANOUT[@]}"
  stop_server
fi

PACED=(-n "$CLIENTS" -m "$PACED_MESSAGES" -b "$PAYLOAD" --rate "$RATE" --deadline 120)
if want paced; then
  emulator emulator-paced && load paced-emulator "$EMU_PORT" "${PACED[@]}"
  stop_server
  raw raw-paced && load paced-raw "$RAW_PORT" --mode raw "${PACED[@]}"
  stop_server
fi

# Default mode: the same broadcasts sent as BroadcastData by the load generator's own app server
# (5 server connections, the hub in default mode, every client relayed to that app server), and
# a client -> service -> app server -> service -> client echo against the raw server's echo.
# The app server writes all its broadcasts at once (a REST caller waits for each answer), so the
# deliveries are still arriving long after the last send: the drain gets a minute.
ECHO=(-n "$ECHO_CLIENTS" -m "$ECHO_ROUNDS" -b "$PAYLOAD" --send echo --deadline 120)
if want default-mode; then
  emulator emulator-appserver --service-mode default && load appserver-emulator "$EMU_PORT" --send app-server "${FANOUT[@]}" --drain-timeout 60
  stop_server
  emulator emulator-appserver-large --service-mode default && load appserver-large-emulator "$EMU_PORT" --send app-server "${LARGE_RUN[@]}" --drain-timeout 60
  stop_server
  emulator emulator-echo --service-mode default && load echo-emulator "$EMU_PORT" "${ECHO[@]}"
  stop_server
  raw raw-echo && load echo-raw "$RAW_PORT" --mode raw "${ECHO[@]}"
  stop_server
fi

# wrk_run LABEL PORT: send-to-connection requests/s to a connection id that is not connected
# (202 either way), so the figure is the REST pipeline: routing, token, body, lookup. The server
# and wrk each get one core of their own (when there are two), so the figure does not depend on
# how the scheduler shares them.
REST_SERVER_CORE=${BENCH_REST_SERVER_CORE:-0}
REST_WRK_CORE=${BENCH_REST_WRK_CORE:-1}
WRK_PIN=()
if command -v taskset >/dev/null && (( $(nproc) >= 2 )); then
  WRK_PIN=(taskset -c "$REST_WRK_CORE")
fi
wrk_run() {
  local label=$1 port=$2
  local url="http://127.0.0.1:$port/api/v1/hubs/bench/connections/bench-connection"
  command -v wrk >/dev/null || return 1
  WRK_TOKEN=$("$BIN/signalr-loadgen" token --url "$url") \
    timeout $((WRK_SECONDS + 30)) "${WRK_PIN[@]}" wrk -t1 -c"$WRK_CONNECTIONS" -d"${WRK_SECONDS}s" \
    -s benches/wrk/send.lua "$url" >"$OUT/$label.txt" 2>&1
  log "$label: $(grep -E 'Requests/sec|Non-2xx' "$OUT/$label.txt" | tr -s ' ' | tr '\n' ' ')"
}
# The emulator and the empty handler take turns, each on a fresh server, and the row's ratio is
# the median of the rounds' ratios: one round's pair runs back to back, so a drift in the
# machine's speed (this row swung from 0.49x to 0.80x between single runs of the same code)
# hits both sides of it alike.
REST_ROUNDS=${BENCH_REST_ROUNDS:-3}
if want rest; then
  (( ${#WRK_PIN[@]} )) && PIN=(taskset -c "$REST_SERVER_CORE")
  for round in $(seq "$REST_ROUNDS"); do
    emulator emulator-rest && wrk_run "rest-emulator.$round" "$EMU_PORT"
    stop_server
    empty empty-rest && wrk_run "rest-empty.$round" "$EMPTY_PORT"
    stop_server
  done
  PIN=()
fi

SLOW=(-n "$SLOW_CLIENTS" -m "$SLOW_MESSAGES" -b "$SLOW_PAYLOAD" --send-concurrency "$SEND_CONCURRENCY" --deadline 180)
# Runs with and without the slow consumer alternate on one server, so both see the same machine.
if want slow && emulator emulator-slow; then
  for rep in $(seq "$REPEAT"); do
    REPS=1 REP=$rep load slow-baseline "$EMU_PORT" "${SLOW[@]}" || break
    REPS=1 REP=$rep load slow-emulator "$EMU_PORT" "${SLOW[@]}" --slow-clients 1 || break
  done
fi
stop_server

# The same fan-out over WSS and over WS, alternating on fresh servers so that both see the same
# machine; the first run of each gives the connection setup time.
TLS_DIR=$OUT/tls
if want tls; then
  for rep in $(seq "$REPEAT"); do
    emulator emulator-ws && REPS=1 REP=$rep load ws-emulator "$EMU_PORT" "${FANOUT[@]}"
    stop_server
    emulator_tls emulator-wss && REPS=1 REP=$rep URL_SCHEME=https load wss-emulator "$EMU_PORT" \
      --ca "$TLS_DIR/ca.pem" "${FANOUT[@]}"
    stop_server
  done
fi

if want cluster; then
  cluster_rows
fi
# Opt-in: with --full, or named by --only.
if { (( FULL )) && want cluster-full; } || [[ $ONLY == *",cluster-full,"* ]]; then
  cluster_full_row
fi

if (( FULL )); then
  FULL_RUN_CLIENTS=$FULL_CLIENTS
  if (( FD_LIMIT < FULL_CLIENTS + 500 )); then
    FULL_RUN_CLIENTS=$(( (FD_LIMIT - 500) / 1000 * 1000 ))
    log "ulimit -Hn is $FD_LIMIT: the full row runs $FULL_RUN_CLIENTS clients instead of $FULL_CLIENTS"
  fi
  emulator emulator-full && REPS=1 load full-emulator "$EMU_PORT" -n "$FULL_RUN_CLIENTS" -m 1 \
    -b "$PAYLOAD" --settle 3 --deadline 600 --drain-timeout 60
  stop_server
fi
fi

# soak_run: the soak row on a fresh emulator (one run: it is long).
soak_run() {
  emulator emulator-soak || return 1
  timeout $((SOAK_SECONDS + 120)) "$BIN/signalr-loadgen" soak --url "http://127.0.0.1:$EMU_PORT" \
    -n "$SOAK_CLIENTS" --duration-secs "$SOAK_SECONDS" --warmup-secs "$SOAK_WARMUP" \
    --rate "$SOAK_RATE" --server-pid "$SERVER_PID" --label soak \
    >"$OUT/soak.1.json" 2>"$OUT/soak.1.err"
  log "soak: $(tail -n 1 "$OUT/soak.1.err")"
  stop_server
}
if (( SOAK )); then
  soak_run
else
  log "soak skipped (BENCH_SOAK=0)"
fi
LOAD_END=$(load1)

# --- Table -----------------------------------------------------------------------------------
# first LABEL JQ-PATH: a figure of the row's first run (fresh server), or n/a.
first() {
  local file="$OUT/$1.1.json"
  [[ -s $file ]] || { echo n/a; return; }
  jq -r "($2) // \"n/a\" | tostring" "$file" 2>/dev/null || echo n/a
}
# across LABEL JQ-FILTER: a figure computed over every run of the row (jq -s over the summaries).
across() {
  local files=("$OUT/$1".[0-9]*.json)
  [[ -s ${files[0]} ]] || { echo n/a; return; }
  cat "${files[@]}" | jq -rs "($2) // \"n/a\" | tostring" 2>/dev/null || echo n/a
}
best_rate() { across "$1" 'map(.deliveries_per_sec) | max'; }
lowest_p99() { across "$1" 'map(.latency_ms.p99) | min'; }
lost() { across "$1" 'map(.lost) | add'; }
# had_loss LABEL: whether the row ran and lost messages (a row that did not run says so itself).
had_loss() { local n; n=$(lost "$1"); [[ $n != n/a && $n != 0 ]]; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
int() { awk -v a="$1" 'BEGIN { if (a == "n/a") print a; else printf "%.0f", a }'; }
kib() { awk -v a="$1" 'BEGIN { if (a == "n/a") print a; else printf "%.1f KiB", a / 1024 }'; }
mib() { awk -v a="$1" 'BEGIN { if (a == "n/a") print a; else printf "%.0f MiB", a / 1024 }'; }
fmt_ms() { awk -v a="$1" 'BEGIN { if (a == "n/a") print a; else printf "%.1f ms", a }'; }
# verdict VALUE OP THRESHOLD
verdict() {
  awk -v x="$1" -v op="$2" -v t="$3" 'BEGIN {
    if (x == "n/a") { print "n/a"; exit }
    ok = (op == ">=" && x + 0 >= t) || (op == "<=" && x + 0 <= t) || (op == "<" && x + 0 < t)
    print (ok ? "met" : "**missed**") }'
}
# deliveries LABEL: "best N/s (L lost in R runs)", or why there is no figure.
deliveries() {
  if [[ ! -s "$OUT/$1.1.json" ]]; then
    # No error file either: the row's group was not asked for (--only), so it did not fail.
    if [[ ! -e "$OUT/$1.1.err" ]]; then
      echo "not run"
      return
    fi
    local why
    why=$(tail -n 1 "$OUT/$1.1.err" | sed 's/^signalr-loadgen: //; s/|/\\|/g')
    echo "failed: ${why:-no output}"
    return
  fi
  local cpu
  cpu=$(across "$1" 'map(.server_cpu_ns_per_delivery) | min')
  echo "$(int "$(best_rate "$1")")/s ($(lost "$1") lost in $(across "$1" length) runs; server CPU ${cpu} ns per delivery)"
}
wrk_rps() { grep -Eo 'Requests/sec: *[0-9.]+' "$OUT/$1.txt" 2>/dev/null | awk '{ printf "%.0f", $2 }' || true; }
wrk_errors() {
  local n
  n=$(cat "$OUT/$1".*.txt 2>/dev/null | grep -Eo 'Non-2xx or 3xx responses: *[0-9]+' | awk '{ n += $NF } END { print n + 0 }')
  echo "${n:-0}"
}
# wrk_rounds LABEL: each round's requests/s, comma-separated.
wrk_rounds() {
  local round out=()
  for round in $(seq "$REST_ROUNDS"); do out+=("$(wrk_rps "$1.$round")"); done
  (IFS=,; echo "${out[*]}") | sed 's/,/, /g'
}
# wrk_best LABEL: the best round's requests/s.
wrk_best() { wrk_rounds "$1" | tr ',' '\n' | awk 'NF && $1 > best { best = $1 } END { if (best) print best }'; }
# rest_median_ratio: the median over the rounds of emulator / empty handler.
rest_median_ratio() {
  local round
  for round in $(seq "$REST_ROUNDS"); do
    echo "$(ratio "$(wrk_rps "rest-emulator.$round")" "$(wrk_rps "rest-empty.$round")")"
  done | grep -v n/a | sort -n | awk '{ r[NR] = $1 } END { if (NR) print r[int((NR + 1) / 2)]; else print "n/a" }'
}

appserver_rest=$(ratio "$(best_rate appserver-emulator)" "$(best_rate fanout-emulator)")
appserver_ok="$(verdict "$appserver_rest" '>=' 0.9)"
had_loss appserver-emulator && appserver_ok="$appserver_ok; **loss**"
appserver_large_rest=$(ratio "$(best_rate appserver-large-emulator)" "$(best_rate large-emulator)")
appserver_large_ok="$(verdict "$appserver_large_rest" '>=' 0.9)"
had_loss appserver-large-emulator && appserver_large_ok="$appserver_large_ok; **loss**"
echo_rate_raw=$(ratio "$(best_rate echo-emulator)" "$(best_rate echo-raw)")
echo_p99_raw=$(ratio "$(lowest_p99 echo-emulator)" "$(lowest_p99 echo-raw)")
fan_raw=$(ratio "$(best_rate fanout-emulator)" "$(best_rate fanout-raw)")
fan_sio=$(ratio "$(best_rate fanout-emulator)" "$(best_rate fanout-socketio)")
fan_ok="$(verdict "$fan_raw" '>=' 0.95) / $(verdict "$fan_sio" '>=' 5)"
had_loss fanout-emulator && fan_ok="$fan_ok; **loss**"
large_raw=$(ratio "$(best_rate large-emulator)" "$(best_rate large-raw)")
large_ok=$(verdict "$large_raw" '>=' 0.95)
had_loss large-emulator && large_ok="$large_ok; **loss or failure**"
msgpack_raw=$(ratio "$(best_rate msgpack-emulator)" "$(best_rate fanout-raw)")
msgpack_ok=$([[ $(lost msgpack-emulator) == 0 ]] && echo "no loss: met" || echo "n/a")
rss_emu=$(first large-emulator .rss_per_connection_bytes)
rss_raw=$(ratio "$rss_emu" "$(first large-raw .rss_per_connection_bytes)")
setup_emu=$(first large-emulator .connect_secs)
p99_emu=$(lowest_p99 paced-emulator)
p99_raw=$(lowest_p99 paced-raw)
p99_ratio=$(ratio "$p99_emu" "$p99_raw")
rest_emu=$(wrk_best rest-emulator)
rest_empty=$(wrk_best rest-empty)
rest_ratio=$(rest_median_ratio)
slow_ratio=$(ratio "$(best_rate slow-emulator)" "$(best_rate slow-baseline)")
slow_closed="$(across slow-emulator 'map(.slow.disconnected) | add')/$(across slow-emulator 'map(.slow.clients) | add')"
slow_rss_after=$(across slow-emulator 'map(.rss_kib.after) | max')
steady_rss_after=$(across slow-baseline 'map(.rss_kib.after) | max')
slow_ok="$(verdict "$slow_ratio" '>=' 0.9)"
[[ $slow_closed == n/a/n/a || (${slow_closed%/*} == "${slow_closed#*/}" && ${slow_closed%/*} != 0) ]] \
  || slow_ok="$slow_ok; **not disconnected**"

wss_ratio=$(ratio "$(best_rate wss-emulator)" "$(best_rate ws-emulator)")
wss_ok=$(case $(lost wss-emulator) in 0) echo "no loss" ;; n/a) echo "not run" ;; *) echo "**loss or failure**" ;; esac)
setup_ratio=$(ratio "$(first wss-emulator .connect_secs)" "$(first ws-emulator .connect_secs)")

quiet=$(below "$LOAD_START" "$QUIET_LOAD" && echo "quiet" || echo "busy")
case $BUILD in
  fat) BUILD_NOTE="" ;;
  thin) BUILD_NOTE=" (thin-LTO build: indicative)" ;;
  none) BUILD_NOTE=" (binaries of $BIN as found)" ;;
esac
table=$(cat <<EOF
Run $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$BUILD_NOTE, $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), servers and load generator on the same machine; each figure is the best of $REPEAT runs (memory and setup time: the first run, on a fresh server). Load average $LOAD_START at the start ($quiet), $LOAD_END at the end.

| Figure | Target | signalr-emulator | Baseline | Socket.IO 4 | Result |
|---|---|---|---|---|---|
| Broadcast fan-out: $CLIENTS JSON clients × $MESSAGES broadcasts × $PAYLOAD B ($SEND_CONCURRENCY in flight), deliveries/s | ≥ 0.95× raw, ≥ 5× Socket.IO, no loss | $(deliveries fanout-emulator) | raw: $(deliveries fanout-raw) | $(deliveries fanout-socketio) | ${fan_raw}× raw, ${fan_sio}× Socket.IO: $fan_ok |
| Same with $LARGE clients | ≥ 0.95× raw, no loss | $(deliveries large-emulator) | raw: $(deliveries large-raw) | — | ${large_raw}× raw: $large_ok |
| Same with $CLIENTS MessagePack clients | no loss, ratio reported | $(deliveries msgpack-emulator) | raw: $(deliveries fanout-raw) | — | ${msgpack_raw}× raw: $msgpack_ok |
| Idle RSS per connected, handshaken client at $LARGE clients | ≤ 1.5× raw | $(kib "$rss_emu") | raw: $(kib "$(first large-raw .rss_per_connection_bytes)") | $(kib "$(first fanout-socketio .rss_per_connection_bytes)") (at $CLIENTS) | ${rss_raw}× raw: $(verdict "$rss_raw" '<=' 1.5) |
| Connection setup: $LARGE clients (negotiate + WebSocket + handshake), $CONNECT_CONCURRENCY at a time; fresh server (best of $REPEAT) | < 3 s | ${setup_emu} s ($(across large-emulator 'map(.connect_secs) | min') s) | raw (WebSocket only): $(first large-raw .connect_secs) s ($(across large-raw 'map(.connect_secs) | min') s) | $(first fanout-socketio .connect_secs) s (at $CLIENTS) | $(verdict "$setup_emu" '<' 3) |
| Paced latency: $RATE broadcasts/s to $CLIENTS clients, best p99 | ≤ 2× raw p99 | $(fmt_ms "$p99_emu") | raw: $(fmt_ms "$p99_raw") | — | ${p99_ratio}× raw: $(verdict "$p99_ratio" '<=' 2) |
| REST send-to-connection, requests/s (wrk -t1 -c$WRK_CONNECTIONS, ${WRK_SECONDS} s; server and wrk on one core each; $REST_ROUNDS rounds in turn, ratio = median of the rounds' ratios) | ≥ 0.8× empty axum handler | best ${rest_emu:-n/a}/s; rounds: $(wrk_rounds rest-emulator) (non-2xx: $(wrk_errors rest-emulator)) | empty axum: best ${rest_empty:-n/a}/s; rounds: $(wrk_rounds rest-empty) | — | ${rest_ratio}×: $(verdict "$rest_ratio" '>=' 0.8) |
| Broadcast fan-out over WSS (TLS 1.3, rustls) vs WS: $CLIENTS JSON clients × $MESSAGES broadcasts × $PAYLOAD B, alternating runs | ratio reported | WSS: $(deliveries wss-emulator) | WS: $(deliveries ws-emulator) | — | ${wss_ratio}× WS: $wss_ok |
| Connection setup over TLS: $CLIENTS clients (https negotiate + WSS + handshake), $CONNECT_CONCURRENCY at a time; fresh server (best of $REPEAT) | reported | WSS: $(first wss-emulator .connect_secs) s ($(across wss-emulator 'map(.connect_secs) | min') s) | WS: $(first ws-emulator .connect_secs) s ($(across ws-emulator 'map(.connect_secs) | min') s) | — | ${setup_ratio}× WS |
| Default mode: the fan-out row's $MESSAGES broadcasts to $CLIENTS JSON clients sent as BroadcastData by an app server on \`/server\` (5 server connections), deliveries/s | ≥ 0.9× the REST broadcast row above, no loss | $(deliveries appserver-emulator) | REST (row 1): $(deliveries fanout-emulator) | — | ${appserver_rest}× REST: $appserver_ok |
| Same with $LARGE clients | ≥ 0.9× the $LARGE-client REST row, no loss | $(deliveries appserver-large-emulator) | REST: $(deliveries large-emulator) | — | ${appserver_large_rest}× REST: $appserver_large_ok |
| Default-mode echo: $ECHO_CLIENTS clients × $ECHO_ROUNDS \`echo\` calls, one in flight each, client → service → app server → service → client; round trips/s, best p99 | reported against the raw echo ceiling | $(deliveries echo-emulator), p99 $(fmt_ms "$(lowest_p99 echo-emulator)") | raw echo: $(deliveries echo-raw), p99 $(fmt_ms "$(lowest_p99 echo-raw)") | — | ${echo_rate_raw}× raw round trips/s, ${echo_p99_raw}× raw p99: reported |
| Slow consumer: $SLOW_CLIENTS clients × $SLOW_MESSAGES × $SLOW_PAYLOAD B, one stops reading | others ≥ 0.9× the run without it; memory bounded; it is disconnected | $(deliveries slow-emulator), server RSS after ≤ $(mib "$slow_rss_after"), disconnected $slow_closed | without it: $(deliveries slow-baseline), RSS after ≤ $(mib "$steady_rss_after") | — | ${slow_ratio}×: $slow_ok |
EOF
)
soak_growth=$(first soak .rss_growth)
soak_open=$(first soak .open_connections_after)
soak_lost=$(first soak .lost)
soak_ok=$(awk -v g="$soak_growth" -v o="$soak_open" -v l="$soak_lost" 'BEGIN {
  if (g == "n/a" || o == "n/a" || l == "n/a") { print "n/a"; exit }
  print ((g + 0 <= 0.10 && o + 0 == 0 && l + 0 == 0) ? "met" : "**missed**") }')
soak_row="| Soak: $SOAK_CLIENTS clients connecting and leaving in a loop (1–5 s each) under $SOAK_RATE broadcasts/s for $SOAK_SECONDS s (warm-up $SOAK_WARMUP s) | RSS at the end within 10 % of after warm-up; no connection left in \`/metrics\`; no loss | $(first soak .sessions) sessions, $(first soak .broadcasts) broadcasts, $soak_lost lost of $(first soak .expected) expected; RSS $(mib "$(first soak .rss_kib.warm)") after warm-up, $(mib "$(first soak .rss_kib.end)") at the end ($(awk -v g="$soak_growth" 'BEGIN { if (g == "n/a") print g; else printf "%+.1f %%", g * 100 }')), $(mib "$(first soak .rss_kib.after)") once all left; $soak_open connections left | — | — | $soak_ok |"
(( SOAK )) || soak_row="| Soak: $SOAK_CLIENTS clients connecting and leaving in a loop for $SOAK_SECONDS s | RSS within 10 %; no connection left; no loss | not run (\`BENCH_SOAK=0\`) | — | — | — |"
if (( SOAK_ONLY )); then
  header="Run $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$BUILD_NOTE, $(nproc) cores, server and load generator on the same machine; one soak run. Load average $LOAD_START at the start ($quiet), $LOAD_END at the end."
  table=$(printf '%s\n\n%s\n%s\n%s' "$header" "| Figure | Target | signalr-emulator | Baseline | Socket.IO 4 | Result |" "|---|---|---|---|---|---|" "$soak_row")
  echo "$table" | tee "$OUT/table.md"
  exit 0
fi
table+=$'\n'"$soak_row"
if (( FULL )); then
  table+=$'\n'"| $FULL_RUN_CLIENTS clients (of $FULL_CLIENTS asked; \`ulimit -Hn\` is $FD_LIMIT) + one broadcast | report connect time, delivery time, RSS | connect $(first full-emulator .connect_secs) s, delivery $(first full-emulator .delivery_secs) s, $(deliveries full-emulator), RSS $(mib "$(first full-emulator .rss_kib.connected)") ($(kib "$(first full-emulator .rss_per_connection_bytes)")/connection) | — | — | reported |"
else
  table+=$'\n'"| $FULL_CLIENTS clients + one broadcast | report connect time, delivery time, RSS | not run (opt-in: \`--full\`) | — | — | — |"
fi
table+=$'\n'"$(cluster_table_rows)"
echo "$table" | tee "$OUT/table.md"
