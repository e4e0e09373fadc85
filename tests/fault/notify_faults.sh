#!/usr/bin/env bash
# notify_faults: notify under faults, on loopback, on a test clock:
#  - two notify processes in one group: one is active, the other stands by;
#  - the receivers (SMTP and webhook) down for a while: messages fail and are
#    retried with backoff (attempts, last_error, metrics), no new message
#    piles up for a group whose last one is undelivered, and when they come
#    back everything is delivered: nothing lost, nothing doubled;
#  - the active notify killed -9 while messages are pending: the standby
#    takes over and delivers them;
#  - the active notify killed -9 and a new one started: nothing is sent
#    again within repeat_interval, and the repeat comes once after it.
source "${DW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"
source "$DW_SOURCE_DIR/tests/notify_lib.sh"

dw_start_pg
nt_servers
routes=$DW_TMP/routes.yaml
cat >"$routes" <<EOF
global:
  smtp_from: canhbao@tinh.example.vn
  smtp_smarthost: 127.0.0.1:$SMTP_PORT
  smtp_require_tls: false
receivers:
  - name: office
    email_configs:
      - to: vanphong@tinh.example.vn
    webhook_configs:
      - url: http://127.0.0.1:$HOOK_PORT/hook
route:
  receiver: office
  group_by: [commune]
  group_wait: 1m
  group_interval: 5m
  repeat_interval: 1h
EOF
T() { echo "2026-03-04T$1:00+07:00"; }
start_notify() {
  dw_bg "$DW_BIN" notify --routes "$routes" --db "$DW_DB" --clock "file:$NT_CLOCK" --poll-ms 50 \
    --set notify.lock_retry_ms=100 --set notify.retry_initial_ms=100 --set notify.retry_max_ms=400 \
    --metrics-file "$DW_TMP/$1.prom" --http 127.0.0.1:0 >"$DW_TMP/$1.out" 2>"$DW_TMP/$1.log"
  eval "$1=\$DW_LAST_PID"
}
active_of() { # which of the named processes is active now
  local holder
  holder=$(dw_psql "SELECT holder FROM notify_status")
  for n in "$@"; do if [ "${holder##*:}" = "${!n}" ]; then echo "$n"; fi; done
}
received() { echo $(($(ls "$MAILS" | grep -c '\.eml$' || true) + $(ls "$HOOKS" | grep -v headers | grep -c '\.json$' || true))); }

# ---- two processes in one group
nt_clock "$(T 09:00)"
start_notify n1
start_notify n2
dw_wait_for "[ \$(cat '$DW_TMP/n1.log' '$DW_TMP/n2.log' | grep -c 'group default: active') -ge 1 ]" 30 || dw_fail "none active"
nt_idle "$(T 09:00)"
dw_assert_eq 1 "$(cat "$DW_TMP/n1.log" "$DW_TMP/n2.log" | grep -c 'group default: active')" "active processes"
# the other may still be starting (its first lock attempt comes after its
# setup, slow under ASan): wait for its word rather than read the log once
dw_wait_for "cat '$DW_TMP/n1.log' '$DW_TMP/n2.log' | grep -q 'standing by'" 30 || dw_fail "no standby"
first=$(active_of n1 n2)
[ -n "$first" ] || dw_fail "notify_status names neither process"

# ---- the receivers go down; alerts come
touch "$MAILS/down" "$HOOKS/down"
for c in 30401 30402 30403 30404 30405; do nt_raise_many 10 "H$c." OVERDUE "$c" "$(T 08:00)" "$(T 07:00)"; done
nt_idle "$(T 09:00)" # read at 09:00: the groups flush at 09:01
nt_clock "$(T 09:01)"
dw_wait_for "[ \"\$(dw_psql \"SELECT count(*) FILTER (WHERE attempts >= 3) FROM notify_log WHERE status = 'pending'\")\" = 10 ]" 60 ||
  dw_fail "messages not retried: $(dw_psql "SELECT id, attempts, last_error FROM notify_log")"
