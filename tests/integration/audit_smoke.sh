#!/usr/bin/env bash
# audit_smoke: `dossierwatch audit` over a small hand-written JSON Lines
# scenario (tests/data/audit/events.jsonl) with hand-computed expectations:
# open alerts, history, aggregate rows and rates, the summary counts, the
# rejected lines, exit codes. No broker or database needed.
#
# Expected values (default calendar: Mon-Fri 07:30-11:30,13:30-17:00 +07:00,
# 2025-04-30..05-02 off; one working day = 7.5 h):
#  D1 RECEIVED Mon 04-28 08:00, processing_days 1 -> due Tue 04-29 08:00; no
#     result -> OVERDUE raised_at 04-29T08:00 (apology issued before due, promise
#     05-30: no APOLOGY_MISSING / PROMISE_MISSED); DUE_SOON from receipt (1 wd
#     left) cleared at due.
#  D3 due 05-05 17:00, result 05-05 16:00 undigitized -> on time, and
#     RESULT_NOT_DIGITIZED at 05-06 16:00 (1 wd after issue).
#  D4 PAPER_REQUESTED in_warehouse 05-05 10:00 -> PAPER_REQUESTED_FROM_WAREHOUSE;
#     due = 10 wd after Mon 05-05 08:00 = Mon 05-19 08:00.
#  D5/D6/D7 (commune 26737) results on 04-22: 1 digitized that day
#     (result_digitized_rate 33.33 on the day row), D7 digitized on 04-23
#     (2 of 3 = 66.67 on the month row); D6 -> RESULT_NOT_DIGITIZED 04-23 11:00,
#     D7's cleared at 04-23 15:00.
#  Month 2025-04 of 26737: received 3, online 1 (33.33), intake 3/3 (100.00),
#     on_time 3 (100.00), reuse 0/3, no payment, no rating ->
#     score = 20 + 8*66.67/80 + 8 + 0 + 12*33.33/50 = 42.6662 -> 42.67,
#     score_100 = 42.6662*100/82 = 52.03.
set -euo pipefail
: "${DW_BIN:?DW_BIN must point to the dossierwatch binary}"
: "${DW_SOURCE_DIR:?DW_SOURCE_DIR must point to the source tree}"
data="$DW_SOURCE_DIR/tests/data/audit"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
AS_OF=2025-05-07T12:00:00+07:00

# --- default run: open alerts + summary, one bad line does not stop it
rc=0
"$DW_BIN" audit "$data/events.jsonl" --as-of "$AS_OF" --rejects "$tmp/rejects.jsonl" \
  >"$tmp/out.jsonl" 2>"$tmp/err.txt" || rc=$?
[ "$rc" -eq 0 ] || { cat "$tmp/err.txt" >&2; fail "audit exited $rc"; }

jq -c 'select(.kind=="alert") | {kind,rule,dossier_id,commune,agency,procedure,severity,raised_at,due_at,cleared_at}' \
  "$tmp/out.jsonl" >"$tmp/alerts.jsonl"
diff -u "$data/expected_open_alerts.jsonl" "$tmp/alerts.jsonl" || fail "open alerts differ"

# every line is one JSON object; the summary is last
jq -e -s 'length > 0 and all(type=="object")' "$tmp/out.jsonl" >/dev/null || fail "output is not JSON Lines"
tail -n 1 "$tmp/out.jsonl" | jq -e '.kind=="summary"' >/dev/null || fail "summary is not the last line"
summary=$(tail -n 1 "$tmp/out.jsonl")
check() { # check JQ_FILTER EXPECTED WHAT
  local got
  got=$(jq -c "$1" <<<"$2")
  [ "$got" = "$3" ] || fail "$4: expected $3, got $got"
}
check '.as_of' "$summary" '"2025-05-07T12:00:00+07:00"' "summary as_of"
check '.events_read' "$summary" 25 "events_read"
check '.events_applied' "$summary" 23 "events_applied"
check '.duplicates' "$summary" 1 "duplicates"
check '.rejected' "$summary" 2 "rejected"
check '.open_alerts' "$summary" 4 "open_alerts"
check '.alerts_raised' "$summary" 7 "alerts_raised"
check '.dossiers' "$summary" 7 "dossiers"

