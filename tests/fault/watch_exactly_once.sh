#!/usr/bin/env bash
# watch_exactly_once: watch's PostgreSQL output is exactly-once and
# deterministic (--clock watermark). The same topic (a simulated file
# imported twice, so every event is duplicated, plus sentinel events that
# put the same latest event time in every partition) is consumed by:
#   ref   one uninterrupted watch
#   kill  watch SIGKILLed at random points and restarted several times, with
#         PostgreSQL restarted under it once (it must wait and retry)
#   duo   two watch processes in one consumer group, one frozen (SIGSTOP)
#         inside its commit (holding the outbox clock's row lock) past its
#         session timeout while the other takes over, then continued
# each into its own database and consumer group. kill and duo hold at most
# 3,000 messages for the watermark (watch.reorder_max; ref: the default), so
# their pools fill and they pause the partitions ahead of the slowest (the
# kill run's first round holds one message and starts with partition 0
# leaderless, so that its pool fills on any machine; one broker answers
# 100 ms late throughout): a full pool must never change the result. Archive, alerts, aggregates
# and dossier states must be identical, every event archived once and no
# duplicate counted.
source "$DW_SOURCE_DIR/tests/lib.sh"

dw_start_broker

# --- the input: a simulated month slice, twice, then sentinels ---------------
"$DW_BIN" simulate --seed 7 --days 20 --communes 25 --start 2025-03-03 --output "$DW_TMP/sim.jsonl" \
  >"$DW_TMP/simulate.log" 2>&1 || dw_fail "simulate failed"
events=$(wc -l <"$DW_TMP/sim.jsonl" | tr -d ' ')
received=$(grep -c '"type":"RECEIVED"' "$DW_TMP/sim.jsonl")
: >"$DW_TMP/sentinel.jsonl"
for i in $(seq 1 48); do
  echo "{\"event_id\":\"sentinel-$i\",\"dossier_id\":\"SENTINEL-$i\",\"type\":\"RECEIVED\",\"occurred_at\":\"2025-03-24T12:00:00+07:00\",\"commune\":\"00000\",\"agency\":\"SENTINEL\",\"procedure\":\"0.000000\",\"channel\":\"ONLINE_FULL\",\"due_at\":\"2025-06-30T17:00:00+07:00\"}" \
    >>"$DW_TMP/sentinel.jsonl"
done
for f in sim sim sentinel; do
  "$DW_BIN" import "$DW_TMP/$f.jsonl" --bootstrap "$DW_BOOTSTRAP" >>"$DW_TMP/import.log" 2>&1 || dw_fail "import $f failed"
done
unique=$((events + 48))
echo "input: $events events ($received RECEIVED) x2 + 48 sentinels = $((2 * events + 48)) messages, $unique unique"

# Short session timeout: a SIGKILLed member must leave the group quickly.
watch_args=(--bootstrap "$DW_BOOTSTRAP" --clock watermark --set kafka.session.timeout.ms=6000
  --set kafka.heartbeat.interval.ms=500 --set watch.batch_max=2000)

small_pool=(--set watch.reorder_max=3000)

archived() { dw_archived; }

# --- ref ------------------------------------------------------------------------
dw_start_pg ref
start=$(date +%s.%N)
"$DW_BIN" watch --db "$DW_DB" --group ref --exit-when-idle 4 "${watch_args[@]}" 2>"$DW_TMP/watch-ref.log" ||
  dw_fail "reference watch failed"
secs=$(echo "$(date +%s.%N) - $start - 4" | bc)
echo "ref: $(archived) events archived in ${secs}s (incl. group join), $(grep -o 'avg batch [0-9.]*' "$DW_TMP/watch-ref.log" | head -3 | tr '\n' ' ')"
dw_assert_eq "$unique" "$(archived)" "ref archive rows"
! grep -q 'rolled back' "$DW_TMP/watch-ref.log" || dw_fail "the uninterrupted run rolled a batch back"
dw_assert_eq 6 "$(dw_psql "SELECT count(DISTINCT kafka_partition) FROM archive_events WHERE dossier_id LIKE 'SENTINEL-%'")" \
  "sentinels in every partition"
REF_DB=$DW_DB

