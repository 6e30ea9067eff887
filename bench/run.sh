#!/usr/bin/env bash
# llmflow load benchmark: direct vs bare forwarder vs llmflow, measured in one run on this
# machine. See bench/README.md for what each figure means.
#
# Writes bench/out/results.json and bench/out/summary.md (raw loadgen output in bench/out/raw).
# Everything listens on 127.0.0.1 only. Durations are configurable (see README).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DUR="${BENCH_DURATION:-5}"                 # seconds per latency/throughput point
WARM="${BENCH_WARMUP:-1}"                  # seconds of unrecorded warm-up per point
CONCS="${BENCH_CONCURRENCY:-1 16 64}"      # connection counts
TTFT_N="${BENCH_TTFT_REQUESTS:-300}"       # streamed requests per TTFT measurement
ROWS="${BENCH_ROWS:-1000000}"              # rows seeded for the big-database phase (0 skips it)
BIG="${BENCH_BIG_BYTES:-52428800}"         # response size of the memory test
API_N="${BENCH_API_REQUESTS:-10}"          # requests per API endpoint timing
BIG_LOAD="${BENCH_BIG_LOAD:-1}"            # 1: also measure c=64 throughput at ROWS rows
KEEPALL="${BENCH_KEEPALL:-1}"              # 1: also load a second llmflow with MAX_TRACES=0
MOCK_THREADS="${BENCH_MOCK_THREADS:-1}"
LOAD_THREADS="${BENCH_LOADGEN_THREADS:-1}"
FWD_THREADS="${BENCH_FORWARDER_THREADS:-2}"
PORT_BASE="${BENCH_PORT_BASE:-18400}"
SEED_CACHE="${BENCH_SEED_CACHE:-}"         # a seeded database file to reuse (created if missing)
SKIP_BUILD="${BENCH_SKIP_BUILD:-0}"
QUIET_WAIT="${BENCH_QUIET_WAIT:-120}"      # max seconds to wait for an idle machine per point
QUIET_IDLE="${BENCH_QUIET_IDLE:-85}"       # % of CPU idle over 1 s that counts as quiet
KEEP_TMP="${BENCH_KEEP_TMP:-0}"
OUT="${BENCH_OUT:-$ROOT/bench/out}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

MOCK_PORT=$((PORT_BASE + 1))
FWD_PORT=$((PORT_BASE + 2))
LF_PORT=$((PORT_BASE + 3))
LF_DASH=$((PORT_BASE + 4))
LF2_PORT=$((PORT_BASE + 5))
LF2_DASH=$((PORT_BASE + 6))

