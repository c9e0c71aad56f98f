# The scale-out rows of issue 11, sourced by benches/run.sh (which defines log, start_server,
# stop_server, load, first, across, the formatting helpers, $BIN, $OUT and the common figures).
# Every node is a process of the release binary on its own 127.0.0.1 port, sharing one
# redis-server (Debian package) started here with persistence off.
#
#   group cluster:      broadcast to $CLIENTS clients over 3 nodes vs the same on 1 node, an
#                       app server's broadcasts to clients relayed by another node (default
#                       mode), and REST send-to-connection latency with the client on another
#                       node
#   group cluster-full: $CLUSTER_FULL_CLIENTS clients across $CLUSTER_FULL_NODES nodes, the load
#                       generator split over $CLUSTER_FULL_PROCS processes, one broadcast

CLUSTER_PORT=${BENCH_CLUSTER_PORT:-18811}
REDIS_PORT=${BENCH_REDIS_PORT:-18810}
CLUSTER_LATENCY_CLIENTS=${BENCH_CLUSTER_LATENCY_CLIENTS:-200}
CLUSTER_LATENCY_MESSAGES=${BENCH_CLUSTER_LATENCY_MESSAGES:-2000}
CLUSTER_LATENCY_RATE=${BENCH_CLUSTER_LATENCY_RATE:-200}
CLUSTER_FULL_CLIENTS=${BENCH_CLUSTER_FULL_CLIENTS:-100000}
CLUSTER_FULL_NODES=${BENCH_CLUSTER_FULL_NODES:-6}
CLUSTER_FULL_PROCS=${BENCH_CLUSTER_FULL_PROCS:-8}
CLUSTER_FULL_DEADLINE=${BENCH_CLUSTER_FULL_DEADLINE:-900}
# Seconds each load generator process waits once its clients are connected (before it says so).
CLUSTER_FULL_SETTLE=3

REDIS_PID=
NODE_PIDS=()
# The load generator processes of the big row, while they run (stopped on exit too).
LOADGEN_PIDS=()

if ! command -v redis-server >/dev/null; then
  log "installing redis-server (Debian package)"
  bash tests/install-missing.sh redis-server=redis-server >/dev/null 2>&1 \
    || log "could not install redis-server: the cluster rows will be empty"
fi

# start_redis: a fresh redis-server on $REDIS_PORT (no RDB, no AOF), waited for 10 s at most.
start_redis() {
  if port_open "$REDIS_PORT"; then
    log "port $REDIS_PORT (Redis) is already in use"
    return 1
  fi
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$OUT" \
    >"$OUT/redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 100); do
    port_open "$REDIS_PORT" && return 0
    sleep 0.1
  done
  log "redis-server did not start; see $OUT/redis.log"
  stop_redis
  return 1
}

stop_redis() {
  [[ -n $REDIS_PID ]] || return 0
  kill "$REDIS_PID" 2>/dev/null
  wait "$REDIS_PID" 2>/dev/null
  REDIS_PID=
}

# start_nodes NAME N [ARGS...]: N emulator nodes on $CLUSTER_PORT, $CLUSTER_PORT+1, ... sharing
# the Redis, each with ARGS.
start_nodes() {
  local name=$1 count=$2
  NODE_PIDS=()
  for i in $(seq 0 $((count - 1))); do
    local port=$((CLUSTER_PORT + i))
    start_server "$name-$i" "$port" env RUST_LOG=warn "$BIN/signalr-emulator" -p "$port" \
      --redis "redis://127.0.0.1:$REDIS_PORT" "${@:3}" || { stop_nodes; return 1; }
    NODE_PIDS+=("$SERVER_PID")
    SERVER_PID=
  done
}

# Stops every node (SIGTERM, then SIGKILL after 10 s).
stop_nodes() {
  local pid
  for pid in "${NODE_PIDS[@]}"; do
    SERVER_PID=$pid stop_server
  done
  NODE_PIDS=()
}

# Ends the big row's load generators that are still running (an interrupted run).
stop_loadgens() {
  local pid
  for pid in "${LOADGEN_PIDS[@]}"; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  LOADGEN_PIDS=()
}

stop_cluster() {
  stop_loadgens
  stop_nodes
  stop_redis
}

