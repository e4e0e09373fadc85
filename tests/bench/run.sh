#!/usr/bin/env bash
# tests/bench/run.sh: the dossierwatch benchmark. Measures, in one run, and
# prints ONE table of figures with their reference and target:
#   (a) engine events/s per core over an Avro container of >= 5 M simulated
#       events (decoded into memory first; dw_engine_advance+apply timed,
#       CPU time of the one thread, best of 3 runs), next to a raw avro-c decode loop over
#       the same file; also with the aggregate changes drained every 20000
#       events for both readers, as watch does per batch;
#   (b) `watch` events/s end to end (embedded broker -> PostgreSQL, --clock
#       watermark, caught up = kafka_offsets reaches the topic's end) against
#       a raw librdkafka consumer reading the same topic (best of 2);
#   (c) archive rows/s: dw_pg_sink_archive in watch-sized transactions
#       (watch.batch_max rows) against a plain COPY of the same rows into a
#       table without indexes, same batches (3 alternated rounds, the best
#       of each: interference on a shared machine only slows a round down);
#   (d) bytes per open dossier with 1 M open dossiers (engine state_bytes and
#       the process RSS delta);
#   (e) alert latency p50/p99 through a live `watch` (wall clock): event
#       produced -> alert on dossier.alerts (PAPER_REQUESTED in_warehouse),
#       and due_at passing -> OVERDUE on dossier.alerts;
#   (i) API latency p50/p99 of `serve` over (b)'s data (the generated
#       province in PostgreSQL): GET /api/v1/ranking and the first page of
#       open alerts, 16 concurrent clients (bench_http, libcurl, one
#       kept-alive connection each, a province token).
# Two rows put the missed targets in scale: a cache miss on this machine
# (a dependent read over 256 MB) next to the engine's time per event, and the
# best any `watch` that archives could do (the raw consumer's wait for its
# first message, then every event written by a plain COPY at (c)'s rate).
# Not part of pass/fail (not registered in ctest); exit 0 unless the harness
# itself breaks. Everything it starts (broker, PostgreSQL, watch) is stopped
# and its temp dir removed on exit (tests/lib.sh).
#
# Usage:  bash tests/bench/run.sh [--quick] [--build DIR]
#   --quick      small sizes (~1-2 minutes) to check the harness
#   --build DIR  build folder with dossierwatch and bench (default: build-bench;
#                configure with -DCMAKE_BUILD_TYPE=RelWithDebInfo)
# The machine's load average is printed with each phase and in the table: on
# a shared machine, compare runs at similar load. Full run: ~4 minutes on 2
# cores (sizes below).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
quick=0
build=$src/build-bench
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --build) build=$(cd "$2" && pwd); shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
export DW_SOURCE_DIR=$src DW_BIN=$build/dossierwatch
BENCH=$build/bench
BENCH_HTTP=$build/bench_http
[ -x "$DW_BIN" ] && [ -x "$BENCH" ] && [ -x "$BENCH_HTTP" ] || { echo "run.sh: build first: cmake --build $build" >&2; exit 1; }
source "$src/tests/lib.sh"

if [ $quick = 1 ]; then
  ENGINE_SIM=(--days 10 --communes 200)  # ~0.2 M events
  OPEN_DOSSIERS=200000
  KAFKA_SIM=(--days 3 --communes 100)    # ~20 k events
  ARCHIVE_ROWS=20000
  LAT_SAMPLES=20
  API_REQUESTS=20 # per client
else
  ENGINE_SIM=(--days 55 --communes 1000) # ~5.4 M events
  OPEN_DOSSIERS=1000000
  KAFKA_SIM=(--days 8 --communes 300)    # ~0.2 M events (the embedded broker keeps ~35 k per partition)
  ARCHIVE_ROWS=200000
  LAT_SAMPLES=100
  API_REQUESTS=200 # per client
fi
API_CLIENTS=16
BATCH=20000 # watch.batch_max default

load() { cut -d' ' -f1 /proc/loadavg; }
say() { echo "[bench $(date +%T) load $(load)] $*" >&2; }
# kv FILE KEY: the value of key=value in FILE
kv() { sed -n "s/^$2=//p" "$1" | tail -n1; }
declare -A L # load per phase

