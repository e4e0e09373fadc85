#!/usr/bin/env bash
# faults_mixed: the fault suite. One topic content, consumed twice by watch
# (--clock watermark, each run with its own consumer group and database):
#   B (faulted) consumes while the input is being produced, and meanwhile
#     - every broker goes down for 4 s; once B has caught up, the last 1/3
#       is produced while B is frozen and then a single broker goes down
#       for 4 s (B reads the other partitions' newer events while the end
#       it knows of that broker's partitions is stale: they must hold the
#       watermark back),
#     - PostgreSQL is SIGKILLed and restarted under it,
#     - watch itself is SIGKILLed twice and restarted;
#   A (reference) consumes the complete topic afterwards, uninterrupted.
# The topic holds, in this order: the first 2/3 of a simulated slice in
# order, 2,500 malformed messages, the last 1/3, 2,500 malformed, the whole
# slice again shuffled (every event duplicated, the duplicates out of order),
# 2,500 malformed, 2,500 more malformed, 48 sentinel events (one event time
# ends every partition, as in watch_exactly_once.sh).
# Malformed = random bytes, truncated Avro, wrong magic, valid JSON events
# (JSON, not Avro) and unknown writer fingerprints (tests/fault/gen_malformed.py,
# seeded, deterministic).
# Checked: archive, alerts, aggregates, dossier states and dlq_messages of B
# equal A's; every event archived once; every kafka offset consumed; each of
# the 10,000 malformed messages is on dossier.events.dlq (exactly once for A,
# at least once for B, whose DLQ is at-least-once across SIGKILLs) and in
# each run's dlq_messages, and no valid event is; watch never crashed (every
# exit 0 or our SIGKILL, no sanitizer report). About 1-2 minutes.
source "$DW_SOURCE_DIR/tests/lib.sh"

dw_start_broker
B=$DW_BOOTSTRAP

# --- the input -----------------------------------------------------------------
"$DW_BIN" simulate --seed 11 --days 10 --communes 16 --start 2025-03-03 --output "$DW_TMP/sim.jsonl" \
  >"$DW_TMP/simulate.log" 2>&1 || dw_fail "simulate failed"
events=$(wc -l <"$DW_TMP/sim.jsonl" | tr -d ' ')
received=$(grep -c '"type":"RECEIVED"' "$DW_TMP/sim.jsonl")
head -n $((events * 2 / 3)) "$DW_TMP/sim.jsonl" >"$DW_TMP/part1.jsonl"
# Out of order: by default the second, duplicate copy of the slice is
# shuffled (late duplicates). DW_FAULTS_LATE_EVENTS=1 shuffles the last third
# of the first copy instead (late *new* events, tests/fault/faults_late_events.sh):
# the final state must still be equal; only the alert history may differ
# (see the note at the end of this file).
late_events=${DW_FAULTS_LATE_EVENTS:-0}
tail -n +$((events * 2 / 3 + 1)) "$DW_TMP/sim.jsonl" >"$DW_TMP/part2.jsonl"
cp "$DW_TMP/sim.jsonl" "$DW_TMP/copy2.jsonl"
if [ "$late_events" = 1 ]; then
  shuf --random-source=<(yes) "$DW_TMP/part2.jsonl" >"$DW_TMP/p2" && mv "$DW_TMP/p2" "$DW_TMP/part2.jsonl"
else
  shuf --random-source=<(yes) "$DW_TMP/sim.jsonl" >"$DW_TMP/copy2.jsonl"
fi
: >"$DW_TMP/sentinel.jsonl"
for i in $(seq 1 48); do
  echo "{\"event_id\":\"sentinel-$i\",\"dossier_id\":\"SENTINEL-$i\",\"type\":\"RECEIVED\",\"occurred_at\":\"2025-03-14T12:00:00+07:00\",\"commune\":\"00000\",\"agency\":\"SENTINEL\",\"procedure\":\"0.000000\",\"channel\":\"ONLINE_FULL\",\"due_at\":\"2025-06-30T17:00:00+07:00\"}" \
    >>"$DW_TMP/sentinel.jsonl"