# the rejected lines: named on stderr as FILE:LINE, kept in the rejects file
grep -q "events.jsonl:11: " "$tmp/err.txt" || fail "line 11 not reported: $(cat "$tmp/err.txt")"
grep -q "events.jsonl:26: .*TELEPORTED" "$tmp/err.txt" || fail "line 26 not reported: $(cat "$tmp/err.txt")"
# (the one reject file format: {"file","line","reason","raw"} per line)
[ "$(wc -l <"$tmp/rejects.jsonl")" -eq 2 ] || fail "rejects file should have 2 lines"
[ "$(jq -r .line "$tmp/rejects.jsonl" | tr '\n' ' ')" = "11 26 " ] || fail "reject line numbers: $(cat "$tmp/rejects.jsonl")"
jq -r .raw "$tmp/rejects.jsonl" | grep -q '"e-bad"' || fail "truncated line not in the rejects file"
jq -r .reason "$tmp/rejects.jsonl" | grep -q 'TELEPORTED' || fail "reason not in the rejects file"

# --- aggregates
"$DW_BIN" audit "$data/events.jsonl" --as-of "$AS_OF" --aggregates >"$tmp/agg.jsonl" 2>/dev/null
row() { # row UNIT_TYPE UNIT PERIOD_KIND PERIOD
  jq -c --arg t "$1" --arg u "$2" --arg k "$3" --arg p "$4" \
    'select(.kind=="aggregate" and .unit_type==$t and .unit==$u and .period_kind==$k and .period==$p)' "$tmp/agg.jsonl"
}
r=$(row commune 26737 day 2025-04-22)
[ -n "$r" ] || fail "no row commune 26737 day 2025-04-22"
check '[.results_issued,.results_digitized,.on_time,.late]' "$r" '[3,1,3,0]' "26737 day counters"
grep -q '"unit":"26737","period_kind":"day","period":"2025-04-22".*"result_digitized_rate":33.33,' "$tmp/agg.jsonl" \
  || fail "result_digitized_rate 33.33 not printed as such"
r=$(row commune 26737 month 2025-04)
check '[.received,.online,.online_full,.intake_digitized,.results_issued,.results_digitized]' "$r" '[3,1,0,3,3,2]' \
  "26737 month counters"
check '[.result_digitized_rate,.online_rate,.intake_digitized_rate,.on_time_rate,.rating_avg,.reuse_rate,.paid_online_rate]' \
  "$r" '[66.67,33.33,100,100,null,0,null]' "26737 month rates"
check '[.score,.score_100,.open_overdue]' "$r" '[42.67,52.03,0]' "26737 month score"
grep -q '"unit":"26737","period_kind":"month","period":"2025-04".*"intake_digitized_rate":100.00,' "$tmp/agg.jsonl" \
  || fail "rates are not printed with two decimals"
r=$(row commune 26734 month 2025-04)
check '[.received,.online,.online_full,.intake_digitized,.apologies,.paid,.paid_online,.ratings,.rating_sum,.results_issued,.on_time]' \
  "$r" '[3,1,1,2,1,1,1,1,5,1,1]' "26734 month counters"
check '[.online_rate,.intake_digitized_rate,.rating_avg,.paid_online_rate,.open_overdue]' "$r" '[33.33,100,5,100,0]' \
  "26734 month rates"
r=$(row commune 26734 month 2025-05)
check '[.results_issued,.on_time,.open_overdue]' "$r" '[1,1,1]' "26734 current month (gauge)"
r=$(row province all rolling30 2025-05-07)
check '[.received,.results_issued,.open_overdue]' "$r" '[7,5,1]' "province rolling30"
r=$(row province all quarter 2025-Q2)
check '[.received,.paper_requests_from_warehouse,.reused_docs]' "$r" '[7,1,0]' "province quarter"
[ -z "$(row province all rolling30 2025-05-06)" ] || fail "rolling30 only for the day of --as-of"

