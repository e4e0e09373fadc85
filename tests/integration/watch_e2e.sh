#!/usr/bin/env bash
# watch_e2e: `dossierwatch watch` end to end on the embedded broker and a
# throwaway PostgreSQL, wall clock:
#  - imported events are archived once (a duplicate line is not archived twice);
#  - a dossier received with a due time a few seconds ahead gets an OVERDUE
#    alert row with no further event arriving;
#  - aggregates and dossier state are written, offsets stored in PostgreSQL;
#  - raw garbage on dossier.events lands on dossier.events.dlq with the
#    dw.error header, is counted in dlq_messages, and watch keeps consuming;
#  - alerts reach the dossier.alerts topic; SIGTERM exits 0.
source "$DW_SOURCE_DIR/tests/lib.sh"

dw_start_broker
dw_start_pg

now=$(date +%s)
t() { date -u -d "@$(($now + $1))" +%Y-%m-%dT%H:%M:%SZ; }
due=$(t 8)
cat >"$DW_TMP/events.jsonl" <<EOF
{"event_id":"e2e-1","dossier_id":"D-LATE","type":"RECEIVED","occurred_at":"$(t -60)","commune":"26734","agency":"UBND-26734","procedure":"1.001612","channel":"IN_PERSON","due_at":"$due"}
{"event_id":"e2e-2","dossier_id":"D-OK","type":"RECEIVED","occurred_at":"$(t -50)","commune":"26734","agency":"UBND-26734","procedure":"1.001612","channel":"ONLINE_FULL","processing_days":5}
{"event_id":"e2e-3","dossier_id":"D-OK","type":"RESULT_ISSUED","occurred_at":"$(t -40)","commune":"26734","agency":"UBND-26734","procedure":"1.001612","digitized":true}
{"event_id":"e2e-4","dossier_id":"D-OK","type":"PAYMENT","occurred_at":"$(t -30)","commune":"26734","agency":"UBND-26734","procedure":"1.001612","online":true}
{"event_id":"e2e-3","dossier_id":"D-OK","type":"RESULT_ISSUED","occurred_at":"$(t -40)","commune":"26734","agency":"UBND-26734","procedure":"1.001612","digitized":true}
EOF

# tombstones of dossiers that left memory: an old one is purged (older than
# twice the grace period), a recent one is kept
dw_psql "INSERT INTO dossier_state (dossier_id, kafka_partition, state, open, tombstone, updated_at, tombstone_at) VALUES
  ('OLD-TOMB', 0, decode('5401' || repeat('00', 16), 'hex'), false, true, now() - interval '61 days', now() - interval '61 days'),
  ('NEW-TOMB', 0, decode('5401' || repeat('00', 16), 'hex'), false, true, now() - interval '59 days', now() - interval '59 days')" >/dev/null
dw_bg "$DW_BIN" watch --db "$DW_DB" --bootstrap "$DW_BOOTSTRAP" --set aggregates.publish_interval_ms=500 \
  >"$DW_TMP/watch.out" 2>"$DW_TMP/watch.log"
watch_pid=$DW_LAST_PID

"$DW_BIN" import "$DW_TMP/events.jsonl" --bootstrap "$DW_BOOTSTRAP" >"$DW_TMP/import.log" 2>&1 ||
  dw_fail "import failed"

# archive: 4 distinct events, the duplicate counted once
dw_wait_for '[ "$(dw_archived)" = 4 ]' 30 || dw_fail "archive has $(dw_archived) events, want 4"
dw_assert_eq 4 "$(dw_psql "SELECT count(*) FROM archive_events")" "dedupe keys"
dw_assert_eq "1|1|4" "$(dw_psql "SELECT count(*) FILTER (WHERE event_key = encode(substring(sha256('e2e-3') FROM 1 FOR 16), 'hex')::uuid),
  count(DISTINCT kafka_partition) FILTER (WHERE dossier_id = 'D-OK'), count(block_id) FROM archive_events")" \
  "archive rows (the duplicate once, one partition per dossier)"
"$DW_BIN" export --db "$DW_DB" --output "$DW_TMP/archive.jsonl" 2>"$DW_TMP/export.log" || dw_fail "export failed"
dw_assert_eq "1|1" "$(jq -s -r '[(map(select(.event_id == "e2e-1")) | length), (map(select(.type == "PAYMENT")) | length)] | map(tostring) | join("|")' \
  "$DW_TMP/archive.jsonl")" "archived events read back (the Kafka value kept)"