node_pids() { local IFS=,; echo "${NODE_PIDS[*]}"; }
# node_urls N: the base URLs of the first N nodes, comma-separated.
node_urls() {
  local urls=()
  for i in $(seq 0 $(($1 - 1))); do urls+=("http://127.0.0.1:$((CLUSTER_PORT + i))"); done
  local IFS=,
  echo "${urls[*]}"
}

# cluster_load LABEL ARGS...: `load` against the running nodes (REST to node 0), reading the
# RSS of all of them.
cluster_load() {
  local label=$1
  shift
  SERVER_PID=$(node_pids) load "$label" "$CLUSTER_PORT" "$@"
}

# The broadcast fan-out over 3 nodes (clients round robin, REST on node 0) and on 1 node of the
# same kind (with Redis: what a cluster costs), then the latency of a send-to-connection whose
# client is on node 1 while the REST call goes to node 0, against both on node 0.
cluster_rows() {
  local fanout=(-n "$CLIENTS" -m "$MESSAGES" -b "$PAYLOAD" --send-concurrency "$SEND_CONCURRENCY" --deadline 120)
  if start_redis; then
    start_nodes cluster3 3 && cluster_load cluster3-fanout --client-url "$(node_urls 3)" "${fanout[@]}"
    stop_cluster
  fi
  if start_redis; then
    start_nodes cluster1 1 && cluster_load cluster1-fanout "${fanout[@]}"
    stop_cluster
  fi
  # Default mode across nodes: the load generator's app server on node 0, its clients on
  # node 1, which relays each client's WebSocket to node 0; then the clients on node 0 too. The
  # memory figure is node 1's alone: what a relayed client costs the node relaying it.
  if start_redis; then
    if start_nodes cluster-relay 2 --service-mode default; then
      SERVER_PID=${NODE_PIDS[1]} load cluster-relay-cross "$CLUSTER_PORT" --send app-server \
        --client-url "http://127.0.0.1:$((CLUSTER_PORT + 1))" --drain-timeout 60 "${fanout[@]}"
      SERVER_PID=${NODE_PIDS[0]} load cluster-relay-local "$CLUSTER_PORT" --send app-server \
        --drain-timeout 60 "${fanout[@]}"
    fi
    stop_cluster
  fi
  local paced=(-n "$CLUSTER_LATENCY_CLIENTS" -m "$CLUSTER_LATENCY_MESSAGES" -b "$PAYLOAD"
    --rate "$CLUSTER_LATENCY_RATE" --send connection --send-concurrency 32 --deadline 120)
  if start_redis; then
    if start_nodes cluster-latency 2; then
      cluster_load cluster-latency-cross --client-url "http://127.0.0.1:$((CLUSTER_PORT + 1))" "${paced[@]}"
      cluster_load cluster-latency-local "${paced[@]}"
    fi
    stop_cluster
  fi
}