# --- history: every alert raised, cleared ones with cleared_at
"$DW_BIN" audit "$data/events.jsonl" --as-of "$AS_OF" --history >"$tmp/hist.jsonl" 2>/dev/null
[ "$(jq -c 'select(.kind=="alert")' "$tmp/hist.jsonl" | wc -l)" -eq 7 ] || fail "history should list 7 alerts"
r=$(jq -c 'select(.kind=="alert" and .dossier_id=="D7")' "$tmp/hist.jsonl")
check '[.rule,.raised_at,.cleared_at]' "$r" \
  '["RESULT_NOT_DIGITIZED","2025-04-23T14:00:00+07:00","2025-04-23T15:00:00+07:00"]' "D7 history"
r=$(jq -c 'select(.kind=="alert" and .dossier_id=="D1" and .rule=="DUE_SOON")' "$tmp/hist.jsonl")
check '[.raised_at,.cleared_at]' "$r" '["2025-04-28T08:00:00+07:00","2025-04-29T08:00:00+07:00"]' "D1 DUE_SOON history"

# --- an earlier as-of sees less: D1 not yet overdue, only DUE_SOON
"$DW_BIN" audit "$data/events.jsonl" --as-of 2025-04-28T12:00:00+07:00 >"$tmp/early.jsonl" 2>/dev/null
r=$(jq -c 'select(.kind=="alert" and .dossier_id=="D1")' "$tmp/early.jsonl")
check '[.rule,.severity,.due_at]' "$r" '["DUE_SOON","warning","2025-04-29T08:00:00+07:00"]' "early as-of"

# --- no --as-of: the latest occurred_at read (D8 counts then); stdin as '-'
"$DW_BIN" audit - <"$data/events.jsonl" >"$tmp/latest.jsonl" 2>/dev/null
summary=$(tail -n 1 "$tmp/latest.jsonl")
check '[.as_of,.events_applied,.rejected,.dossiers]' "$summary" '["2025-05-08T08:00:00+07:00",24,2,8]' "default as-of"

# --- the same events as an Avro object container file (events.avro: the 25
# readable lines of events.jsonl written with dw_avro_file_write)
"$DW_BIN" audit "$data/events.avro" --as-of "$AS_OF" >"$tmp/avro.jsonl" 2>"$tmp/avro.err" \
  || { cat "$tmp/avro.err" >&2; fail "audit of the Avro file failed"; }
jq -c 'select(.kind=="alert") | {kind,rule,dossier_id,commune,agency,procedure,severity,raised_at,due_at,cleared_at}' \
  "$tmp/avro.jsonl" | diff -u "$data/expected_open_alerts.jsonl" - || fail "open alerts from Avro differ"
check '[.events_read,.events_applied,.duplicates,.rejected]' "$(tail -n 1 "$tmp/avro.jsonl")" '[25,23,1,0]' "Avro summary"

# --- more events than audit.sort_memory_mb holds: sorted runs in TMPDIR, the
# same output as sorting in memory; likewise more alerts than
# audit.alerts_in_memory (all of them moved to TMPDIR again and again, the
# latest version of each read back). Two files (~19 k simulated events), the
# second with an event the engine refuses (its due date is past the loaded
# calendar) at line 100: the refusal names that file and line either way.
"$DW_BIN" simulate --seed 3 --days 10 --communes 20 --start 2025-03-03 --output "$tmp/sim.jsonl" 2>/dev/null
head -n 9000 "$tmp/sim.jsonl" >"$tmp/sim-a.jsonl"
{ sed -n 9001,9099p "$tmp/sim.jsonl"
  echo '{"event_id":"far-1","dossier_id":"FAR-1","type":"RECEIVED","occurred_at":"2025-03-06T10:00:00+07:00","commune":"26737","agency":"UBND-26737","procedure":"2.000305","channel":"IN_PERSON","processing_days":3000}'
  tail -n +9100 "$tmp/sim.jsonl"; } >"$tmp/sim-b.jsonl"