dw_assert_eq "2|1|1|1" "$(dw_psql "SELECT received, results_issued, paid, paid_online FROM aggregates
  WHERE unit_type = 'province' AND period_kind = 'year'")" "province aggregates"
dw_wait_for '[ "$(dw_psql "SELECT count(*) FROM dossier_state WHERE dossier_id NOT LIKE '"'"'%-TOMB'"'"'")" = 2 ]' 10 || dw_fail "dossier_state rows"
# one row per partition that had messages (2 dossiers: 1 or 2 partitions)
dw_assert_eq t "$(dw_psql "SELECT count(*) BETWEEN 1 AND 2 FROM kafka_offsets WHERE consumer_group = 'dossierwatch'")" \
  "offset rows"
dw_assert_eq 5 "$(dw_psql "SELECT sum(next_offset) FROM kafka_offsets")" "offsets cover the 5 messages"

# OVERDUE fires on the wall clock, with no new event
dw_assert_eq 0 "$(dw_psql "SELECT count(*) FROM alerts WHERE rule = 'OVERDUE'")" "no OVERDUE before the due time"
dw_wait_for '[ "$(dw_psql "SELECT count(*) FROM alerts WHERE rule = '"'"'OVERDUE'"'"' AND dossier_id = '"'"'D-LATE'"'"' AND cleared_at IS NULL")" = 1 ]' 30 ||
  dw_fail "no OVERDUE alert for D-LATE after its due time"
dw_assert_eq "critical|t" "$(dw_psql "SELECT severity, raised_at = '$due'::timestamptz FROM alerts WHERE rule = 'OVERDUE'")" \
  "OVERDUE raised at the due time"
late_ms=$(dw_psql "SELECT (extract(epoch FROM (updated_at - raised_at)) * 1000)::bigint FROM alerts WHERE rule = 'OVERDUE'")
echo "OVERDUE row written ${late_ms} ms after the due time"
[ "$late_ms" -lt 3000 ] || dw_fail "OVERDUE committed $late_ms ms after the deadline (want < 3 s)"
dw_assert_eq 1 "$(dw_psql "SELECT open_overdue FROM v_open_overdue WHERE unit_type = 'commune' AND unit = '26734'")" \
  "v_open_overdue"
dw_assert_eq "UBND-26734|1" "$(dw_psql "SELECT agency, overdue FROM v_open_alerts_by_agency")" "v_open_alerts_by_agency"

# garbage goes to the DLQ with its reason; watch keeps going
printf 'this is not avro' | kcat -P -b "$DW_BOOTSTRAP" -t dossier.events -k garbage-key ||
  dw_fail "kcat could not produce"
dw_wait_for '[ "$(dw_psql "SELECT count(*) FROM dlq_messages WHERE stage = '"'"'decode'"'"'")" = 1 ]' 30 ||
  dw_fail "the garbage message was not counted in dlq_messages"
kcat -C -b "$DW_BOOTSTRAP" -t dossier.events.dlq -o beginning -e -q -f '%k|%s|%h\n' >"$DW_TMP/dlq.txt" 2>"$DW_TMP/kcat.log" ||
  dw_fail "kcat could not read the DLQ"
cat "$DW_TMP/dlq.txt"
dw_assert_eq 1 "$(wc -l <"$DW_TMP/dlq.txt" | tr -d ' ')" "one DLQ message"
grep -q '^garbage-key|this is not avro|.*dw.error=' "$DW_TMP/dlq.txt" || dw_fail "DLQ message lacks key/value/dw.error"
grep -q 'dw.topic=dossier.events' "$DW_TMP/dlq.txt" || dw_fail "DLQ message lacks dw.topic"
grep -q 'dw.offset=[0-9]' "$DW_TMP/dlq.txt" || dw_fail "DLQ message lacks dw.offset"
grep -q 'dossier.events \[[0-9]*\] @[0-9]* -> dossier.events.dlq' "$DW_TMP/watch.log" || dw_fail "DLQ not logged"
kill -0 "$watch_pid" || dw_fail "watch died on garbage"

echo "{\"event_id\":\"e2e-6\",\"dossier_id\":\"D-LATE\",\"type\":\"DIGITIZED\",\"occurred_at\":\"$(t -20)\",\"commune\":\"26734\",\"agency\":\"UBND-26734\",\"procedure\":\"1.001612\"}" \
  >"$DW_TMP/more.jsonl"
