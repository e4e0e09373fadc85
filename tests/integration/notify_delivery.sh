#!/usr/bin/env bash
# notify_delivery: `dossierwatch notify` end to end on loopback, with a real
# SMTP server (aiosmtpd) and a webhook receiver, on a test clock (--clock
# file:PATH: days pass without waiting; nothing here is timed):
#  - a Friday 16:55 alert delivered Monday 07:30; one on the last working day
#    before Tết delivered on the first day after it (the real 2026 calendar);
#  - grouping: 600 alerts of one commune and rule -> one message per group,
#    by email (RFC 2047 subject, plain text and HTML, first N dossiers with
#    links) and by webhook (Alertmanager v4 field set, bearer token);
#  - inhibition (an open OVERDUE inhibits DUE_SOON of the same dossier);
#  - a resolved notice (send_resolved); repeat after repeat_interval;
#  - a silence added (notify leaves the alert out; v_alerts_silenced marks
#    it) and expired (the alert goes out);
#  - escalation of OVERDUE open 2 working days to the provincial office;
#  - a daily digest with the compliance rates; --check and config errors
#    (exit 2, FILE:LINE and key), SIGHUP with a bad file keeps the old one.
source "${DW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"
source "$DW_SOURCE_DIR/tests/notify_lib.sh"

dw_start_pg
nt_servers

routes=$DW_TMP/routes.yaml
cat >"$routes" <<EOF
global:
  external_url: http://dash.test/
  smtp_from: 'dossierwatch <canhbao@tinh.example.vn>'
  smtp_smarthost: 127.0.0.1:$SMTP_PORT
  smtp_require_tls: false
  dossiers_per_message: 5
receivers:
  - name: chairman-30412
    email_configs:
      - to: chutich.30412@xa.example.vn
        send_resolved: true
    webhook_configs:
      - url: http://127.0.0.1:$HOOK_PORT/hook
        http_config:
          bearer_token: s3cret
  - name: chairman-30415
    email_configs:
      - to: chutich.30415@xa.example.vn
  - name: province
    email_configs:
      - to: vanphong@tinh.example.vn
route:
  receiver: province
  group_by: [commune, rule]
  group_wait: 10m
  group_interval: 5m
  repeat_interval: 1d
  office_hours: true
  routes:
    - matchers: ['commune="30412"']
      receiver: chairman-30412
    - matchers: ['commune="30415"']
      receiver: chairman-30415
inhibit_rules:
  - source_matchers: [rule=OVERDUE]
    target_matchers: [rule=DUE_SOON]
    equal: [dossier_id]
escalations:
  - name: overdue-2-working-days
    matchers: [rule=OVERDUE]
    after: 2d
    receiver: province
    group_by: [commune]
digests:
  - name: daily-30415
    receiver: chairman-30415
    at: '07:30'
    matchers: ['commune="30415"']
unit_names:
  '30412': Xã Long Hiệp
EOF

# --check, and the errors of a bad file: exit 2 naming FILE:LINE and key
"$DW_BIN" notify --check "$routes" >"$DW_TMP/check.out" || dw_fail "--check refused a good file"
grep -q "ok: 3 receivers, 3 routes, 1 inhibit rules, 0 time intervals, 1 escalations, 1 digests" "$DW_TMP/check.out" ||
  dw_fail "--check: $(cat "$DW_TMP/check.out")"
sed 's/group_interval: 5m/group_interval: soon/' "$routes" >"$DW_TMP/bad.yaml"
rc=0
"$DW_BIN" notify --check "$DW_TMP/bad.yaml" 2>"$DW_TMP/bad.err" || rc=$?
dw_assert_eq 2 "$rc" "exit of --check on a bad file"
line=$(grep -n 'group_interval: soon' "$DW_TMP/bad.yaml" | cut -d: -f1)
grep -qF "$DW_TMP/bad.yaml:$line: route.group_interval: bad duration 'soon'" "$DW_TMP/bad.err" ||
  dw_fail "config error does not name file:line and key: $(cat "$DW_TMP/bad.err")"