done
bad_total=10000
for k in 1 2 3 4; do
  /usr/bin/python3 "$DW_SOURCE_DIR/tests/fault/gen_malformed.py" "$k" 2500 $(((k - 1) * 2500)) \
    "$DW_SOURCE_DIR/tests/fuzz/corpus" "$DW_TMP/sim.jsonl" "$DW_TMP/bad$k.bin" || dw_fail "gen_malformed failed"
done
unique=$((events + 48))
messages=$((2 * events + 48 + bad_total))
echo "input: $events events ($received RECEIVED), late events $late_events, all twice, 48 sentinels, $bad_total malformed = $messages messages"

import() {
  timeout 120 "$DW_BIN" import "$DW_TMP/$1.jsonl" --bootstrap "$B" >>"$DW_TMP/import.log" 2>&1 || dw_fail "import $1 failed"
}
produce_bad() {
  timeout 120 kcat -P -b "$B" -t dossier.events -K DWKEY -D DWEND -X queue.buffering.max.messages=1000000 \
    <"$DW_TMP/bad$1.bin" 2>>"$DW_TMP/kcat.log" || dw_fail "kcat could not produce bad$1"
}

watch_args=(--bootstrap "$B" --clock watermark --set kafka.session.timeout.ms=6000
  --set kafka.heartbeat.interval.ms=500 --set watch.batch_max=2000)
archived() { dw_archived; }
consumed() { dw_psql "SELECT coalesce(sum(next_offset), 0) FROM kafka_offsets WHERE consumer_group = '$1'"; }
alive() { kill -0 "$wpid" 2>/dev/null || dw_fail "$1: watch (pid $wpid) exited by itself, see $DW_TMP/watch-b-$round.log"; }
# waits (bounded) until watch B has committed every message produced so far
caught_up() {
  dw_wait_for '[ "$(consumed faulted)" -ge '"$produced"' ] || ! kill -0 '"$wpid" "$2" ||
    dw_fail "$1: watch B did not catch up in $2 s (consumed $(consumed faulted) of $produced, archived $(archived))"
  alive "$1"
  echo "B: $1: caught up ($produced messages, $(archived) archived)"
}
start_b() {
  round=$((round + 1))
  dw_bg "$DW_BIN" watch --db "$B_DB" --group faulted "${watch_args[@]}" 2>"$DW_TMP/watch-b-$round.log"
  wpid=$DW_LAST_PID
}
kill_b() {
  alive "$1"
  dw_stop "$wpid" KILL
  dw_assert_eq 137 "$DW_STOP_RC" "$1: exit status of the SIGKILLed watch"
  echo "B: $1: watch SIGKILLed at $(consumed faulted) consumed, $(archived) archived"
}
produced=0
part1=$(wc -l <"$DW_TMP/part1.jsonl" | tr -d ' ')

# --- B: faulted, consuming while the input is produced -----------------------------
# Each fault is injected right after producing, while B has a backlog.
dw_start_pg faulted
B_DB=$DW_DB
round=0
start_b
t0=$(date +%s)
import part1
produce_bad 1
produced=$((part1 + 2500))
dw_wait_for '[ "$(archived)" -gt 0 ]' 60 || dw_fail "watch B archived nothing in 60 s"

dw_broker_ctl 'down -1'
echo "B: all brokers down at $(consumed faulted) consumed"
sleep 4
alive "all brokers down"
dw_broker_ctl 'up -1'
produce_bad 2
produced=$((part1 + 5000))
caught_up "all brokers down/up" 120