RAW="$OUT/raw"
mkdir -p "$RAW"
rm -f "$RAW"/*.json "$RAW"/meta.jsonl
TMP="$(mktemp -d "${TMPDIR:-/tmp}/llmflow-bench.XXXXXX")"
RUN_START=$(date +%s)

log() { printf '[bench %4ss] %s\n' "$(($(date +%s) - RUN_START))" "$*" >&2; }
meta() { printf '{"key":"%s","value":%s}\n' "$1" "${2:-null}" >>"$RAW/meta.jsonl"; }

PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  if [ "$KEEP_TMP" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$MOCK_PORT" "$FWD_PORT" "$LF_PORT" "$LF_DASH" "$LF2_PORT" "$LF2_DASH"; do
  if port_busy "$p"; then
    echo "port $p is in use: set BENCH_PORT_BASE to another base" >&2
    exit 1
  fi
done

if [ "$SKIP_BUILD" != 1 ]; then
  log "building (release)"
  cargo build --release -p llmflow --bin llmflow --example bench_mock --example bare_forwarder \
    --example loadgen --example bench_seed >&2
fi
LLMFLOW="$TARGET/release/llmflow"
MOCK="$TARGET/release/examples/bench_mock"
FWD="$TARGET/release/examples/bare_forwarder"
LOADGEN="$TARGET/release/examples/loadgen"
SEED="$TARGET/release/examples/bench_seed"
for b in "$LLMFLOW" "$MOCK" "$FWD" "$LOADGEN" "$SEED"; do
  [ -x "$b" ] || { echo "missing $b (build first)" >&2; exit 1; }
done

# ------------------------------------------------------------------ helpers
wait_http() { # url [timeout_s]
  local deadline=$(($(date +%s) + ${2:-60}))
  until curl -fs -o /dev/null "$1"; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "timeout waiting for $1" >&2; return 1; }
    sleep 0.02
  done
}
wait_port() { # port [timeout_s]
  local deadline=$(($(date +%s) + ${2:-30}))
  until port_busy "$1"; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "timeout waiting for port $1" >&2; return 1; }
    sleep 0.02
  done
}
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# CPU ticks of one process's threads named $2 (e.g. llmflow-writer).
thread_ticks() {
  local t sum=0 v
  for t in /proc/"$1"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = "$2" ] || continue
    v=$(sed 's/.*) //' "$t/stat" 2>/dev/null | awk '{ print $12 + $13 }')
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
# System-wide CPU ticks: "busy total" (from the first line of /proc/stat).
sys_ticks() { awk '/^cpu / { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6 }' /proc/stat; }
# Waits (up to QUIET_WAIT s) until the machine is at least QUIET_IDLE % idle over one second:
# another build or test run on these cores would distort the point.
quiet() { # label
  local t0 busy0 all0 busy1 all1 idle
  t0=$(date +%s)
  while :; do
    read -r busy0 all0 <<<"$(sys_ticks)"
    sleep 1
    read -r busy1 all1 <<<"$(sys_ticks)"
    idle=$(( 100 - 100 * (busy1 - busy0) / ((all1 - all0) > 0 ? (all1 - all0) : 1) ))
    if [ "$idle" -ge "$QUIET_IDLE" ] || [ $(($(date +%s) - t0)) -ge "$QUIET_WAIT" ]; then break; fi
    [ $(($(date +%s) - t0)) -lt 3 ] && log "waiting for an idle machine ($idle% idle)"
  done
  meta "quiet_wait_s_$1" "$(($(date +%s) - t0 - 1))"
  meta "idle_pct_before_$1" "$idle"
}
ours_ticks() { # CPU ticks of the processes this script started
  local p sum=0 v
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && [ -r "/proc/$p/stat" ] || continue
    v=$(cpu_ticks "$p" 2>/dev/null || echo 0)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
# Share of the machine's CPU used by processes other than ours during a point.
foreign() { # label sys_before ours_before loadgen_ticks
  local busy0 total0 busy1 total1 ours1 f
  read -r busy0 total0 <<<"$2"
  read -r busy1 total1 <<<"$(sys_ticks)"
  ours1=$(ours_ticks)
  f=$(( (busy1 - busy0) - (ours1 - $3) - ${4:-0} ))
  [ "$f" -lt 0 ] && f=0
  meta "foreign_cpu_pct_$1" "$(( 100 * f / ((total1 - total0) > 0 ? (total1 - total0) : 1) ))"
}
json_num() { grep -o "\"$2\":[0-9]*" <<<"$1" | head -1 | cut -d: -f2; }
now_ms() { date +%s%3N; }
reset_hwm() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null; }

CHAT_BODY="$TMP/chat.json"
STREAM_BODY="$TMP/stream.json"
cat >"$CHAT_BODY" <<'EOF'
{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant that answers briefly."},{"role":"user","content":"Summarize the quarterly revenue report in three bullet points and list the action items for the customer success team, with owners and due dates."}],"temperature":0.7,"max_tokens":256}
EOF
cat >"$STREAM_BODY" <<'EOF'
{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"You are a helpful assistant that answers briefly."},{"role":"user","content":"Summarize the quarterly revenue report in three bullet points and list the action items for the customer success team, with owners and due dates."}],"temperature":0.7,"max_tokens":256}
EOF

url_of() { # target -> base url
  case "$1" in
    direct) echo "http://127.0.0.1:$MOCK_PORT" ;;
    bare) echo "http://127.0.0.1:$FWD_PORT" ;;
    llmflow) echo "http://127.0.0.1:$LF_PORT" ;;
    llmflow_keepall) echo "http://127.0.0.1:$LF2_PORT" ;;
  esac
}
pid_of() {
  case "$1" in
    bare) echo "$FWD_PID" ;;
    llmflow) echo "$LF_PID" ;;
    llmflow_keepall) echo "$LF2_PID" ;;
    *) echo "" ;;
  esac
}
dash_of() {
  case "$1" in
    llmflow) echo "$LF_DASH" ;;
    llmflow_keepall) echo "$LF2_DASH" ;;
    *) echo "" ;;
  esac
}

# Starts llmflow; sets LF_PID (or LF2_PID with a 4th argument "2").
# BENCH_LLMFLOW_LOG sets LLMFLOW_LOG; unset, llmflow logs as it does by default (one line
# per call at info), to a file here.
LF_PID=""
LF2_PID=""
start_llmflow() { # data_dir max_traces label [2]
  local t0 pid port=$LF_PORT dash=$LF_DASH
  [ "${4:-}" = 2 ] && { port=$LF2_PORT; dash=$LF2_DASH; }
  t0=$(now_ms)
  (
    [ -n "${BENCH_LLMFLOW_LOG:-}" ] && export LLMFLOW_LOG="$BENCH_LLMFLOW_LOG"
    export LLMFLOW_OPENAI_BASE_URL="http://127.0.0.1:$MOCK_PORT" PRICING_URL="" MAX_TRACES="$2"
    exec "$LLMFLOW" --host 127.0.0.1 --proxy-port "$port" --dashboard-port "$dash" \
      --data-dir "$1" >"$TMP/llmflow-$3.log" 2>&1
  ) &
  pid=$!
  PIDS+=("$pid")
  if [ "${4:-}" = 2 ]; then LF2_PID=$pid; else LF_PID=$pid; fi
  wait_http "http://127.0.0.1:$port/health" 300
  wait_http "http://127.0.0.1:$dash/api/health" 60
  meta "startup_ms_$3" "$(($(now_ms) - t0))"
  sleep 1
  meta "rss_idle_kib_$3" "$(status_kib "$pid" VmRSS)"
  log "llmflow ($3) up, pid $pid, idle RSS $(status_kib "$pid" VmRSS) KiB"
}
stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
stop_llmflow() {
  stop_pid "$LF_PID"
  LF_PID=""
}

# After a load point on llmflow: the writer's backlog, then wait until it has drained so
# the next point does not share the CPU with it.
drain() { # target label
  local dash h depth t0
  dash=$(dash_of "$1")
  [ -n "$dash" ] || return 0
  h=$(curl -fs "http://127.0.0.1:$dash/api/health" || echo '{}')
  depth=$(json_num "$h" queue_depth)
  meta "queue_depth_end_$2" "${depth:-null}"
  meta "dropped_total_after_$2" "$(json_num "$h" dropped)"
  t0=$(now_ms)
  while [ "${depth:-0}" -gt 0 ] && [ $(($(now_ms) - t0)) -lt 120000 ]; do
    sleep 0.1
    h=$(curl -fs "http://127.0.0.1:$dash/api/health" || echo '{}')
    depth=$(json_num "$h" queue_depth)
  done
  meta "drain_ms_$2" "$(($(now_ms) - t0))"
}

load() { # target conc label -> raw/<label>.json
  local target=$1 c=$2 label=$3 pid before after wbefore=0 wafter=0 s0 o0
  quiet "$label"
  pid=$(pid_of "$target")
  s0=$(sys_ticks)
  o0=$(ours_ticks)
  if [ -n "$pid" ]; then
    before=$(cpu_ticks "$pid")
    wbefore=$(thread_ticks "$pid" llmflow-writer)
  fi
  "$LOADGEN" --url "$(url_of "$target")/v1/chat/completions" --body-file "$CHAT_BODY" \
    -H "authorization: Bearer sk-bench-0000" -c "$c" -d "$DUR" --warmup "$WARM" \
    --threads "$LOAD_THREADS" --label "$label" >"$RAW/$label.json"
  foreign "$label" "$s0" "$o0" "$(json_num "$(cat "$RAW/$label.json")" self_cpu_ticks)"
  if [ -n "$pid" ]; then
    after=$(cpu_ticks "$pid")
    wafter=$(thread_ticks "$pid" llmflow-writer)
    meta "cpu_ticks_$label" "$((after - before))"
    meta "writer_ticks_$label" "$((wafter - wbefore))"
  fi
  log "$label: $(cat "$RAW/$label.json")"
  drain "$target" "$label"
}

ttft() { # target label
  local s0 o0
  quiet "$2"
  s0=$(sys_ticks)
  o0=$(ours_ticks)
  "$LOADGEN" --url "$(url_of "$1")/v1/chat/completions" --body-file "$STREAM_BODY" \
    -H "authorization: Bearer sk-bench-0000" -c 1 -n "$TTFT_N" --warmup 0.5 --mode ttft \
    --label "$2" >"$RAW/$2.json"
  foreign "$2" "$s0" "$o0" "$(json_num "$(cat "$RAW/$2.json")" self_cpu_ticks)"
  log "$2: $(cat "$RAW/$2.json")"
}

big() { # target body label -> peak RSS of the target's process during one big response
  local pid
  quiet "$3"
  pid=$(pid_of "$1")
  [ -n "$pid" ] && { reset_hwm "$pid" || meta "hwm_reset_failed" 1; }
  "$LOADGEN" --url "$(url_of "$1")/v1/chat/completions" --body-file "$2" \
    -H "x-mock-bytes: $BIG" -c 1 -n 1 --mode ttft --label "$3" >"$RAW/$3.json"
  if [ -n "$pid" ]; then
    # Let the writer commit the record (it holds the captured bodies) before reading.
    sleep 0.5
    meta "rss_after_kib_$3" "$(status_kib "$pid" VmRSS)"
    meta "rss_peak_kib_$3" "$(status_kib "$pid" VmHWM)"
  fi
  log "$3: $(cat "$RAW/$3.json") peak $( [ -n "$pid" ] && status_kib "$pid" VmHWM) KiB"
}

# ------------------------------------------------------------------ environment
meta nproc "$(nproc)"
meta loadavg_start "\"$(cut -d' ' -f1-3 /proc/loadavg)\""
meta cpu_model "\"$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo | tr -d '"')\""
if [ -n "${BENCH_GIT_REV:-}" ]; then
  meta git_rev "\"$BENCH_GIT_REV\""
else
  meta git_rev "\"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo -dirty)\""
fi
meta clk_tck "$(getconf CLK_TCK)"
busy=$(pgrep -c -x 'rustc|cargo|wrk' 2>/dev/null || true)
meta other_build_processes "${busy:-0}"
[ "${busy:-0}" != 0 ] && log "warning: $busy rustc/cargo processes running: figures will be noisy"
meta config "{\"duration_s\":$DUR,\"warmup_s\":$WARM,\"concurrency\":\"$CONCS\",\"ttft_requests\":$TTFT_N,\"rows\":$ROWS,\"big_bytes\":$BIG,\"api_requests\":$API_N,\"mock_threads\":$MOCK_THREADS,\"loadgen_threads\":$LOAD_THREADS,\"forwarder_threads\":$FWD_THREADS}"

# ------------------------------------------------------------------ phase 1: empty database
"$MOCK" --port "$MOCK_PORT" --threads "$MOCK_THREADS" >"$TMP/mock.log" 2>&1 &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
"$FWD" --port "$FWD_PORT" --upstream "http://127.0.0.1:$MOCK_PORT" --threads "$FWD_THREADS" \
  >"$TMP/fwd.log" 2>&1 &
FWD_PID=$!
PIDS+=("$FWD_PID")
wait_port "$MOCK_PORT"
wait_port "$FWD_PORT"
sleep 0.5
meta rss_idle_kib_bare "$(status_kib "$FWD_PID" VmRSS)"

start_llmflow "$TMP/empty" 10000 empty
TARGETS="direct bare llmflow"
if [ "$KEEPALL" = 1 ]; then
  start_llmflow "$TMP/keepall" 0 keepall 2
  TARGETS="$TARGETS llmflow_keepall"
fi

log "TTFT, empty database ($TTFT_N streamed requests each)"
for t in direct bare llmflow; do ttft "$t" "ttft_empty_$t"; done

log "latency/throughput: ${DUR}s per point after ${WARM}s warm-up"
for c in $CONCS; do
  for t in $TARGETS; do load "$t" "$c" "lat_c${c}_$t"; done
done
meta rss_hwm_kib_after_load_llmflow "$(status_kib "$LF_PID" VmHWM)"
meta rss_hwm_kib_after_load_bare "$(status_kib "$FWD_PID" VmHWM)"
meta rss_kib_after_load_llmflow "$(status_kib "$LF_PID" VmRSS)"
curl -fs "http://127.0.0.1:$LF_DASH/api/health" >"$RAW/health_after_load.json" || true
if [ -n "$LF2_PID" ]; then
  curl -fs "http://127.0.0.1:$LF2_DASH/api/health" >"$RAW/health_after_load_keepall.json" || true
  stop_pid "$LF2_PID"
  LF2_PID=""
fi
stop_llmflow

# A fresh process for each big response, so its peak is that response's alone.
log "memory: one $BIG-byte response, fresh llmflow each"
for kind in sse json; do
  body="$STREAM_BODY"
  [ "$kind" = json ] && body="$CHAT_BODY"
  start_llmflow "$TMP/mem-$kind" 10000 "mem_$kind"
  for t in direct bare llmflow; do big "$t" "$body" "big_${kind}_$t"; done
  stop_llmflow
done

# ------------------------------------------------------------------ phase 2: big database
if [ "$ROWS" -gt 0 ]; then
  mkdir -p "$TMP/big"
  if [ -n "$SEED_CACHE" ] && [ -f "$SEED_CACHE" ]; then
    log "reusing seeded database $SEED_CACHE"
    cp "$SEED_CACHE" "$TMP/big/data.db"
    [ -f "$SEED_CACHE.json" ] && cp "$SEED_CACHE.json" "$RAW/seed.json"
  else
    log "seeding $ROWS rows through Store::submit"
    "$SEED" --db "$TMP/big/data.db" --rows "$ROWS" >"$RAW/seed.json"
    log "seed: $(cat "$RAW/seed.json")"
    if [ -n "$SEED_CACHE" ]; then
      cp "$TMP/big/data.db" "$SEED_CACHE"
      cp "$RAW/seed.json" "$SEED_CACHE.json"
    fi
  fi
  meta db_bytes_big "$(stat -c %s "$TMP/big/data.db")"
  # Drop the file from the page cache? No: a running llmflow would have it cached too.
  start_llmflow "$TMP/big" 0 big

  log "API timings at $ROWS rows ($API_N requests each; first = cold)"
  api() { # label path
    quiet "api_$1"
    "$LOADGEN" --url "http://127.0.0.1:$LF_DASH$2" -c 1 -n "$API_N" --label "api_$1" \
      >"$RAW/api_$1.json"
    log "api $1 ($2): $(cat "$RAW/api_$1.json")"
  }
  api traces "/api/traces"
  api stats "/api/stats"
  api models "/api/models"
  api q_common "/api/traces?q=weather"
  api q_rare "/api/traces?q=zyzzyva"
  api model_filter "/api/traces?model=gpt-4o-2024-08-06"
  api offset_deep "/api/traces?offset=500000"

  log "TTFT at $ROWS rows"
  for t in direct llmflow; do ttft "$t" "ttft_big_$t"; done

  if [ "$BIG_LOAD" = 1 ]; then
    log "c=64 at $ROWS rows"
    for t in direct llmflow; do load "$t" 64 "big_c64_$t"; done
  fi
  curl -fs "http://127.0.0.1:$LF_DASH/api/health" >"$RAW/health_big.json" || true
  stop_llmflow
fi

meta loadavg_end "\"$(cut -d' ' -f1-3 /proc/loadavg)\""
meta total_seconds "$(($(date +%s) - RUN_START))"
python3 "$ROOT/bench/summarize.py" "$RAW" "$OUT"
log "done in $(($(date +%s) - RUN_START))s: $OUT/summary.md"