"$DW_BIN" import "$DW_TMP/more.jsonl" --bootstrap "$DW_BOOTSTRAP" >>"$DW_TMP/import.log" 2>&1 || dw_fail "import 2 failed"
dw_wait_for '[ "$(dw_archived)" = 5 ]' 30 || dw_fail "event after the garbage not archived"

# alerts and aggregates reached Kafka (at-least-once outbox drained: each
# feed's cursor is past every row)
behind() { dw_psql "SELECT count(*) FROM $1 WHERE change_seq > COALESCE((SELECT change_seq FROM feed_cursors WHERE feed = '$2'), 0)"; }
dw_wait_for '[ "$(behind alerts kafka_alerts)" = 0 ]' 20 || dw_fail "alerts not published"
dw_wait_for '[ "$(behind aggregates kafka_aggregates)" = 0 ]' 20 || dw_fail "aggregates not published"
kcat -C -b "$DW_BOOTSTRAP" -t dossier.alerts -o beginning -e -q -f '%k\n' >"$DW_TMP/alerts.txt" 2>>"$DW_TMP/kcat.log"
grep -q '^UBND-26734$' "$DW_TMP/alerts.txt" || dw_fail "no alert on dossier.alerts keyed by agency"
kcat -C -b "$DW_BOOTSTRAP" -t compliance.aggregates -o beginning -e -q -f '%k\n' >"$DW_TMP/aggs.txt" 2>>"$DW_TMP/kcat.log"
# four-part keys (unit_type|unit|period_kind|period), every period kind
for kind in 'day|20[0-9-]*' 'month|20[0-9][0-9]-[0-9][0-9]' 'quarter|20[0-9][0-9]-Q[1-4]' 'year|20[0-9][0-9]' \
  'rolling30|20[0-9-]*'; do
  grep -q "^province|all|$kind\$" "$DW_TMP/aggs.txt" || dw_fail "no province $kind row on compliance.aggregates: $(sort -u "$DW_TMP/aggs.txt" | head)"
done
grep -q '^commune|26734|rolling30|' "$DW_TMP/aggs.txt" || dw_fail "no commune rolling30 row on compliance.aggregates"
! grep -qv '^[a-z]*|[^|]*|[a-z0-9]*|[0-9Q-]*$' "$DW_TMP/aggs.txt" || dw_fail "a key is not four-part: $(grep -v '^[a-z]*|[^|]*|[a-z0-9]*|[0-9Q-]*$' "$DW_TMP/aggs.txt" | head -3)"

# a simulated load (thousands of events per batch, many aggregate rows and
# alert changes per transaction) commits without a single rollback/rebuild
"$DW_BIN" simulate --seed 3 --days 4 --communes 40 --output "$DW_TMP/sim.jsonl" >"$DW_TMP/simulate.log" 2>&1 ||
  dw_fail "simulate failed"
sim_events=$(wc -l <"$DW_TMP/sim.jsonl" | tr -d ' ')
sim_received=$(grep -c '"type":"RECEIVED"' "$DW_TMP/sim.jsonl")
"$DW_BIN" import "$DW_TMP/sim.jsonl" --bootstrap "$DW_BOOTSTRAP" >>"$DW_TMP/import.log" 2>&1 || dw_fail "import sim failed"
dw_wait_for '[ "$(dw_archived)" = '"$((5 + sim_events))"' ]' 90 ||
  dw_fail "simulated events not archived ($(dw_archived) events)"
dw_assert_eq "$((2 + sim_received))" "$(dw_psql "SELECT sum(received) FROM aggregates WHERE unit_type = 'province' AND period_kind = 'day'")" \
  "province received over day rows"

dw_assert_eq "NEW-TOMB" "$(dw_psql "SELECT string_agg(dossier_id, ',') FROM dossier_state WHERE dossier_id LIKE '%-TOMB'")" \
  "old tombstone purged, recent one kept"
dw_stop "$watch_pid" TERM
dw_assert_eq 0 "$DW_STOP_RC" "watch exit status after SIGTERM"
grep -q 'stats:' "$DW_TMP/watch.log" || dw_fail "no stats line"
if grep -q 'rolled back' "$DW_TMP/watch.log"; then
  grep 'rolled back' "$DW_TMP/watch.log" | head -3 >&2
  dw_fail "a batch was rolled back with PostgreSQL up"
fi
grep 'stats:' "$DW_TMP/watch.log" | tail -1
echo "watch_e2e: ok"