# part2 reaches every broker while B is frozen (SIGSTOP), then broker 2
# goes down and B continues: B reads part2 from the partitions the others
# lead, while the end it knows of broker 2's partitions (which it had
# reached) is stale. They must still hold the watermark back until broker 2
# is back and delivers.
kill -STOP "$wpid"
import part2
dw_broker_ctl 'down 2'
kill -CONT "$wpid"
echo "B: broker 2 down at $(consumed faulted) consumed, part2 produced"
sleep 4
alive "broker 2 down"
dw_broker_ctl 'up 2'
produced=$((events + 5000))
caught_up "broker 2 down/up" 120

import copy2
produced=$((2 * events + 5000))
dw_pg_ctl kill >/dev/null || dw_fail "could not kill PostgreSQL"
echo "B: PostgreSQL SIGKILLed"
sleep 2
alive "PostgreSQL down"
dw_pg_ctl restart >/dev/null || dw_fail "PostgreSQL restart failed"
echo "B: PostgreSQL restarted at $(consumed faulted) consumed"
caught_up "PostgreSQL kill/restart" 120

produce_bad 3
produced=$((2 * events + 7500))
sleep 0.5
kill_b "round 1"
c1=$(consumed faulted)
start_b
produce_bad 4
import sentinel
produced=$messages
dw_wait_for '[ "$(consumed faulted)" -gt '"$c1"' ] || ! kill -0 '"$wpid" 90 ||
  dw_fail "the restarted watch B made no progress in 90 s"
sleep 0.3
kill_b "round 2"

# idle limit > the session timeout: the SIGKILLed member must first leave the
# group, or this one could sit unassigned and exit idle
timeout 240 "$DW_BIN" watch --db "$B_DB" --group faulted --exit-when-idle 10 "${watch_args[@]}" \
  2>"$DW_TMP/watch-b-last.log" || dw_fail "final watch B exited $? (see watch-b-last.log)"
echo "B: done in $(($(date +%s) - t0)) s, $(archived) archived, $round kills"
dw_assert_eq "$unique" "$(archived)" "B archive rows"
dw_assert_eq "$messages" "$(consumed faulted)" \
  "B consumed every offset of dossier.events"

# the DLQ as B left it (B's messages precede A's in every partition)
dlq_dump() {
  timeout 120 kcat -C -b "$B" -t dossier.events.dlq -o beginning -e -q -f '%p %o %k\n' >"$1" 2>>"$DW_TMP/kcat.log" ||
    dw_fail "kcat could not read the DLQ"
}
dlq_dump "$DW_TMP/dlq-b.txt"
b_dlq=$(wc -l <"$DW_TMP/dlq-b.txt" | tr -d ' ')
b_keys=$(awk '{print $3}' "$DW_TMP/dlq-b.txt" | sort -u | grep -c '^bad-[0-9]*$' || true)
echo "B: $b_dlq DLQ messages, $b_keys distinct malformed keys"
dw_assert_eq "$bad_total" "$b_keys" "B: distinct malformed messages on the DLQ"
dw_assert_eq 0 "$(awk '$3 !~ /^bad-[0-9]+$/' "$DW_TMP/dlq-b.txt" | wc -l | tr -d ' ')" "B: valid events on the DLQ"
[ "$b_dlq" -ge "$bad_total" ] || dw_fail "B: $b_dlq DLQ messages < $bad_total"
dw_assert_eq "$bad_total|$bad_total" "$(dw_psql "SELECT count(*), count(*) FILTER (WHERE stage = 'decode') FROM dlq_messages")" \
  "B: dlq_messages rows"

# --- A: reference, uninterrupted, over the same topic ---------------------------------
dw_start_pg ref
A_DB=$DW_DB
t0=$(date +%s)
timeout 240 "$DW_BIN" watch --db "$A_DB" --group ref --exit-when-idle 5 "${watch_args[@]}" \
  2>"$DW_TMP/watch-a.log" || dw_fail "reference watch exited $?"
echo "A: done in $(($(date +%s) - t0)) s, $(archived) archived"
dw_assert_eq "$unique" "$(archived)" "A archive rows"
dw_assert_eq "$messages" "$(consumed ref)" \
  "A consumed every offset of dossier.events"