rc=0
"$DW_BIN" notify --routes "$DW_TMP/bad.yaml" --db "$DW_DB" 2>"$DW_TMP/bad2.err" || rc=$?
dw_assert_eq 2 "$rc" "exit of notify on a bad file"

# ---- Tết: Friday 13 February 2026 16:55 -> Monday 23 February 07:30
nt_clock 2026-02-13T16:55:00+07:00
dw_bg "$DW_BIN" notify --routes "$routes" --db "$DW_DB" --clock "file:$NT_CLOCK" --poll-ms 50 \
  --set notify.retry_initial_ms=100 >"$DW_TMP/notify.out" 2>"$DW_TMP/notify.log"
notify_pid=$DW_LAST_PID
dw_wait_for "grep -q 'group default: active' '$DW_TMP/notify.log'" 30 || dw_fail "notify did not become active"
nt_raise TET-1 OVERDUE 30498 2026-02-13T16:55:00+07:00 2026-02-13T16:00:00+07:00
for t in 2026-02-13T16:55:00+07:00 2026-02-13T17:05:00+07:00 2026-02-16T09:00:00+07:00 2026-02-20T16:00:00+07:00 \
  2026-02-23T07:29:00+07:00; do
  nt_clock "$t"
  nt_idle "$t"
  dw_assert_eq 0 "$(nt_count_mails vanphong@tinh.example.vn)" "mails to the province before the end of Tết ($t)"