# --- kill: SIGKILL at random points, PostgreSQL restarted once ---------------
dw_start_pg kill
KILL_DB=$DW_DB
kills=0
# one broker slow to answer: the partitions it leads hold the watermark
# back while the others deliver, which makes a small pool fill at this
# machine's normal speed, but not always (under ASan it often did not)
dw_broker_ctl "rtt 2 100"
# so round 1 starts with partition 0 leaderless: it delivers nothing and
# holds the watermark back, so nothing can be applied; and round 1's pool
# holds one message (flow control pauses the others at their share of the
# pool, max / 2 per partition, so a 3,000-message pool fills only when a
# gather overshoots, which is timing again): the first message of another
# partition fills it. Once it is full the leader comes back and round 1
# goes on with that pool; the later rounds have the 3,000 again.
leader0=$(timeout 30 kcat -b "$DW_BOOTSTRAP" -L -J -t dossier.events |
  jq -r '.topics[0].partitions[] | select(.partition == 0) | .leader')
[[ $leader0 =~ ^[0-9]+$ ]] || dw_fail "no leader of dossier.events [0] in the metadata ('$leader0')"
dw_broker_ctl "leader dossier.events 0 -1"
for round in 1 2 3 4 5; do
  pool=("${small_pool[@]}")
  [ "$round" -gt 1 ] || pool=(--set watch.reorder_max=1)
  dw_bg "$DW_BIN" watch --db "$KILL_DB" --group kill "${watch_args[@]}" "${pool[@]}" 2>"$DW_TMP/watch-kill-$round.log"
  pid=$DW_LAST_PID
  if [ "$round" -eq 1 ]; then
    dw_wait_for 'grep -q "reorder pool full" "$DW_TMP/watch-kill-1.log" || ! kill -0 '"$pid" 60 ||
      dw_fail "round 1: the pool did not fill with partition 0 leaderless"
    kill -0 "$pid" 2>/dev/null || dw_fail "round 1: watch exited with partition 0 leaderless (watch-kill-1.log)"
    dw_assert_eq 0 "$(archived)" "archived while partition 0 was leaderless (nothing may pass the watermark)"
    dw_broker_ctl "leader dossier.events 0 $leader0"
    echo "kill: round 1: the pool filled with partition 0 leaderless; its leader $leader0 is back"
  fi
  # wait until it makes progress, then kill it somewhere in the next 0-1.5 s
  before=$(archived)
  dw_wait_for '[ "$(archived)" -gt "'"$before"'" ] || ! kill -0 '"$pid" 60 || true
  if [ "$round" -eq 3 ]; then
    dw_pg_ctl restart >/dev/null || dw_fail "PostgreSQL restart failed"
    echo "kill: round $round: PostgreSQL restarted under watch (archived so far $(archived))"
    dw_wait_for '[ "$(archived)" -gt "'"$(archived)"'" ]' 60 || dw_fail "watch did not resume after the PostgreSQL restart"
  fi
  sleep "0.$((RANDOM % 15))"
  dw_stop "$pid" KILL 2>/dev/null
  kills=$((kills + 1))
  echo "kill: round $round: SIGKILL at $(archived) archived"
  [ "$(archived)" -lt "$unique" ] || break
done
"$DW_BIN" watch --db "$KILL_DB" --group kill --exit-when-idle 4 "${watch_args[@]}" "${small_pool[@]}" 2>"$DW_TMP/watch-kill-last.log" ||
  dw_fail "final kill-run watch failed"
dw_assert_eq "$unique" "$(DW_DB=$KILL_DB archived)" "kill-run archive rows"
dw_broker_ctl "rtt 2 0"
echo "kill: the pool filled $(cat "$DW_TMP"/watch-kill-*.log | grep -c "reorder pool full") time(s)"
grep -q 'reorder pool full' "$DW_TMP"/watch-kill-*.log || dw_fail "the kill run's pool never filled (the full-pool path is not exercised)"

# --- duo: two processes in one group ----------------------------------------------
# Once both hold three partitions, the second is frozen (SIGSTOP) past its
# session timeout: the first takes all six while the second's partitions
# were last committed at an older clock than its own (it must not apply
# their events behind its clock); then the second continues (fenced: its
# partitions were taken) and rejoins, and the partitions it gets back were
# last committed by the first, at a newer clock than its own. One broker
# answers late again, so neither gets through its share before the freeze.
dw_start_pg duo
DUO_DB=$DW_DB
dw_broker_ctl "rtt 2 100"
dw_bg "$DW_BIN" watch --db "$DUO_DB" --group duo --exit-when-idle 12 "${watch_args[@]}" "${small_pool[@]}" 2>"$DW_TMP/watch-duo-1.log"
p1=$DW_LAST_PID
dw_bg "$DW_BIN" watch --db "$DUO_DB" --group duo --exit-when-idle 12 "${watch_args[@]}" "${small_pool[@]}" 2>"$DW_TMP/watch-duo-2.log"
p2=$DW_LAST_PID
dw_wait_for 'grep -q "assigned 3 partition" "$DW_TMP/watch-duo-1.log" && grep -q "assigned 3 partition" "$DW_TMP/watch-duo-2.log"' 60 ||
  dw_fail "the duo watches did not share the partitions"