! grep -q 'rolled back' "$DW_TMP/watch-a.log" || dw_fail "the uninterrupted run rolled a batch back"
dw_assert_eq 6 "$(dw_psql "SELECT count(DISTINCT kafka_partition) FROM archive_events WHERE dossier_id LIKE 'SENTINEL-%'")" \
  "sentinels in every partition"
dw_assert_eq "$bad_total|$bad_total" "$(dw_psql "SELECT count(*), count(*) FILTER (WHERE stage = 'decode') FROM dlq_messages")" \
  "A: dlq_messages rows"
dw_assert_eq "$((received + 48))" "$(dw_psql "SELECT received FROM aggregates WHERE unit_type = 'province' AND period_kind = 'year'")" \
  "A: received counted once per RECEIVED event"
dlq_dump "$DW_TMP/dlq-all.txt"
# A's part: per partition, the offsets past B's last one
awk 'NR == FNR { if (!($1 in last) || $2 > last[$1]) last[$1] = $2; next }
     !($1 in last) || $2 > last[$1]' "$DW_TMP/dlq-b.txt" "$DW_TMP/dlq-all.txt" >"$DW_TMP/dlq-a.txt"
dw_assert_eq "$bad_total" "$(wc -l <"$DW_TMP/dlq-a.txt" | tr -d ' ')" "A: DLQ messages (a clean run, exactly once)"
dw_assert_eq "$bad_total" "$(awk '{print $3}' "$DW_TMP/dlq-a.txt" | sort -u | grep -c '^bad-[0-9]*$' || true)" \
  "A: distinct malformed messages on the DLQ"

# --- compare A and B ---------------------------------------------------------------------
# One file per part, so that a difference says where it is.
dump() {
  DW_DB=$1 dw_archive_dump >"$2.archive"
  DW_DB=$1 dw_psql "SELECT to_jsonb(a) - 'updated_at' - 'change_seq' FROM aggregates a
    ORDER BY unit_type, unit, period_kind, period" >"$2.aggregates"
  DW_DB=$1 dw_psql "SELECT dossier_id, kafka_partition, open FROM dossier_state ORDER BY dossier_id" >"$2.state"
  DW_DB=$1 dw_psql "SELECT topic, kafka_partition, kafka_offset, stage, encode(msg_key, 'escape') FROM dlq_messages
    ORDER BY 1, 2, 3" >"$2.dlq"
  DW_DB=$1 dw_psql "SELECT to_jsonb(a) - 'updated_at' - 'change_seq' FROM alerts a
    WHERE cleared_at IS NULL ORDER BY alert_id" >"$2.open-alerts"
  DW_DB=$1 dw_psql "SELECT to_jsonb(a) - 'updated_at' - 'change_seq' FROM alerts a ORDER BY alert_id" >"$2.alerts"
}
dump "$A_DB" "$DW_TMP/a"
dump "$B_DB" "$DW_TMP/b"
echo "compare: $(wc -l <"$DW_TMP/a.alerts") alerts ($(wc -l <"$DW_TMP/a.open-alerts") open), $(wc -l <"$DW_TMP/a.aggregates") aggregate rows, $(wc -l <"$DW_TMP/a.state") dossier states"
differ=""
parts="archive aggregates state dlq open-alerts alerts"
[ "$late_events" = 1 ] && parts="archive aggregates state dlq open-alerts"
for part in $parts; do
  if ! cmp -s "$DW_TMP/a.$part" "$DW_TMP/b.$part"; then
    echo "---- $part: A (<) and B (>) differ in $(diff "$DW_TMP/a.$part" "$DW_TMP/b.$part" | grep -c '^[<>]') lines" >&2
    diff "$DW_TMP/a.$part" "$DW_TMP/b.$part" | head -6 >&2 || true
    differ="$differ $part"
  fi
done
[ -z "$differ" ] || dw_fail "the faulted run B differs from the reference run A in:$differ"