dw_psql "SELECT last_error FROM notify_log WHERE kind = 'email' LIMIT 1" | grep -q "451" ||
  dw_fail "no SMTP error recorded: $(dw_psql "SELECT last_error FROM notify_log")"
dw_psql "SELECT last_error FROM notify_log WHERE kind = 'webhook' LIMIT 1" | grep -q "HTTP 503" ||
  dw_fail "no HTTP error recorded"
# more alerts while down: the groups wait for their undelivered message
nt_raise_many 10 "H30401.b" OVERDUE 30401 "$(T 09:02)" "$(T 07:00)"
dw_wait_for "[ \"\$(dw_psql \"SELECT cursor_seq >= (SELECT max(change_seq) FROM alerts) FROM notify_status\")\" = t ]" 30 ||
  dw_fail "the new alerts not read"
for t in 09:06 09:11; do
  nt_clock "$(T $t)"
  dw_wait_for "[ \"\$(dw_psql \"SELECT clock_ms FROM notify_status\")\" = $(nt_ms "$(T $t)") ]" 30 || dw_fail "no round at $t"
done
dw_assert_eq 10 "$(dw_psql "SELECT count(*) FROM notify_log")" "messages while the receivers are down"
dw_assert_eq 0 "$(received)" "received while down"

# ---- the active one is killed -9 while messages are pending: the standby delivers them
dw_stop "${!first}" KILL
second=n2
[ "$first" = n2 ] && second=n1
dw_wait_for "grep -q 'group default: active' '$DW_TMP/$second.log'" 30 || dw_fail "the standby did not take over"
before=$(dw_psql "SELECT sum(attempts) FROM notify_log")
dw_wait_for "[ \$(dw_psql \"SELECT sum(attempts) FROM notify_log\") -gt $before ]" 30 || dw_fail "the new active does not retry"
rm "$MAILS/down" "$HOOKS/down"
dw_wait_for "[ \"\$(dw_psql \"SELECT count(*) FROM notify_log WHERE status = 'pending'\")\" = 0 ]" 60 ||
  dw_fail "pending messages not delivered after the receivers came back"
dw_assert_eq 10 "$(received)" "received once back (5 groups x email + webhook)"
# the next flush says what changed meanwhile (30401's 10 more), once
nt_clock "$(T 09:16)"
nt_idle "$(T 09:16)"
dw_assert_eq 12 "$(received)" "received after the next flush"
"$DW_PY" "$NT_SERVERS" hooks "$HOOKS" >"$DW_TMP/hooks.json" || dw_fail "webhook bodies not Alertmanager v4"
dw_assert_eq 60 "$(jq -r '.dossiers[]' "$DW_TMP/hooks.json" | sort -u | wc -l)" "alerts delivered by webhook (nothing lost)"
dw_assert_eq "20" "$(jq -r 'select(.groupLabels.commune == "30401") | .firing' "$DW_TMP/hooks.json" | tail -n 1)" \
  "30401's second message lists all 20"
