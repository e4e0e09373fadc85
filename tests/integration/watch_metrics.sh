#!/usr/bin/env bash
# watch_metrics: `watch --http` and `serve` expose /metrics in the
# Prometheus text format, read here with Debian's python3-prometheus-client
# parser: every family with HELP and TYPE, histograms well formed, and the
# figures true: events consumed/archived equal the archive, DLQ'd by reason
# equal dlq_messages, lag per assigned partition is 0 once caught up, open
# alerts by rule equal the table, raised minus cleared equals open, the
# engine's dossiers in memory equal the dossiers archived; serve counts its
# requests by route and status. /healthz is 200; /readyz is 200 when
# caught up, 503 with the reason while PostgreSQL is down, 200 again after.
source "$DW_SOURCE_DIR/tests/lib.sh"
source "$DW_SOURCE_DIR/tests/http_lib.sh"
PY=/usr/bin/python3 # Debian's, with python3-prometheus-client
"$PY" -c 'import prometheus_client' || dw_fail "python3-prometheus-client is not installed (deploy/install-deps.sh)"

dw_start_broker 6
dw_start_pg
dw_bg "$DW_BIN" watch --group metrics-test --http 127.0.0.1:0 >"$DW_TMP/watch.log" 2>&1
dw_wait_for "grep -q 'listening on http://' '$DW_TMP/watch.log'" 20 || dw_fail "watch --http did not listen"
W=$(sed -n 's|.*listening on http://\([^/]*\)/.*|\1|p' "$DW_TMP/watch.log" | head -1)
dw_assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://$W/healthz")" "watch healthz"
"$DW_BIN" simulate --preset seed-letter --days 10 --kafka 2>"$DW_TMP/simulate.log"
events=$(sed -n 's/^simulate: \([0-9]*\) events.*/\1/p' "$DW_TMP/simulate.log")
# five messages that are no events: to the DLQ, reason decode
for i in 1 2 3 4 5; do echo "garbage $i"; done | kcat -P -b "$DW_BOOTSTRAP" -t dossier.events -k junk 2>/dev/null
dw_wait_for "[ \"\$(dw_archived)\" -eq $events ] && [ \"\$(dw_psql 'SELECT count(*) FROM dlq_messages')\" -eq 5 ]" 120 ||
  dw_fail "watch did not archive $events events and dead-letter 5"
# the gauges refresh about once a second, open alerts every 5 s
dw_wait_for "curl -s 'http://$W/readyz' | grep -q '\"ready\"'" 30 || dw_fail "watch not ready: $(curl -s "http://$W/readyz")"
sleep 6
curl -s -D "$DW_TMP/h" "http://$W/metrics" >"$DW_TMP/watch.prom"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$DW_TMP/h" || dw_fail "content type of /metrics"
families=(
  dossierwatch_events_consumed:counter dossierwatch_events_archived:counter dossierwatch_events_duplicates:counter
  dossierwatch_events_dlq:counter dossierwatch_consumer_lag_messages:gauge dossierwatch_batch_size_messages:histogram
  dossierwatch_commit_latency_seconds:histogram dossierwatch_alerts_raised:counter dossierwatch_alerts_cleared:counter
  dossierwatch_open_alerts:gauge dossierwatch_publisher_backlog_rows:gauge dossierwatch_engine_dossiers_in_memory:gauge
  dossierwatch_pg_rebuilds:counter dossierwatch_partitions_assigned:gauge dossierwatch_pg_up:gauge
  dossierwatch_http_requests:counter dossierwatch_http_request_duration_seconds:histogram
)
"$PY" "$DW_SOURCE_DIR/tests/integration/prom_check.py" "$DW_TMP/watch.prom" "${families[@]}" >"$DW_TMP/watch.samples" ||
  dw_fail "watch's /metrics does not parse or lacks families"
v() { # SAMPLE{labels}: its value
  local line
  line=$(grep -F "$1 " "$DW_TMP/watch.samples" | head -1)
  echo "${line##* }"
}
dw_assert_eq "$((events + 5))" "$(v 'dossierwatch_events_consumed_total{}')" "consumed"
dw_assert_eq "$events" "$(v 'dossierwatch_events_archived_total{}')" "archived"
dw_assert_eq 0 "$(v 'dossierwatch_events_duplicates_total{}')" "duplicates"
dw_assert_eq 5 "$(v 'dossierwatch_events_dlq_total{reason=decode}')" "dead letters (decode)"
dw_assert_eq 6 "$(v 'dossierwatch_partitions_assigned{}')" "partitions"
dw_assert_eq 6 "$(grep -c '^dossierwatch_consumer_lag_messages{partition=' "$DW_TMP/watch.samples")" "lag series"
[ -z "$(grep '^dossierwatch_consumer_lag_messages{' "$DW_TMP/watch.samples" | grep -v ' 0$')" ] || dw_fail "lag not 0 once caught up"
dw_assert_eq 1 "$(v 'dossierwatch_pg_up{}')" "pg up"
dw_assert_eq "$(dw_psql 'SELECT count(DISTINCT dossier_id) FROM archive_events')" \
  "$(v 'dossierwatch_engine_dossiers_in_memory{}')" "dossiers in memory"