# The big row: $CLUSTER_FULL_NODES nodes, $CLUSTER_FULL_PROCS load generator processes (each
# under the fd limit) whose clients spread over every node, started together through a go file;
# process 0 sends the one broadcast, the others only count (--send external). The connect time
# is the wall time from their start until the last one is ready; the delivery time is the
# broadcast's slowest delivery (stamps share one clock origin).
cluster_full_row() {
  local per_proc=$(( (CLUSTER_FULL_CLIENTS + CLUSTER_FULL_PROCS - 1) / CLUSTER_FULL_PROCS ))
  local per_node=$(( (CLUSTER_FULL_CLIENTS + CLUSTER_FULL_NODES - 1) / CLUSTER_FULL_NODES ))
  if (( per_proc + 500 > FD_LIMIT || per_node + 500 > FD_LIMIT )); then
    log "cluster-full: $per_proc clients per process or $per_node per node do not fit ulimit -n $FD_LIMIT"
    return 1
  fi
  start_redis || return 1
  start_nodes cluster-full "$CLUSTER_FULL_NODES" || { stop_cluster; return 1; }
  local go="$OUT/cluster-full.go" origin pids=() started ready_ms
  rm -f "$go" "$OUT"/cluster-full.ready.*
  origin=$(date +%s%3N)
  # Spread over the processes so the nodes see the same connect rate as one loadgen gives one.
  local concurrency=$(( CONNECT_CONCURRENCY * CLUSTER_FULL_NODES / CLUSTER_FULL_PROCS ))
  (( concurrency > 0 )) || concurrency=1
  started=$(date +%s%3N)
  for p in $(seq 0 $((CLUSTER_FULL_PROCS - 1))); do
    local role=(--send external)
    (( p == 0 )) && role=(--send broadcast --server-pid "$(node_pids)")
    "$BIN/signalr-loadgen" run --url "http://127.0.0.1:$CLUSTER_PORT" \
      --client-url "$(node_urls "$CLUSTER_FULL_NODES")" --label "cluster-full-$p" \
      -n "$per_proc" -m 1 -b "$PAYLOAD" "${role[@]}" --source-ips 32 \
      --connect-concurrency "$concurrency" --settle "$CLUSTER_FULL_SETTLE" --drain-timeout 120 \
      --deadline "$CLUSTER_FULL_DEADLINE" --time-origin "$origin" \
      --ready-file "$OUT/cluster-full.ready.$p" --go-file "$go" \
      >"$OUT/cluster-full.$p.json" 2>"$OUT/cluster-full.$p.err" &
    pids+=($!)
  done
  LOADGEN_PIDS=("${pids[@]}")
  local waited=0
  while (( waited < CLUSTER_FULL_DEADLINE * 10 )); do
    local ready=("$OUT"/cluster-full.ready.*)
    [[ -e ${ready[0]} ]] && (( ${#ready[@]} == CLUSTER_FULL_PROCS )) && break
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=$((alive + 1)); done
    (( alive == CLUSTER_FULL_PROCS )) || break
    sleep 0.1
    waited=$((waited + 1))
  done
  # The wall time until the last process had all its clients connected (it then settled).
  ready_ms=$(( $(date +%s%3N) - started - CLUSTER_FULL_SETTLE * 1000 ))
  echo "$ready_ms" >"$OUT/cluster-full.connect_ms"
  local rss_kib=0
  for pid in "${NODE_PIDS[@]}" "$REDIS_PID"; do
    rss_kib=$(( rss_kib + $(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0) ))
  done
  echo "$rss_kib" >"$OUT/cluster-full.rss_kib"
  touch "$go"
  for pid in "${pids[@]}"; do wait "$pid"; done
  LOADGEN_PIDS=()
  for p in $(seq 0 $((CLUSTER_FULL_PROCS - 1))); do
    log "cluster-full #$p: $(tail -n 1 "$OUT/cluster-full.$p.err")"
  done
  stop_cluster
}

# cluster_full_figure JQ: one figure over every process's summary (jq -s).
cluster_full_figure() {
  local files=("$OUT"/cluster-full.[0-9]*.json)
  [[ -s ${files[0]} ]] || { echo n/a; return; }
  cat "${files[@]}" | jq -rs "($1) // \"n/a\" | tostring" 2>/dev/null || echo n/a
}

# The table rows of the groups that ran (or "not run").
cluster_table_rows() {
  if [[ ! -e $OUT/cluster3-fanout.1.err ]]; then
    echo "| Cluster broadcast: $CLIENTS JSON clients spread over 3 nodes vs 1 node | no loss; ratio to 1 node reported | not run (group \`cluster\`) | — | — | — |"
    echo "| Cluster REST send-to-connection latency, REST on node 1, clients on node 2 | reported | not run (group \`cluster\`) | — | — | — |"
    echo "| Default mode across nodes: app server on node 1, clients relayed by node 2 | no loss; reported | not run (group \`cluster\`) | — | — | — |"
  else
    cluster_rows_table
  fi
  cluster_full_table_row
}

# The two rows of group `cluster`.
cluster_rows_table() {
  local c3 c1
  c3=$(best_rate cluster3-fanout)
  c1=$(best_rate cluster1-fanout)
  local ratio3 ok3
  ratio3=$(ratio "$c3" "$c1")
  ok3=$([[ $(lost cluster3-fanout) == 0 ]] && echo "no loss" || echo "**loss or failure**")
  echo "| Cluster broadcast: $CLIENTS JSON clients spread over 3 nodes (one Redis; REST on node 1) × $MESSAGES broadcasts × $PAYLOAD B ($SEND_CONCURRENCY in flight), deliveries/s, best p99 | no loss; ratio to 1 node reported | 3 nodes: $(deliveries cluster3-fanout), p99 $(fmt_ms "$(lowest_p99 cluster3-fanout)") | 1 node (with Redis): $(deliveries cluster1-fanout), p99 $(fmt_ms "$(lowest_p99 cluster1-fanout)") | — | ${ratio3}× 1 node: $ok3 |"
  local relayed local_rate ok_relay
  relayed=$(best_rate cluster-relay-cross)
  local_rate=$(best_rate cluster-relay-local)
  ok_relay=$([[ $(lost cluster-relay-cross) == 0 ]] && echo "no loss" || echo "**loss or failure**")
  echo "| Default mode across nodes: app server on node 1, $CLIENTS JSON clients on node 2 (each WebSocket relayed to node 1) × $MESSAGES BroadcastData × $PAYLOAD B, deliveries/s (server CPU: node 2's when relayed), node 2's RSS per relayed client | no loss; reported | relayed: $(deliveries cluster-relay-cross), $(kib "$(first cluster-relay-cross .rss_per_connection_bytes)") per client on node 2 | clients on node 1: $(deliveries cluster-relay-local) | — | $(ratio "$relayed" "$local_rate")× same node: $ok_relay |"
  echo "| Cluster REST send-to-connection latency: $CLUSTER_LATENCY_RATE sends/s to $CLUSTER_LATENCY_CLIENTS clients, REST on node 1, clients on node 2 (best p50 / p99) | reported | cross-node: p50 $(fmt_ms "$(across cluster-latency-cross 'map(.latency_ms.p50) | min')"), p99 $(fmt_ms "$(lowest_p99 cluster-latency-cross)"), $(lost cluster-latency-cross) lost | same node: p50 $(fmt_ms "$(across cluster-latency-local 'map(.latency_ms.p50) | min')"), p99 $(fmt_ms "$(lowest_p99 cluster-latency-local)") | — | reported |"
}

# The row of group `cluster-full`.
cluster_full_table_row() {
  if [[ -s $OUT/cluster-full.0.json ]]; then
    local clients received lost delivery connect rss
    clients=$(cluster_full_figure 'map(.clients) | add')
    received=$(cluster_full_figure 'map(.received) | add')
    lost=$(cluster_full_figure 'map(.lost) | add')
    delivery=$(cluster_full_figure 'map(.latency_ms.max) | max')
    connect=$(awk -v ms="$(cat "$OUT/cluster-full.connect_ms")" 'BEGIN { printf "%.1f", ms / 1000 }')
    rss=$(cat "$OUT/cluster-full.rss_kib")
    local ok="**missed**"
    [[ $clients =~ ^[0-9]+$ ]] && (( clients >= CLUSTER_FULL_CLIENTS )) && [[ $lost == 0 && $received == "$clients" ]] && ok="met"
    echo "| $CLUSTER_FULL_CLIENTS clients across $CLUSTER_FULL_NODES nodes ($CLUSTER_FULL_PROCS load generator processes, ≤ $(( (CLUSTER_FULL_CLIENTS + CLUSTER_FULL_NODES - 1) / CLUSTER_FULL_NODES )) connections per node) + one broadcast | ≥ $CLUSTER_FULL_CLIENTS connected, every one delivered; connect time, delivery time, total RSS reported | $clients connected in $connect s, wall time from the start of the $CLUSTER_FULL_PROCS processes (slowest process: $(cluster_full_figure 'map(.connect_secs) | max') s); broadcast delivered to $received ($lost lost) in $(fmt_ms "$delivery"); RSS of the $CLUSTER_FULL_NODES nodes + Redis $(mib "$rss") ($(kib "$(awk -v r="$rss" -v c="$clients" 'BEGIN { if (c + 0 > 0) print r * 1024 / c; else print "n/a" }')")/connection) | — | — | $ok |"
  else
    local why="not run (opt-in: \`--full\` or \`--only cluster-full\`)"
    [[ -s $OUT/cluster-full.0.err ]] && why="failed: $(tail -n 1 "$OUT/cluster-full.0.err" | sed 's/|/\\|/g')"
    echo "| $CLUSTER_FULL_CLIENTS clients across $CLUSTER_FULL_NODES nodes + one broadcast | connect time, delivery time, total RSS reported | $why | — | — | — |"
  fi
}
