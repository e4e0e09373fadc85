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
#   (c) archive events/s: watch's archive path (the dedupe lookup, the
#       blocks and their archive_events rows, dw_pg_archive) in watch-sized
#       transactions (watch.batch_max events) against a plain COPY of the
#       same data into tables without indexes, same batches (3 alternated
#       rounds, the best of each: interference on a shared machine only
#       slows a round down);
#   (d) bytes per open dossier with 1 M open dossiers (engine state_bytes and
#       the process RSS delta);
#   (e) alert latency p50/p99 through a live `watch` (wall clock): event
#       produced -> alert on dossier.alerts (PAPER_REQUESTED in_warehouse),
#       and due_at passing -> OVERDUE on dossier.alerts;
#   (f) `replay --from-archive` and (f') `replay --from-topic --since` of
#       what (b) archived, events/s over the whole command (connect, read,
#       apply, write the output), against (a); (g) the archive's bytes on
#       disk per event (every relation: blocks, TOAST, rows, indexes, units)
#       against the event's Avro bytes; (h) a national year (600 M events) at
#       (f)'s rate; export and audit of the same archive (Avro, JSON Lines).
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
RESET="TRUNCATE dossier_state, alerts, aggregates, kafka_offsets, archive_events, archive_blocks, dlq_messages"

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
ARCHIVED=$(dw_psql "SELECT coalesce(sum(n), 0) FROM archive_blocks")
dw_stop "$WPID"

# ---- (g) archive bytes per event; (f) (f') replay; export and audit ----------------
# (g): every relation of the archive (partitions, their indexes and TOAST,
# the dedupe) on disk after watch archived the topic, per event, against the
# event's own Avro bytes (the Kafka value, as the raw consumer counted them)
say "archive size; replay --from-archive / --from-topic; export and audit of the archive"
L[f]=$(load)
ARCH_BYTES=$(dw_psql "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public' AND c.relkind IN ('r', 'm') AND (c.relname LIKE 'dossier_event%' OR c.relname LIKE 'archive%')")
ARCH_DETAIL=$(dw_psql "SELECT string_agg(t || ' ' || b, ', ' ORDER BY b DESC) FROM (SELECT CASE WHEN c.relname ~ '_[0-9]{4}_[0-9]{2}\$|_default\$'
  THEN regexp_replace(c.relname, '_([0-9]{4}_[0-9]{2}|default)\$', '_*') ELSE c.relname END AS t, sum(pg_total_relation_size(c.oid)) AS b
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'm')
  AND (c.relname LIKE 'dossier_event%' OR c.relname LIKE 'archive%') GROUP BY 1) x")
# replay/export/audit: wall time of the whole command (connect, read, apply, write)
# timed OUT ERR CMD...: runs CMD with stdout to OUT and stderr to ERR, prints its wall seconds
timed() { local out=$1 err=$2 t0 t1; shift 2; t0=${EPOCHREALTIME/./}; "$@" >"$out" 2>"$err" || echo "run.sh: $* failed" >&2
  t1=${EPOCHREALTIME/./}; awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e6}'; }