# ---- (a) engine vs raw decode -------------------------------------------------
say "simulating ${ENGINE_SIM[*]} -> Avro container"
"$DW_BIN" simulate "${ENGINE_SIM[@]}" --seed 1 --output "$DW_TMP/events.avro" 2>"$DW_TMP/sim.log"
EVENTS=$(sed -n 's/^simulate: \([0-9]*\) events.*/\1/p' "$DW_TMP/sim.log")
say "$EVENTS events; raw avro-c decode loop"
L[a]=$(load)
"$BENCH" decode "$DW_TMP/events.avro" >"$DW_TMP/decode.out"
say "engine (decode into memory, then timed apply+advance)"
"$BENCH" engine "$DW_TMP/events.avro" 3 >"$DW_TMP/engine.out"
"$BENCH" memlat 256 >"$DW_TMP/memlat.out"
L[a]="${L[a]}/$(load)"

# ---- (d) bytes per open dossier ------------------------------------------------
say "memory: $OPEN_DOSSIERS open dossiers"
L[d]=$(load)
"$BENCH" memory "$OPEN_DOSSIERS" >"$DW_TMP/memory.out"

# ---- broker + PostgreSQL -------------------------------------------------------
say "starting the embedded broker and PostgreSQL"
dw_start_broker 6
dw_start_pg
RESET="TRUNCATE dossier_state, alerts, aggregates, kafka_offsets, dossier_event_ids, dossier_events, dlq_messages"

# ---- (e) alert latency (wall clock) ----------------------------------------------
say "latency: watch --clock wall, $LAT_SAMPLES events + deadlines"
L[e]=$(load)
dw_bg "$DW_BIN" watch --group bench-lat --clock wall >"$DW_TMP/watch-lat.log" 2>&1
WPID=$DW_LAST_PID
sleep 3 # group join and assignment
"$BENCH" latency "$DW_BOOTSTRAP" "$LAT_SAMPLES" >"$DW_TMP/latency.out" || true
dw_stop "$WPID"
dw_psql "$RESET"

# ---- (b) watch vs raw consume --------------------------------------------------
say "loading the topic: simulate ${KAFKA_SIM[*]} --kafka"
"$DW_BIN" simulate "${KAFKA_SIM[@]}" --seed 2 --kafka >/dev/null 2>"$DW_TMP/sim-kafka.log"
"$BENCH" count "$DW_BOOTSTRAP" dossier.events >"$DW_TMP/count.out"
TOTAL=$(kv "$DW_TMP/count.out" messages) END=$(kv "$DW_TMP/count.out" end)
say "topic holds $TOTAL messages; raw librdkafka consumer"
L[b]=$(load)
# best of 2 (each a new group, with its own join): the embedded broker
# sometimes stalls a fetch for a second, which would flatter watch's ratio
for r in 1 2; do "$BENCH" consume "$DW_BOOTSTRAP" dossier.events "$TOTAL" >"$DW_TMP/consume$r.out"; done
if awk -v a="$(kv "$DW_TMP/consume1.out" eps)" -v b="$(kv "$DW_TMP/consume2.out" eps)" 'BEGIN{exit !(a >= b)}'; then
  cp "$DW_TMP/consume1.out" "$DW_TMP/consume.out"
else
  cp "$DW_TMP/consume2.out" "$DW_TMP/consume.out"
fi
say "watch --clock watermark until kafka_offsets reaches the end ($END)"
t0=${EPOCHREALTIME/./}
dw_bg "$DW_BIN" watch --group bench-tp --clock watermark >"$DW_TMP/watch-tp.log" 2>&1
WPID=$DW_LAST_PID
done_now() { dw_psql "SELECT coalesce(sum(next_offset),0) FROM kafka_offsets WHERE consumer_group='bench-tp'"; }
WATCH_OK=1 tf=0 nf=0
while :; do
  n=$(done_now)
  # the first commit: from here on, steady-state rate (no group join/startup)
  if [ "$tf" = 0 ] && [ "$n" -gt 0 ]; then tf=${EPOCHREALTIME/./} nf=$((n - (END - TOTAL))); fi
  [ "$n" -ge "$END" ] && break
  if ! kill -0 "$WPID" 2>/dev/null || [ $(( ${EPOCHREALTIME/./} - t0 )) -gt 600000000 ]; then WATCH_OK=0; break; fi
  sleep 0.1
done
t1=${EPOCHREALTIME/./}
L[b]="${L[b]}/$(load)"
WATCH_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e6}')
WATCH_STEADY=$(awk -v a="$tf" -v b="$t1" -v n="$TOTAL" -v f="$nf" 'BEGIN{ if (a > 0 && b > a && n > f) printf "%.0f", (n-f)/((b-a)/1e6); else print 0 }')
ARCHIVED=$(dw_psql "SELECT count(*) FROM dossier_events")
dw_stop "$WPID"