batches=$(v 'dossierwatch_batch_size_messages_count{}')
dw_assert_eq "$((events + 5))" "$(v 'dossierwatch_batch_size_messages_sum{}')" "messages over batches"
[ "$batches" -ge 1 ] && [ "$(v 'dossierwatch_commit_latency_seconds_count{}')" -ge "$batches" ] || dw_fail "commit latency count"
for rule in DUE_SOON OVERDUE APOLOGY_MISSING PROMISE_MISSED INTAKE_NOT_DIGITIZED RESULT_NOT_DIGITIZED PAPER_REQUESTED_FROM_WAREHOUSE; do
  open=$(dw_psql "SELECT count(*) FROM alerts WHERE cleared_at IS NULL AND rule = '$rule'")
  dw_assert_eq "$open" "$(v "dossierwatch_open_alerts{rule=$rule}")" "open $rule alerts"
  sum() { awk -v p="$1" 'index($0, p) == 1 {s += $2} END {print s + 0}' "$DW_TMP/watch.samples"; }
  raised=$(sum "dossierwatch_alerts_raised_total{rule=$rule,")
  cleared=$(sum "dossierwatch_alerts_cleared_total{rule=$rule,")
  dw_assert_eq "$open" "$((raised - cleared))" "$rule raised - cleared"
done
dw_assert_eq "$(dw_psql "SELECT count(*) FROM alerts WHERE rule = 'OVERDUE'")" \
  "$(v 'dossierwatch_alerts_raised_total{rule=OVERDUE,severity=critical}')" "OVERDUE raised = rows"
# the feeds' backlog, one series per feed (set by each feed's round; drained by now)
grep -q '^# TYPE dossierwatch_publisher_backlog_rows gauge' "$DW_TMP/watch.prom" || dw_fail "backlog family"
for feed in kafka_alerts kafka_aggregates; do
  grep -q "^dossierwatch_publisher_backlog_rows{feed=\"$feed\"} " "$DW_TMP/watch.prom" || dw_fail "no backlog series for feed $feed"
done

# serve's metrics, after some requests
P=$(dw_token ops province)
dw_start_serve
for i in 1 2 3; do dw_get "$P" /api/v1/ranking >/dev/null; done
dw_get - /api/v1/ranking >/dev/null
dw_get - /metrics >"$DW_TMP/serve.prom"
"$PY" "$DW_SOURCE_DIR/tests/integration/prom_check.py" "$DW_TMP/serve.prom" dossierwatch_http_requests:counter \
  dossierwatch_http_request_duration_seconds:histogram dossierwatch_http_auth_failures:counter \
  dossierwatch_serve_db_connections:gauge >"$DW_TMP/serve.samples" || dw_fail "serve's /metrics"
grep -qx 'dossierwatch_http_requests_total{code=200,route=/api/v1/ranking} 3' "$DW_TMP/serve.samples" || dw_fail "serve: ranking requests"
grep -qx 'dossierwatch_http_requests_total{code=401,route=/api/v1/ranking} 1' "$DW_TMP/serve.samples" || dw_fail "serve: 401s"
grep -qx 'dossierwatch_http_auth_failures_total{reason=no bearer token} 1' "$DW_TMP/serve.samples" || dw_fail "serve: auth failures"

# readiness follows PostgreSQL
dw_pg_ctl kill >/dev/null
dw_wait_for "[ \"\$(curl -s -o /dev/null -w '%{http_code}' 'http://$W/readyz')\" = 503 ]" 20 || dw_fail "watch ready with PostgreSQL down"
curl -s "http://$W/readyz" | grep -q 'PostgreSQL' || dw_fail "readyz reason: $(curl -s "http://$W/readyz")"
dw_assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://$W/healthz")" "healthz while PostgreSQL is down"
dw_wait_for "[ \"\$(dw_pg_ctl status)\" = stopped ]" 30 || dw_fail "PostgreSQL still seen running after kill"
dw_pg_ctl restart >/dev/null
dw_wait_for "curl -s 'http://$W/readyz' | grep -q '\"ready\"'" 60 || dw_fail "watch not ready again: $(curl -s "http://$W/readyz")"
echo "watch_metrics: ok"