# freeze it inside its commit, after it took the outbox clock's row lock
# (its session's last statement is the clock, alerts, aggregates or
# offsets): the other one's commit waits on that row until the server ends
# the frozen transaction (watch.idle_tx_timeout_ms, 10 s); without that it
# waits for good and never polls Kafka to take the partitions
sleep 1
in_commit="SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dossierwatch watch pid=$p2'
  AND backend_xid IS NOT NULL AND state IN ('active', 'idle in transaction')
  AND query ~ '^(UPDATE outbox_clock|INSERT INTO (alerts|aggregates|kafka_offsets)|COPY w_(alerts|agg))'"
caught=0
for try in $(seq 1 600); do
  kill -STOP "$p2"
  [ "$(DW_DB=$DUO_DB dw_psql "$in_commit")" = 1 ] && { caught=$try; break; }
  kill -CONT "$p2"
  sleep 0.02
done
[ "$caught" -gt 0 ] || dw_fail "watch 2 was never caught inside its commit (600 tries)"
frozen_at=$(wc -l <"$DW_TMP/watch-duo-1.log")
echo "duo: watch 2 frozen inside its commit (try $caught) at $(DW_DB=$DUO_DB archived) archived"
dw_wait_for 'tail -n +'"$frozen_at"' "$DW_TMP/watch-duo-1.log" | grep -q "assigned 6 partition"' 30 ||
  dw_fail "watch 1 did not take over the frozen watch's partitions"
sleep 2
kill -CONT "$p2"
echo "duo: watch 1 took all partitions; watch 2 continued at $(DW_DB=$DUO_DB archived) archived"
dw_broker_ctl "rtt 2 0"
dw_wait_for '! kill -0 '"$p1"' 2>/dev/null && ! kill -0 '"$p2"' 2>/dev/null' 150 || dw_fail "duo watches did not finish"
dw_stop "$p1"
dw_assert_eq 0 "$DW_STOP_RC" "duo watch 1 exit status"
dw_stop "$p2"
dw_assert_eq 0 "$DW_STOP_RC" "duo watch 2 exit status"
dw_assert_eq "$unique" "$(DW_DB=$DUO_DB archived)" "duo archive rows"

# --- compare ------------------------------------------------------------------------
dump() {
  DW_DB=$1 dw_archive_dump | sed 's/^/archive /' >"$2"
  DW_DB=$1 dw_psql "SELECT to_jsonb(a) - 'updated_at' - 'change_seq' FROM alerts a ORDER BY alert_id" >>"$2"
  DW_DB=$1 dw_psql "SELECT to_jsonb(a) - 'updated_at' - 'change_seq' FROM aggregates a
    ORDER BY unit_type, unit, period_kind, period" >>"$2"
  DW_DB=$1 dw_psql "SELECT 'state', dossier_id, kafka_partition, open FROM dossier_state ORDER BY dossier_id" >>"$2"
  DW_DB=$1 dw_psql "SELECT 'dlq', count(*) FROM dlq_messages" >>"$2"
}
dump "$REF_DB" "$DW_TMP/ref.dump"
dump "$KILL_DB" "$DW_TMP/kill.dump"
dump "$DUO_DB" "$DW_TMP/duo.dump"
echo "dump: $(wc -l <"$DW_TMP/ref.dump") lines; alerts $(DW_DB=$REF_DB dw_psql "SELECT count(*) FROM alerts"), aggregates $(DW_DB=$REF_DB dw_psql "SELECT count(*) FROM aggregates")"
for run in kill duo; do
  if ! cmp -s "$DW_TMP/ref.dump" "$DW_TMP/$run.dump"; then
    diff "$DW_TMP/ref.dump" "$DW_TMP/$run.dump" | head -20 >&2 || true
    dw_fail "$run run differs from the uninterrupted run"
  fi