# --- one clock for the three drivers: A's alert history (watch --clock
# watermark, six partitions) = `replay --from-archive` of A's archive =
# `audit --history` of the events (CONTRACT §4) ------------------------------------
if [ "$late_events" = 0 ]; then
  "$DW_BIN" replay --db "$A_DB" --from-archive --into shadow >"$DW_TMP/replay.out" 2>"$DW_TMP/replay.log" ||
    dw_fail "replay of A's archive failed: $(tail -3 "$DW_TMP/replay.log")"
  cat "$DW_TMP/sim.jsonl" "$DW_TMP/sentinel.jsonl" >"$DW_TMP/unique.jsonl"
  "$DW_BIN" audit "$DW_TMP/unique.jsonl" --history >"$DW_TMP/audit.jsonl" 2>"$DW_TMP/audit.log" ||
    dw_fail "audit failed: $(tail -3 "$DW_TMP/audit.log")"
  table_history() {
    DW_DB=$A_DB dw_psql "SELECT concat_ws(E'\t', alert_id, rule, severity, dossier_id, commune, agency, procedure,
        (extract(epoch FROM raised_at) * 1000)::bigint, COALESCE(((extract(epoch FROM due_at) * 1000)::bigint)::text, 'null'),
        COALESCE(((extract(epoch FROM cleared_at) * 1000)::bigint)::text, 'null'), detail) FROM $1.alerts" | sort
  }
  table_history public >"$DW_TMP/hist-watch.tsv"
  table_history shadow >"$DW_TMP/hist-replay.tsv"
  /usr/bin/python3 - "$DW_TMP/audit.jsonl" <<'PY' | sort >"$DW_TMP/hist-audit.tsv"
import json, sys
from datetime import datetime
def ms(t): return "null" if t is None else str(int(round(datetime.fromisoformat(t).timestamp() * 1000)))
for line in open(sys.argv[1], encoding="utf-8"):
    a = json.loads(line)
    if a["kind"] != "alert": continue
    print("\t".join([a["alert_id"], a["rule"], a["severity"], a["dossier_id"], a["commune"], a["agency"], a["procedure"],
                     ms(a["raised_at"]), ms(a.get("due_at")), ms(a.get("cleared_at")), a.get("detail", "")]))
PY
  for other in replay audit; do
    if ! cmp -s "$DW_TMP/hist-watch.tsv" "$DW_TMP/hist-$other.tsv"; then
      diff "$DW_TMP/hist-watch.tsv" "$DW_TMP/hist-$other.tsv" | head -6 >&2 || true
      dw_fail "watch's alert history differs from $other's ($(wc -l <"$DW_TMP/hist-watch.tsv") vs $(wc -l <"$DW_TMP/hist-$other.tsv") alerts)"
    fi
  done
  echo "one clock: $(wc -l <"$DW_TMP/hist-watch.tsv") alerts, identical through watch, replay and audit --history"
fi

# --- no crash ------------------------------------------------------------------------
if grep -l 'AddressSanitizer\|LeakSanitizer\|runtime error\|Segmentation\|Aborted' "$DW_TMP"/watch-*.log; then
  grep -h -A10 'AddressSanitizer\|LeakSanitizer\|runtime error' "$DW_TMP"/watch-*.log | head -30 >&2
  dw_fail "a sanitizer or crash report in a watch log"
fi
echo "faults_mixed: ok (brokers down, one broker down, PostgreSQL killed, $round watch runs SIGKILLed, duplicates, out of order, $bad_total malformed)"

# With late *new* events (DW_FAULTS_LATE_EVENTS=1) the final state (archive,
# aggregates, dossier states, DLQ, open alerts) must equal the reference run;
# the alert history may not: an alert raised at a deadline and withdrawn when
# a late event proves it wrong exists only in a run whose clock had passed
# the deadline when the late event came, which depends on timing. The fix
# that made the final state deterministic: dossiers stay in memory for the
# whole grace period after close and leave tombstones (saved in PostgreSQL).
