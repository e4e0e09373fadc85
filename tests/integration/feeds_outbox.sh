#!/usr/bin/env bash
# feeds_outbox: the outbox feeds (consumers/feeds) behind watch.
#  - every period kind reaches compliance.aggregates under four-part keys
#    (unit_type|unit|period_kind|period), rolling30 included;
#  - after an upgrade (legacy_keys, migration 007) the aggregates feed sends a
#    tombstone for every three-part key an earlier release published, once;
#  - an alert row whose rule this binary does not know is an error on the log,
#    never published as another rule, and does not block the feed;
#  - two watch processes: each feed is delivered by one of them (its advisory
#    lock), and the other takes over when the first goes.
source "${DW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

dw_start_broker 3
dw_start_pg

# an earlier release's rows: the aggregates feed owes tombstones for them
dw_psql "INSERT INTO aggregates (unit_type, unit, period_kind, period, received, change_seq) VALUES
  ('commune', 'OLD01', 'day', '2025-01-02', 3, 1), ('commune', 'OLD01', 'month', '2025-01', 3, 1)" >/dev/null
dw_psql "INSERT INTO feed_cursors (feed, change_seq, legacy_keys) VALUES ('kafka_aggregates', 0, true)" >/dev/null
# an alert with a rule no binary of ours knows (written by a newer one)
dw_psql "UPDATE outbox_clock SET seq = seq + 1;
  INSERT INTO alerts (alert_id, rule, dossier_id, commune, agency, procedure, severity, raised_at, detail, change_seq)
  VALUES ('X-1:NO_SUCH_RULE:1', 'NO_SUCH_RULE', 'X-1', '30412', 'UBND-30412', '1.001612', 'critical', now(), '',
          (SELECT seq FROM outbox_clock))" >/dev/null

"$DW_BIN" simulate --seed 7 --days 3 --communes 10 --output "$DW_TMP/sim.jsonl" 2>"$DW_TMP/simulate.log"
"$DW_BIN" import "$DW_TMP/sim.jsonl" --bootstrap "$DW_BOOTSTRAP" 2>"$DW_TMP/import.log" || dw_fail "import failed"
n=$(wc -l <"$DW_TMP/sim.jsonl")

# (a short session timeout: the embedded broker's group coordinator waits for
# a member that left until its session expires before it reassigns)
common=(--bootstrap "$DW_BOOTSTRAP" --db "$DW_DB" --set aggregates.publish_interval_ms=300
  --set kafka.session.timeout.ms=6000 --set kafka.heartbeat.interval.ms=1000)
dw_bg "$DW_BIN" watch "${common[@]}" >"$DW_TMP/w1.out" 2>"$DW_TMP/w1.log"
w1=$DW_LAST_PID
dw_wait_for "grep -q 'feed kafka_alerts: active' '$DW_TMP/w1.log'" 30 || dw_fail "no active alerts feed"
dw_bg "$DW_BIN" watch "${common[@]}" >"$DW_TMP/w2.out" 2>"$DW_TMP/w2.log"
w2=$DW_LAST_PID
dw_wait_for '[ "$(dw_archived)" = '"$n"' ]' 90 || dw_fail "events not archived"
behind() { dw_psql "SELECT count(*) FROM $1 WHERE change_seq > COALESCE((SELECT change_seq FROM feed_cursors WHERE feed = '$2'), 0)"; }
dw_wait_for '[ "$(behind alerts kafka_alerts)" = 0 ] && [ "$(behind aggregates kafka_aggregates)" = 0 ]' 30 ||
  dw_fail "feeds did not catch up: $(behind alerts kafka_alerts) alerts, $(behind aggregates kafka_aggregates) aggregates behind"
dw_wait_for '[ "$(dw_psql "SELECT legacy_keys FROM feed_cursors WHERE feed = '"'kafka_aggregates'"'")" = f ]' 30 ||
  dw_fail "legacy tombstones not sent"
# one active deliverer per feed
dw_assert_eq 1 "$(cat "$DW_TMP/w1.log" "$DW_TMP/w2.log" | grep -c 'feed kafka_alerts: active')" "active alerts feeds"
dw_assert_eq 1 "$(cat "$DW_TMP/w1.log" "$DW_TMP/w2.log" | grep -c 'feed kafka_aggregates: active')" "active aggregates feeds"

# the unknown rule: reported, skipped, never published
grep -q "unknown rule or severity 'NO_SUCH_RULE'" "$DW_TMP/w1.log" ||
  dw_fail "unknown rule not reported: $(grep -i 'outbox' "$DW_TMP/w1.log" | head -3)"
kcat -C -b "$DW_BOOTSTRAP" -t dossier.alerts -o beginning -e -q -f '%k\n' >"$DW_TMP/alert-keys.txt" 2>/dev/null
[ -s "$DW_TMP/alert-keys.txt" ] || dw_fail "no alerts published at all"
kcat -C -b "$DW_BOOTSTRAP" -t dossier.alerts -o beginning -e -q -f '%s\n' 2>/dev/null | grep -a -q 'X-1:NO_SUCH_RULE' &&
  dw_fail "the unknown rule's alert was published"

# four-part keys of every kind; the legacy three-part keys as tombstones
kcat -C -b "$DW_BOOTSTRAP" -t compliance.aggregates -o beginning -e -q -f '%k %S\n' >"$DW_TMP/aggs.txt" 2>/dev/null
for kind in day month quarter year rolling30; do
  grep -q "^commune|[0-9]*|$kind|[0-9Q-]* [0-9]" "$DW_TMP/aggs.txt" || dw_fail "no commune $kind row"
done
grep -q '^commune|OLD01|2025-01-02 -1$' "$DW_TMP/aggs.txt" || dw_fail "no tombstone for the old day key"
grep -q '^commune|OLD01|2025-01 -1$' "$DW_TMP/aggs.txt" || dw_fail "no tombstone for the old month key"
grep -q '^commune|OLD01|day|2025-01-02 [0-9]' "$DW_TMP/aggs.txt" || dw_fail "the old row not republished under its new key"

# the active one goes: the standby takes the feeds over
active=$w1
grep -q 'feed kafka_alerts: active' "$DW_TMP/w2.log" && active=$w2
standby_log=$DW_TMP/w2.log
[ "$active" = "$w2" ] && standby_log=$DW_TMP/w1.log
dw_stop "$active" TERM
dw_wait_for "grep -q 'feed kafka_alerts: active' '$standby_log'" 30 || dw_fail "the standby did not take the feed over"
echo '{"event_id":"late-1","dossier_id":"D-NEW","type":"PAPER_REQUESTED","occurred_at":"2025-03-05T09:00:00+07:00","commune":"30412","agency":"UBND-NEW","procedure":"1.001612","document":"giấy khai sinh","in_warehouse":true}' \
  >"$DW_TMP/more.jsonl"
"$DW_BIN" import "$DW_TMP/more.jsonl" --bootstrap "$DW_BOOTSTRAP" 2>>"$DW_TMP/import.log" || dw_fail "import 2 failed"
dw_wait_for "kcat -C -b '$DW_BOOTSTRAP' -t dossier.alerts -o beginning -e -q -f '%k\n' 2>/dev/null | grep -q '^UBND-NEW$'" 60 ||
  dw_fail "the standby did not publish the new alert"
echo "feeds_outbox: ok"