# run names: MiB of events sorted in memory [-alerts held]
for budget in 256 1 1-50; do
  mb=${budget%-*} alerts=1000000
  [ "$budget" = "$mb" ] || alerts=${budget#*-}
  TMPDIR="$tmp" "$DW_BIN" audit "$tmp/sim-a.jsonl" "$tmp/sim-b.jsonl" --history --aggregates \
    --set audit.sort_memory_mb="$mb" --set audit.alerts_in_memory="$alerts" \
    >"$tmp/sorted-$budget.jsonl" 2>"$tmp/sorted-$budget.err" ||
    { cat "$tmp/sorted-$budget.err" >&2; fail "audit with audit.sort_memory_mb=$budget failed"; }
  grep -q "sim-b.jsonl:100: event 'far-1': due time from processing_days" "$tmp/sorted-$budget.err" ||
    fail "budget $budget: the engine's refusal not named by file and line: $(head -c 600 "$tmp/sorted-$budget.err")"
done
grep -q "events kept were sorted in runs" "$tmp/sorted-256.err" && fail "256 MiB: runs written for 19 k events"
grep -Eq "^dossierwatch audit: [0-9]{4,} of [0-9]+ events kept were sorted in runs in TMPDIR" "$tmp/sorted-1.err" ||
  fail "1 MiB: no runs written: $(head -c 600 "$tmp/sorted-1.err")"
[ "$(jq -c 'select(.kind=="alert")' "$tmp/sorted-1.jsonl" | wc -l)" -gt 1000 ] || fail "too few alerts to compare"
cmp "$tmp/sorted-256.jsonl" "$tmp/sorted-1.jsonl" || fail "the output differs when the events are sorted in runs"
grep -q "alert versions were moved" "$tmp/sorted-1.err" && fail "alerts moved to TMPDIR below audit.alerts_in_memory"
grep -Eq "^dossierwatch audit: [0-9]{4,} alert versions were moved to TMPDIR" "$tmp/sorted-1-50.err" ||
  fail "50 alerts in memory: none moved: $(head -c 600 "$tmp/sorted-1-50.err")"
cmp "$tmp/sorted-256.jsonl" "$tmp/sorted-1-50.jsonl" || fail "the output differs when the alerts move to TMPDIR"
got=$(tail -n 1 "$tmp/sorted-1.jsonl" | jq -c '[.events_read,.rejected]')
[ "$got" = "[$(( $(wc -l <"$tmp/sim.jsonl") + 1 )),1]" ] || fail "sorted-in-runs summary: $got"
[ -z "$(ls "$tmp" | grep dossierwatch-)" ] || fail "temp files left in TMPDIR: $(ls "$tmp")"
# a run that cannot be written fails the command, naming the folder and why
rc=0; TMPDIR="$tmp/no-such-dir" "$DW_BIN" audit "$tmp/sim-a.jsonl" --set audit.sort_memory_mb=1 >/dev/null 2>"$tmp/tmpdir.err" || rc=$?
[ "$rc" -eq 1 ] || fail "audit with an unusable TMPDIR should exit 1, got $rc"
grep -q "sim-a.jsonl: creating the audit-events temp file (TMPDIR $tmp/no-such-dir): No such file" "$tmp/tmpdir.err" ||
  fail "unusable TMPDIR not named: $(cat "$tmp/tmpdir.err")"

# --- table format
"$DW_BIN" audit "$data/events.jsonl" --as-of "$AS_OF" --format table --aggregates >"$tmp/table.txt" 2>/dev/null
grep -q "OVERDUE" "$tmp/table.txt" || fail "table lacks the OVERDUE alert"
grep -q "events_applied *23" "$tmp/table.txt" || fail "table lacks the summary"
grep -Eq "commune +26737 +day +2025-04-22 " "$tmp/table.txt" || fail "table lacks aggregate rows"

# --- exit codes
rc=0; "$DW_BIN" audit "$data/events.jsonl" --as-of "$AS_OF" --strict >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "--strict with rejects should exit 1, got $rc"
rc=0; "$DW_BIN" audit >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "no FILE should exit 2, got $rc"
rc=0; "$DW_BIN" audit "$data/events.jsonl" --format xml >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "bad --format should exit 2, got $rc"
rc=0; "$DW_BIN" audit "$data/events.jsonl" --as-of yesterday >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "bad --as-of should exit 2, got $rc"
rc=0; "$DW_BIN" audit "$tmp/no-such-file.jsonl" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "missing file should exit 1, got $rc"
rc=0; "$DW_BIN" audit "$data/events.jsonl" --set calendar.dir="$tmp" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "empty calendar folder should exit 1, got $rc"
"$DW_BIN" audit --help | grep -q -- "--as-of" || fail "--help"

echo "audit_smoke: ok"