# ---- (i) API latency over (b)'s data --------------------------------------------
say "serve: $API_CLIENTS clients x $API_REQUESTS requests, ranking and open alerts"
L[i]=$(load)
# what autovacuum does within a minute of a burst like (b)'s: without it the
# planner still believes the tables empty and the open-alert indexes are
# full of dead entries (20 ms a ranking instead of 2)
dw_psql "VACUUM ANALYZE"
TOKEN=$("$DW_BIN" token add --name bench --scope province 2>/dev/null)
dw_bg "$DW_BIN" serve --listen 127.0.0.1:0 --listen-file "$DW_TMP/serve.addr" --units generated \
  --set http.db_pool=16 >"$DW_TMP/serve.log" 2>&1
SPID=$DW_LAST_PID
dw_wait_for "[ -s '$DW_TMP/serve.addr' ]" 20 || true
API=$(cat "$DW_TMP/serve.addr" 2>/dev/null || true)
API_OPEN=$(dw_psql "SELECT count(*) FROM alerts WHERE cleared_at IS NULL")
API_COMMUNES=$(dw_psql "SELECT count(DISTINCT unit) FROM aggregates WHERE unit_type = 'commune'")
"$BENCH_HTTP" "http://$API/api/v1/ranking?unit_type=commune&period_kind=quarter&period=current" "$TOKEN" \
  "$API_CLIENTS" "$API_REQUESTS" >"$DW_TMP/api-ranking.out" || true
"$BENCH_HTTP" "http://$API/api/v1/alerts?state=open&limit=50" "$TOKEN" "$API_CLIENTS" "$API_REQUESTS" \
  >"$DW_TMP/api-alerts.out" || true
dw_stop "$SPID"
dw_psql "$RESET; TRUNCATE api_tokens"

# ---- (c) archive vs COPY -------------------------------------------------------
say "archive: $ARCHIVE_ROWS rows, dw_pg_sink_archive vs COPY, batches of $BATCH"
L[c]=$(load)
"$BENCH" archive "$DW_DB" "$DW_TMP/events.avro" "$ARCHIVE_ROWS" "$BATCH" >"$DW_TMP/archive.out"