done
nt_clock 2026-02-23T07:30:00+07:00
nt_idle 2026-02-23T07:30:00+07:00
dw_assert_eq 1 "$(nt_count_mails vanphong@tinh.example.vn)" "the Tết alert on 23 Feb 07:30"
nt_mails_to vanphong@tinh.example.vn | nt_any 'select(.text | test("TET-1"))' || dw_fail "the Tết mail lacks TET-1"
dw_assert_eq "2026-02-23 07:30:00" "$(dw_psql "SELECT to_char(clock_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM-DD HH24:MI:SS')
  FROM notify_log WHERE group_key LIKE '%30498%'")" "the Tết mail's time"
# the digest of 30415 on 23 Feb (a working day, at 07:30)
dw_assert_eq 1 "$(nt_count_mails chutich.30415@xa.example.vn 'Báo cáo ngày 23/02/2026')" "digest of 23 Feb"
nt_clear TET-1:OVERDUE:1 2026-02-23T08:00:00+07:00 # done with it
echo "notify_delivery: Tết ok"

# ---- 600 alerts of 30412: one message per group
nt_clock 2026-03-04T09:00:00+07:00
nt_raise_many 600 H30. RESULT_NOT_DIGITIZED 30412 2026-03-04T08:00:00+07:00 2026-03-03T17:00:00+07:00
nt_raise H30.A OVERDUE 30412 2026-03-04T08:00:00+07:00 2026-03-03T17:00:00+07:00
nt_raise H30.B OVERDUE 30412 2026-03-04T08:00:00+07:00 2026-03-03T16:00:00+07:00
# 30415: DUE_SOON inhibited by the OVERDUE of the same dossier
nt_raise H35.X OVERDUE 30415 2026-03-04T08:30:00+07:00 2026-03-04T08:30:00+07:00
nt_raise H35.X DUE_SOON 30415 2026-03-04T08:00:00+07:00 2026-03-04T08:30:00+07:00 warning
nt_idle 2026-03-04T09:00:00+07:00
dw_assert_eq 0 "$(nt_count_mails chutich.30412@xa.example.vn)" "mails to 30412 before group_wait"
nt_clock 2026-03-04T09:10:00+07:00
nt_idle 2026-03-04T09:10:00+07:00
dw_assert_eq 2 "$(nt_count_mails chutich.30412@xa.example.vn)" "mails to 30412 (one per group: RESULT, OVERDUE)"
nt_mails_to chutich.30412@xa.example.vn >"$DW_TMP/m30412.json"
nt_any 'select(.subject == "[dossierwatch] 600 cảnh báo đang mở - Xã Long Hiệp (30412): Kết quả chưa số hóa 600")' \
  <"$DW_TMP/m30412.json" || dw_fail "subject of the 600: $(jq -r .subject "$DW_TMP/m30412.json")"
nt_any 'select(.subject_encoded and .has_html and .multipart == "multipart/alternative")' <"$DW_TMP/m30412.json" ||
  dw_fail "not an RFC 2047 multipart mail with HTML"
jq -r 'select(.subject | test("600")) | .text' "$DW_TMP/m30412.json" >"$DW_TMP/t600.txt"
grep -q "5 hồ sơ đầu tiên" "$DW_TMP/t600.txt" || dw_fail "no first-N list: $(head -20 "$DW_TMP/t600.txt")"
grep -q "và 595 hồ sơ khác" "$DW_TMP/t600.txt" || dw_fail "no 'and 595 more'"
grep -q "http://dash.test/#dossier=H30.0001" "$DW_TMP/t600.txt" || dw_fail "no dashboard link"
grep -q "hạn 03/03/2026 17:00 - trễ 16 giờ 10 phút" "$DW_TMP/t600.txt" || dw_fail "no due time and lateness: $(grep H30.0001 "$DW_TMP/t600.txt")"
# webhooks: Alertmanager's field set, one per group, the bearer token
"$DW_PY" "$NT_SERVERS" hooks "$HOOKS" >"$DW_TMP/hooks.json" || dw_fail "a webhook body is not Alertmanager v4"
dw_assert_eq 2 "$(wc -l <"$DW_TMP/hooks.json")" "webhook calls"
dw_assert_eq 600 "$(jq -r 'select(.groupLabels.rule == "RESULT_NOT_DIGITIZED") | .firing' "$DW_TMP/hooks.json")" "alerts in the webhook body"
dw_assert_eq "Bearer s3cret" "$(jq -r '.authorization' "$DW_TMP/hooks.json" | sort -u)" "bearer token"
# inhibition: 30415 gets its OVERDUE, not the DUE_SOON
dw_assert_eq 1 "$(nt_count_mails chutich.30415@xa.example.vn 'Quá hạn 1')" "OVERDUE mail to 30415"
dw_assert_eq 0 "$(nt_count_mails chutich.30415@xa.example.vn 'Sắp đến hạn')" "inhibited DUE_SOON mail to 30415"
nt_clock 2026-03-04T09:30:00+07:00
nt_idle 2026-03-04T09:30:00+07:00
dw_assert_eq 2 "$(nt_count_mails chutich.30412@xa.example.vn)" "mails to 30412 with nothing new"
echo "notify_delivery: grouping, webhook, inhibition ok"

# ---- resolved notice
nt_clear H30.A:OVERDUE:1 2026-03-04T09:31:00+07:00
nt_clock 2026-03-04T09:35:00+07:00
nt_idle 2026-03-04T09:35:00+07:00
dw_assert_eq 1 "$(nt_count_mails chutich.30412@xa.example.vn 'cảnh báo đã xử lý')" "resolved notice by email"
"$DW_PY" "$NT_SERVERS" hooks "$HOOKS" >"$DW_TMP/hooks.json"
dw_assert_eq "1 1" "$(jq -r 'select(.resolved > 0) | "\(.firing) \(.resolved)"' "$DW_TMP/hooks.json")" "resolved in the webhook"

# ---- a silence added, then expired
sil=$("$DW_BIN" silence add --db "$DW_DB" --matcher 'commune=30415' --matcher 'rule=~"OVER.*"' \
  --from 2026-03-04T09:36:00+07:00 --until 2026-03-04T11:00:00+07:00 --now 2026-03-04T09:36:00+07:00 \
  --author test --comment "họp giao ban")
nt_raise H35.Y OVERDUE 30415 2026-03-04T09:37:00+07:00 2026-03-04T09:00:00+07:00
for t in 2026-03-04T09:40:00+07:00 2026-03-04T09:55:00+07:00; do
  nt_clock "$t"
  nt_idle "$t"
done
dw_assert_eq 1 "$(nt_count_mails chutich.30415@xa.example.vn 'Quá hạn')" "mails to 30415 while silenced"
"$DW_BIN" silence list --db "$DW_DB" --now 2026-03-04T09:56:00+07:00 | grep -q "$sil  active" || dw_fail "silence list"
# the dashboard's view marks it (silenced now, on the wall clock)
sil2=$("$DW_BIN" silence add --db "$DW_DB" --matcher 'dossier_id=H35.Y' --for 1h --author test --comment "xem")
dw_assert_eq t "$(dw_psql "SELECT silenced FROM v_alerts_silenced WHERE alert_id = 'H35.Y:OVERDUE:1'")" "v_alerts_silenced"
dw_assert_eq f "$(dw_psql "SELECT silenced FROM v_alerts_silenced WHERE alert_id = 'H35.X:OVERDUE:1'")" "v_alerts_silenced (other)"
"$DW_BIN" silence expire "$sil2" --db "$DW_DB" >/dev/null
"$DW_BIN" silence expire "$sil" --db "$DW_DB" --now 2026-03-04T10:00:00+07:00 >/dev/null
nt_clock 2026-03-04T10:05:00+07:00
nt_idle 2026-03-04T10:05:00+07:00
dw_assert_eq 1 "$(nt_count_mails chutich.30415@xa.example.vn 'Quá hạn 2')" "the silenced alert after the silence expired"
"$DW_BIN" silence list --db "$DW_DB" --all --format json --now 2026-03-04T10:06:00+07:00 |
  jq -c --arg id "$sil" '.[] | select(.id == $id and .status.state == "expired")' | grep -q . || dw_fail "silence not expired"
echo "notify_delivery: resolved, silence ok"

# ---- a bad routes file on SIGHUP keeps the old one
cp "$routes" "$routes.good"
cp "$DW_TMP/bad.yaml" "$routes"
kill -HUP "$notify_pid"
dw_wait_for "grep -q 'reload: .*bad duration .*keeping the configuration in force' '$DW_TMP/notify.log'" 20 ||
  dw_fail "a bad reload not reported"
cp "$routes.good" "$routes"
kill -HUP "$notify_pid"
dw_wait_for "grep -q 'reload: $routes: 3 receivers' '$DW_TMP/notify.log'" 20 || dw_fail "a good reload not reported"

# ---- repeat after repeat_interval (1d), in working hours
nt_clock 2026-03-05T07:30:00+07:00
nt_idle 2026-03-05T07:30:00+07:00
dw_assert_eq 3 "$(nt_count_mails chutich.30412@xa.example.vn)" "mails to 30412 before the repeat"
# RESULT was last sent Wed 09:10, OVERDUE Wed 09:35 (its resolved notice)
nt_clock 2026-03-05T09:15:00+07:00
nt_idle 2026-03-05T09:15:00+07:00
dw_assert_eq 4 "$(nt_count_mails chutich.30412@xa.example.vn)" "mails to 30412 after RESULT's repeat"
nt_mails_to chutich.30412@xa.example.vn | tail -n 1 | nt_any 'select(.subject | test("600 cảnh báo"))' ||
  dw_fail "the repeat is not RESULT's"
nt_clock 2026-03-05T09:40:00+07:00
nt_idle 2026-03-05T09:40:00+07:00
dw_assert_eq 5 "$(nt_count_mails chutich.30412@xa.example.vn)" "mails to 30412 after OVERDUE's repeat"

# ---- escalation: OVERDUE raised Wed 08:00, open 2 working days -> Fri 08:00
nt_clock 2026-03-06T07:59:00+07:00
nt_idle 2026-03-06T07:59:00+07:00
dw_assert_eq 0 "$(nt_count_mails vanphong@tinh.example.vn 'Chuyển cấp')" "escalations before 2 working days"
nt_clock 2026-03-06T08:00:00+07:00
nt_idle 2026-03-06T08:00:00+07:00
nt_mails_to vanphong@tinh.example.vn | jq -r 'select(.subject | test("Chuyển cấp")) | .subject' >"$DW_TMP/esc.txt"
grep -q "^\[dossierwatch\] \[Chuyển cấp\] 1 cảnh báo đang mở - Xã Long Hiệp (30412): Quá hạn 1$" "$DW_TMP/esc.txt" ||
  dw_fail "escalation of 30412: $(cat "$DW_TMP/esc.txt")"
grep -q "30415" "$DW_TMP/esc.txt" && dw_fail "30415's OVERDUE (raised 08:30) escalated at 08:00"
nt_clock 2026-03-06T08:30:00+07:00
nt_idle 2026-03-06T08:30:00+07:00
nt_mails_to vanphong@tinh.example.vn | jq -r 'select(.subject | test("Chuyển cấp")) | .subject' >"$DW_TMP/esc.txt"
grep -q "Chuyển cấp\] 1 cảnh báo đang mở - Xã 30415: Quá hạn 1$" "$DW_TMP/esc.txt" ||
  dw_fail "escalation of 30415: $(cat "$DW_TMP/esc.txt")"

# ---- Friday 16:55 -> Monday 07:30
# (the clock first: a group starts when notify reads its first alert)
nt_clock 2026-03-06T16:55:00+07:00
nt_idle 2026-03-06T16:55:00+07:00
nt_raise FRI-1 OVERDUE 30499 2026-03-06T16:55:00+07:00 2026-03-06T16:00:00+07:00
for t in 2026-03-06T16:55:00+07:00 2026-03-06T17:05:00+07:00 2026-03-07T10:00:00+07:00 2026-03-09T07:29:00+07:00; do
  nt_clock "$t"
  nt_idle "$t"
  dw_assert_eq 0 "$(nt_mails_to vanphong@tinh.example.vn | jq -c 'select(.text | test("FRI-1"))' | wc -l)" "FRI-1 before Monday ($t)"
done
nt_clock 2026-03-09T07:30:00+07:00
nt_idle 2026-03-09T07:30:00+07:00
dw_assert_eq 1 "$(nt_mails_to vanphong@tinh.example.vn | jq -c 'select(.text | test("FRI-1"))' | wc -l)" "FRI-1 on Monday 07:30"

# ---- the digest: open alerts by rule and the month's rates against the province
dw_psql "INSERT INTO aggregates (unit_type, unit, period_kind, period, received, on_time, late, results_issued, results_digitized)
  VALUES ('commune', '30415', 'month', '2026-03', 40, 10, 10, 20, 5), ('commune', '30412', 'month', '2026-03', 50, 30, 0, 30, 30),
         ('province', 'all', 'month', '2026-03', 90, 40, 10, 50, 35)" >/dev/null
nt_clock 2026-03-10T07:30:00+07:00
nt_idle 2026-03-10T07:30:00+07:00
nt_mails_to chutich.30415@xa.example.vn | jq -r 'select(.subject | test("Báo cáo ngày 10/03/2026")) | .text' >"$DW_TMP/digest.txt"
grep -q "Cảnh báo đang mở: 3" "$DW_TMP/digest.txt" || dw_fail "digest: $(cat "$DW_TMP/digest.txt")"
grep -q "Quá hạn (OVERDUE): 2" "$DW_TMP/digest.txt" || dw_fail "digest by rule: $(cat "$DW_TMP/digest.txt")"
grep -q "Chỉ số tháng 2026-03 so với toàn tỉnh" "$DW_TMP/digest.txt" || dw_fail "digest rates heading"
grep -q "đúng hạn 50,00 % (toàn tỉnh 80,00 %)" "$DW_TMP/digest.txt" || dw_fail "digest on-time rate: $(cat "$DW_TMP/digest.txt")"
grep -q "30412" "$DW_TMP/digest.txt" && dw_fail "the digest of 30415 shows 30412"

# ---- the notification log
dw_assert_eq 0 "$(dw_psql "SELECT count(*) FROM notify_log WHERE status <> 'sent'")" "unsent messages"
dw_assert_eq "$(($(ls "$MAILS" | grep -c '\.eml$') + $(ls "$HOOKS" | grep -vc headers)))" \
  "$(dw_psql "SELECT count(*) FROM notify_log")" "messages received = messages logged"
dw_stop "$notify_pid" TERM
dw_assert_eq 0 "$DW_STOP_RC" "notify exit status"
grep -q "stats: active" "$DW_TMP/notify.log" || dw_fail "no stats line"
echo "notify_delivery: ok"