grep -h '^Message-ID:' "$MAILS"/*.eml | sort | uniq -d >"$DW_TMP/dup.txt"
[ -s "$DW_TMP/dup.txt" ] && dw_fail "a mail delivered twice: $(cat "$DW_TMP/dup.txt")"
grep -q 'dossierwatch_notify_failed_total{integration="email"} [1-9]' "$DW_TMP/$second.prom" ||
  grep -q 'dossierwatch_notify_failed_total{integration="email"} [1-9]' "$DW_TMP/$first.prom" || dw_fail "failed not counted"
grep -q 'dossierwatch_notify_retried_total{integration="webhook"} [1-9]' "$DW_TMP/$second.prom" || dw_fail "retried not counted"
grep -q 'dossierwatch_notify_sent_total{integration="email"} [1-9]' "$DW_TMP/$second.prom" || dw_fail "sent not counted"
dw_assert_eq 0 "$(dw_psql "SELECT count(*) FROM notify_log WHERE status = 'sent' AND attempts < 2 AND id <= 10")" \
  "first messages sent without retries"
# the same counters on the active process's /metrics (Prometheus text, read by python3-prometheus-client)
addr=$(sed -n 's|.*listening on http://\([^/]*\)/.*|\1|p' "$DW_TMP/$second.log" | head -1)
[ -n "$addr" ] || dw_fail "notify --http did not listen"
dw_assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/healthz")" "notify healthz"
dw_assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/readyz")" "notify readyz"
curl -s "http://$addr/metrics" >"$DW_TMP/notify.prom"
/usr/bin/python3 "$DW_SOURCE_DIR/tests/integration/prom_check.py" "$DW_TMP/notify.prom" dossierwatch_notify_sent:counter \
  dossierwatch_notify_failed:counter dossierwatch_notify_retried:counter dossierwatch_notify_suppressed:counter \
  dossierwatch_notify_pending_messages:gauge dossierwatch_notify_active:gauge >"$DW_TMP/notify.samples" ||
  dw_fail "notify's /metrics does not parse or lacks families"
grep -q '^dossierwatch_notify_sent_total{integration=email} [1-9]' "$DW_TMP/notify.samples" || dw_fail "/metrics: sent"
grep -q '^dossierwatch_notify_active{} 1' "$DW_TMP/notify.samples" || dw_fail "/metrics: active"

# ---- kill -9 and restart: nothing again within repeat_interval
start_notify n3
dw_stop "${!second}" KILL
dw_wait_for "grep -q 'group default: active' '$DW_TMP/n3.log'" 30 || dw_fail "the restarted notify is not active"
grep -q "5 groups restored" "$DW_TMP/n3.log" || dw_fail "state not restored: $(grep active "$DW_TMP/n3.log")"
for t in 09:21 09:40 10:00; do
  nt_clock "$(T $t)"
  nt_idle "$(T $t)"
done
dw_assert_eq 12 "$(received)" "received within repeat_interval after the restart"
# the repeat, once per group and integration: the first messages went at 09:01 (30401's last at 09:16)
nt_clock "$(T 10:05)"
nt_idle "$(T 10:05)"
dw_assert_eq 20 "$(received)" "received after repeat_interval (4 groups x 2)"
nt_clock "$(T 10:20)"
nt_idle "$(T 10:20)"
dw_assert_eq 22 "$(received)" "30401's repeat"
grep -h '^Message-ID:' "$MAILS"/*.eml | sort | uniq -d >"$DW_TMP/dup.txt"
[ -s "$DW_TMP/dup.txt" ] && dw_fail "a mail delivered twice: $(cat "$DW_TMP/dup.txt")"
dw_assert_eq "$(received)" "$(dw_psql "SELECT count(*) FROM notify_log WHERE status = 'sent'")" "received = logged as sent"

# ---- PostgreSQL restarts under notify: it reconnects, takes the lock back, goes on
dw_pg_ctl restart >/dev/null
dw_wait_for "grep -q 'starting again from what was committed' '$DW_TMP/n3.log'" 60 || dw_fail "notify did not notice the restart"
nt_raise H30406.1 OVERDUE 30406 "$(T 10:21)" "$(T 07:00)"
nt_clock "$(T 10:25)"
nt_idle "$(T 10:25)"
nt_clock "$(T 10:30)"
nt_idle "$(T 10:30)"
dw_assert_eq 24 "$(received)" "received after the restart (30406's first message, email + webhook)"
grep -h '^Message-ID:' "$MAILS"/*.eml | sort | uniq -d >"$DW_TMP/dup.txt"
[ -s "$DW_TMP/dup.txt" ] && dw_fail "a mail delivered twice: $(cat "$DW_TMP/dup.txt")"
echo "notify_faults: ok"