# ---- the table -------------------------------------------------------------------
D=$DW_TMP
raw_eps=$(kv $D/decode.out raw_eps); dw_eps=$(kv $D/decode.out dw_eps); eng_eps=$(kv $D/engine.out engine_eps)
cons_eps=$(kv $D/consume.out eps)
if [ "$WATCH_OK" = 1 ]; then watch_eps=$(awk -v n="$TOTAL" -v s="$WATCH_S" 'BEGIN{printf "%.0f", n/s}'); else watch_eps=0; fi
arch=$(kv $D/archive.out archive_rps); copy=$(kv $D/archive.out copy_rps); bigcopy=$(kv $D/archive.out bigcopy_rps)
sbpd=$(kv $D/memory.out state_bytes_per_dossier); rbpd=$(kv $D/memory.out rss_bytes_per_dossier)
row() { printf '%-38s %14s  %-30s %8s  %-12s %s\n' "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2fx", a/b; else print "-" }'; }
verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN{ ok = dir == "ge" ? v >= t : v <= t; print ok ? "MET" : "missed" }'; }
fmt() { awk -v v="$1" 'BEGIN{ if (v == "") print "-"; else printf "%.0f", v }'; }
echo
echo "dossierwatch benchmark $( [ $quick = 1 ] && echo '(--quick)' ) — $(date -Is), $(nproc) cores, build $(basename "$build")"
echo "sizes: engine $EVENTS events; $OPEN_DOSSIERS open dossiers; topic $TOTAL events; archive $ARCHIVE_ROWS rows"
row "figure" "measured" "reference (same run)" "ratio" "target" "verdict  [load 1-min]"
row "(a) engine events/s/core" "$(fmt "$eng_eps")" "raw avro-c decode $(fmt "$raw_eps")/s" "$(ratio "$eng_eps" "$raw_eps")" ">= 2,000,000" "$(verdict "$eng_eps" 2000000 ge)  [${L[a]}]"
row "    (with aggregate drains per 20000)" "$(fmt "$(kv $D/engine.out engine_with_drains_eps)")" "watch's per-batch output step" "" "" ""
row "    (ns per event; one cache miss)" "$(awk -v v="$eng_eps" 'BEGIN{ if (v > 0) printf "%.0f ns", 1e9/v; else print "-" }')" "dependent read, 256 MB: $(kv $D/memlat.out memlat_ns) ns" "" "<= 500 ns" ""
row "    (dw_avro_file_read decode)" "$(fmt "$dw_eps")" "raw avro-c decode" "$(ratio "$dw_eps" "$raw_eps")" "" ""
row "(b) watch events/s end to end" "$(fmt "$watch_eps")" "raw consume $(fmt "$cons_eps")/s" "$(ratio "$watch_eps" "$cons_eps")" ">= 0.9x raw" "$(verdict "$(ratio "$watch_eps" "$cons_eps" | tr -d x)" 0.9 ge)  [${L[b]}]"
ceil_eps=$(awk -v n="$TOTAL" -v j="$(kv $D/consume.out first_msg_s)" -v c="$copy" 'BEGIN{ if (c > 0) printf "%.0f", n/(j + n/c); else print 0 }')
row "    (ceiling: join + COPY of all)" "$(fmt "$ceil_eps")" "any watch archiving each event" "$(ratio "$ceil_eps" "$cons_eps")" "" ""
row "    (steady: after first commit / message)" "$(fmt "$WATCH_STEADY")" "raw $(fmt "$(kv $D/consume.out eps_after_first)")/s" "$(ratio "$WATCH_STEADY" "$(kv $D/consume.out eps_after_first)")" "" ""
row "(c) archive rows/s" "$(fmt "$arch")" "COPY (same batches) $(fmt "$copy")/s" "$(ratio "$arch" "$copy")" ">= 0.7x COPY" "$(verdict "$(ratio "$arch" "$copy" | tr -d x)" 0.7 ge)  [${L[c]}]"
row "    (one single COPY)" "$(fmt "$bigcopy")" "" "" "" ""
row "(d) bytes per open dossier (state)" "$sbpd" "RSS delta $rbpd B" "" "<= 200 B" "$(verdict "$sbpd" 200 le)  [${L[d]}]"
row "    (all dossiers in memory, (a) run)" "$(kv $D/engine.out bytes_per_dossier_in_memory)" "$(kv $D/engine.out in_memory) dossiers" "" "" ""
lat() { echo "$(kv $D/latency.out ${1}_p50_ms)/$(kv $D/latency.out ${1}_p99_ms) ms"; }
lok() { local v; v=$(kv $D/latency.out ${1}_p99_ms); [ -n "$v" ] && verdict "$v" "$2" le || echo missed; }
row "(e) alert latency after event p50/p99" "$(lat event_pg)" "PG alerts row, n=$(kv $D/latency.out event_pg_n)" "" "<= 50 ms" "$(lok event_pg 50)  [${L[e]}]"
row "    (on dossier.alerts)" "$(lat event)" "Kafka, n=$(kv $D/latency.out event_n) lost=$(kv $D/latency.out event_lost)" "" "<= 50 ms" "$(lok event 50)"
row "    after deadline p50/p99" "$(lat deadline_pg)" "PG alerts row, n=$(kv $D/latency.out deadline_pg_n)" "" "<= 1000 ms" "$(lok deadline_pg 1000)"
row "    (on dossier.alerts)" "$(lat deadline)" "Kafka, n=$(kv $D/latency.out deadline_n) lost=$(kv $D/latency.out deadline_lost)" "" "<= 1000 ms" "$(lok deadline 1000)"
api() { echo "$(kv $D/api-$1.out p50_ms)/$(kv $D/api-$1.out p99_ms) ms"; }
aok() { local v; v=$(kv $D/api-$1.out p99_ms); [ -n "$v" ] && [ "$(kv $D/api-$1.out errors)" = 0 ] && verdict "$v" 50 le || echo missed; }
row "(i) API ranking p50/p99, $API_CLIENTS clients" "$(api ranking)" "$API_COMMUNES communes, $(kv $D/api-ranking.out rps) req/s" "" "<= 50 ms" "$(aok ranking)  [${L[i]}]"
row "    open alerts, first page of 50" "$(api alerts)" "$API_OPEN open, $(kv $D/api-alerts.out rps) req/s" "" "<= 50 ms" "$(aok alerts)"
echo "details: engine (run 1 of 3) wall $(kv $D/engine.out run0_wall_s) s / CPU $(kv $D/engine.out run0_engine_cpu_s) s (unpack $(kv $D/engine.out unpack_cpu_s) s and aggregate drains $(kv $D/engine.out run0_drain_cpu_s) s excluded); alerts raised $(kv $D/engine.out raised);" \
  "watch $WATCH_S s for $TOTAL events (archived $ARCHIVED); raw consume $(kv $D/consume.out wall_s) s (first message after $(kv $D/consume.out first_msg_s) s)"