REPLAY_A_S=$(timed /dev/null "$DW_TMP/replay-a.log" "$DW_BIN" replay --from-archive --into bench_fa)
REPLAY_T_S=$(timed /dev/null "$DW_TMP/replay-t.log" "$DW_BIN" replay --from-topic --since 2000-01-01 --into bench_ft)
EXPORT_S=$(timed /dev/null "$DW_TMP/export.log" "$DW_BIN" export --output "$DW_TMP/archive.avro")
EXPORTJ_S=$(timed /dev/null "$DW_TMP/exportj.log" "$DW_BIN" export --output "$DW_TMP/archive.jsonl")
AUDITA_S=$(timed /dev/null "$DW_TMP/audit-a.log" "$DW_BIN" audit "$DW_TMP/archive.avro")
AUDITJ_S=$(timed /dev/null "$DW_TMP/audit-j.log" "$DW_BIN" audit "$DW_TMP/archive.jsonl")
L[f]="${L[f]}/$(load)"
dw_psql "DROP SCHEMA IF EXISTS bench_fa CASCADE; DROP SCHEMA IF EXISTS bench_ft CASCADE"

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
say "archive: $ARCHIVE_ROWS events, watch's archive path vs a plain COPY of its data, batches of $BATCH"
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
row "    (b) against the ceiling (b')" "$(fmt "$watch_eps")" "ceiling $(fmt "$ceil_eps")/s" "$(ratio "$watch_eps" "$ceil_eps")" ">= 0.8x (b')" "$(verdict "$(ratio "$watch_eps" "$ceil_eps" | tr -d x)" 0.8 ge)"
row "    (steady: after first commit / message)" "$(fmt "$WATCH_STEADY")" "raw $(fmt "$(kv $D/consume.out eps_after_first)")/s" "$(ratio "$WATCH_STEADY" "$(kv $D/consume.out eps_after_first)")" "" ""
row "(c) archive events/s" "$(fmt "$arch")" "plain COPY of its data $(fmt "$copy")/s" "$(ratio "$arch" "$copy")" ">= 0.7x COPY" "$(verdict "$(ratio "$arch" "$copy" | tr -d x)" 0.7 ge)  [${L[c]}]"
row "    (one single COPY)" "$(fmt "$bigcopy")" "" "" "" ""
row "(d) bytes per open dossier (state)" "$sbpd" "RSS delta $rbpd B" "" "<= 200 B" "$(verdict "$sbpd" 200 le)  [${L[d]}]"
row "    (all dossiers in memory, (a) run)" "$(kv $D/engine.out bytes_per_dossier_in_memory)" "$(kv $D/engine.out in_memory) dossiers" "" "" ""
# (f) (f') (g) (h)
replay_n() { sed -n 's/.*replay: done: events=\([0-9]*\).*/\1/p' "$1" | tail -n1; }
eps_of() { awk -v n="$1" -v s="$2" 'BEGIN{ if (s > 0 && n > 0) printf "%.0f", n/s; else print 0 }'; }
fa_eps=$(eps_of "$(replay_n $D/replay-a.log)" "$REPLAY_A_S"); ft_eps=$(eps_of "$(replay_n $D/replay-t.log)" "$REPLAY_T_S")
avro_b=$(awk -v b="$(kv $D/consume.out bytes)" -v n="$(kv $D/consume.out consumed)" 'BEGIN{ if (n > 0) printf "%.1f", b/n; else print 0 }')
bpe=$(awk -v b="$ARCH_BYTES" -v n="$ARCHIVED" 'BEGIN{ if (n > 0) printf "%.1f", b/n; else print 0 }')
row "(f) replay --from-archive events/s" "$(fmt "$fa_eps")" "(a) engine $(fmt "$eng_eps")/s/core" "$(ratio "$fa_eps" "$eng_eps")" ">= 0.5x (a)" "$(verdict "$(ratio "$fa_eps" "$eng_eps" | tr -d x)" 0.5 ge)  [${L[f]}]"
row "    (replay's own apply rate)" "$(fmt "$(sed -n 's/.*apply_events_per_s=\([0-9]*\).*/\1/p' $D/replay-a.log | tail -n1)")" "$(sed -n 's/.*\(elapsed=[0-9.]*s\).*/\1/p' $D/replay-a.log | tail -n1) wall ${REPLAY_A_S} s" "" "" ""
row "(f') replay --from-topic events/s" "$(fmt "$ft_eps")" "(a) engine $(fmt "$eng_eps")/s/core" "$(ratio "$ft_eps" "$eng_eps")" ">= 0.5x (a)" "$(verdict "$(ratio "$ft_eps" "$eng_eps" | tr -d x)" 0.5 ge)"
row "(g) archive bytes on disk per event" "$bpe" "Avro value $avro_b B/event" "$(ratio "$bpe" "$avro_b")" "<= 2x Avro" "$(verdict "$(ratio "$bpe" "$avro_b" | tr -d x)" 2 le)"
row "(h) national year (600 M) at (f)" "$(awk -v e="$fa_eps" 'BEGIN{ if (e > 0) printf "%.1f min", 6e8/e/60; else print "-" }')" "" "" "< 15 min" "$(verdict "$(awk -v e="$fa_eps" 'BEGIN{ if (e > 0) printf "%.2f", 6e8/e/60; else print 1e9 }')" 15 le)"
n_ex=$(sed -n 's/.*export: done: events=\([0-9]*\).*/\1/p' $D/export.log | tail -n1)
row "    export (Avro, JSON Lines) events/s" "$(fmt "$(eps_of "$n_ex" "$EXPORT_S")")" "JSON Lines $(fmt "$(eps_of "$n_ex" "$EXPORTJ_S")")/s" "" "" ""
row "    audit (Avro, JSON Lines) events/s" "$(fmt "$(eps_of "$n_ex" "$AUDITA_S")")" "JSON Lines $(fmt "$(eps_of "$n_ex" "$AUDITJ_S")")/s" "" "" ""
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
  "watch $WATCH_S s for $TOTAL events (archived $ARCHIVED); raw consume $(kv $D/consume.out wall_s) s (first message after $(kv $D/consume.out first_msg_s) s);" \
  "archive $ARCH_BYTES bytes ($ARCH_DETAIL)"