done

# the same as the offline engine: audit applies the events in event-time
# order, as of the latest one (the sentinels' time, where watch's clock ends)
cat "$DW_TMP/sim.jsonl" "$DW_TMP/sentinel.jsonl" >"$DW_TMP/all.jsonl"
"$DW_BIN" audit "$DW_TMP/all.jsonl" --history --format jsonl >"$DW_TMP/audit.jsonl" 2>"$DW_TMP/audit.log" ||
  dw_fail "audit failed"
jq -r 'select(.kind == "alert") | [.alert_id, .rule, .agency, .severity, (.cleared_at == null)] | join("|")' \
  "$DW_TMP/audit.jsonl" | sort >"$DW_TMP/audit.alerts"
DW_DB=$REF_DB dw_psql "SELECT alert_id || '|' || rule || '|' || agency || '|' || severity || '|' || (cleared_at IS NULL)
  FROM alerts" | sed 's/|t$/|true/; s/|f$/|false/' | sort >"$DW_TMP/watch.alerts"
if ! cmp -s "$DW_TMP/audit.alerts" "$DW_TMP/watch.alerts"; then
  diff "$DW_TMP/audit.alerts" "$DW_TMP/watch.alerts" | head -10 >&2 || true
  dw_fail "watch alerts differ from audit --history"
fi
echo "audit: $(wc -l <"$DW_TMP/audit.alerts") alerts, identical to watch"

# aggregates too: every counter of every day/month/quarter/year row equals
# audit's over the same events (rolling30 and the open_overdue gauge depend
# on "now", so they are left out)
counters="received online online_full intake_digitized reused_docs dossiers_with_reuse paper_requests_from_warehouse
  results_issued results_digitized on_time late apologies paid paid_online ratings rating_sum"
"$DW_BIN" audit "$DW_TMP/all.jsonl" --aggregates --format jsonl >"$DW_TMP/audit_agg.jsonl" 2>>"$DW_TMP/audit.log" ||
  dw_fail "audit --aggregates failed"
jq_fields=$(for c in $counters; do printf ', (.%s|tostring)' "$c"; done)
jq_nonzero=$(for c in $counters; do printf ' or .%s != 0' "$c"; done)
# (audit also prints all-zero rows of current periods that carry only the gauge)
jq -r "select(.kind == \"aggregate\" and .period_kind != \"rolling30\" and (false $jq_nonzero))
  | [.unit_type, .unit, .period_kind, .period $jq_fields] | join(\"|\")" "$DW_TMP/audit_agg.jsonl" |
  LC_ALL=C sort >"$DW_TMP/audit.aggs"
sql_fields=$(for c in $counters; do printf " || '|' || %s" "$c"; done)
sql_nonzero=$(for c in $counters; do printf " OR %s <> 0" "$c"; done)
DW_DB=$REF_DB dw_psql "SELECT unit_type || '|' || unit || '|' || period_kind || '|' || period $sql_fields
  FROM aggregates WHERE false $sql_nonzero" | LC_ALL=C sort >"$DW_TMP/watch.aggs"
[ -s "$DW_TMP/watch.aggs" ] || dw_fail "no aggregate rows in PostgreSQL"
if ! cmp -s "$DW_TMP/audit.aggs" "$DW_TMP/watch.aggs"; then
  diff "$DW_TMP/audit.aggs" "$DW_TMP/watch.aggs" | head -10 >&2 || true
  dw_fail "watch aggregates differ from audit --aggregates"
fi
echo "audit: $(wc -l <"$DW_TMP/audit.aggs") aggregate rows, identical to watch"

# duplicates never counted twice, nothing rejected
dw_assert_eq "$((received + 48))" "$(DW_DB=$REF_DB dw_psql "SELECT received FROM aggregates WHERE unit_type = 'province' AND period_kind = 'year'")" \
  "received counted once per RECEIVED event"
dw_assert_eq 0 "$(DW_DB=$REF_DB dw_psql "SELECT count(*) FROM dlq_messages")" "nothing rejected"
dw_assert_eq 0 "$(DW_DB=$REF_DB dw_psql "SELECT count(*) FROM alerts WHERE detail LIKE 'withdrawn%'")" "no withdrawn alerts"
echo "watch_exactly_once: ok ($kills kills, 1 PostgreSQL restart, 2-process group)"
