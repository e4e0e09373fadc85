#!/usr/bin/env bash
# serve_api: `dossierwatch serve` over real PostgreSQL with the demo's data
# (the seed-letter province through broker and watch). The ranking and the
# aggregates equal what `audit` computes from the exported archive (every
# counter, rate and score); names come from the units file; alerts page by
# keyset to exactly the table's rows, newest first, no row twice; a
# dossier's reply holds its archived events and its state; times are
# RFC 3339 at +07:00; every bad parameter is a 400 naming it, and 401, 403,
# 404, 405, 413, 415 where they belong, never a 500 and never SQL text;
# ETag/If-None-Match gives 304; gzip when asked; /healthz, /readyz, and a
# PostgreSQL restart costs requests in flight only (503, then served again);
# the reply cache answers a repeated ranking, never across scopes, and not
# after new data.
source "$DW_SOURCE_DIR/tests/lib.sh"
source "$DW_SOURCE_DIR/tests/http_lib.sh"

dw_http_data 20
P=$(dw_token prov province)
ING=$(dw_token feeder ingest)
ING2=$(dw_token feeder2 ingest)
dw_start_serve

# ---- ranking and aggregates against audit over the same events
"$DW_BIN" export --output "$DW_TMP/events.jsonl" 2>/dev/null
"$DW_BIN" audit "$DW_TMP/events.jsonl" --as-of "$(date -Iseconds)" --aggregates --format jsonl >"$DW_TMP/audit.jsonl"
rank=$(dw_get "$P" "/api/v1/ranking?unit_type=commune&period_kind=quarter&period=current")
Q=$(echo "$rank" | jq -r .period)
[ "$(echo "$rank" | jq -r .current)" = true ] || dw_fail "ranking of the current quarter not marked current"
dw_assert_eq 10 "$(echo "$rank" | jq '.rows | length')" "communes in the ranking"
dw_assert_eq "Xã Thanh An" "$(echo "$rank" | jq -r '.rows[0].name')" "worst commune"
dw_assert_eq "Xã Long Hiệp" "$(echo "$rank" | jq -r '.rows[1].name')" "second worst commune"
fields='.result_digitized_rate, .intake_digitized_rate, .on_time_rate, .online_rate, .received, .results_issued, .score, .score_100'
want=$(jq -c --arg q "$Q" "select(.kind == \"aggregate\" and .unit_type == \"commune\" and .period_kind == \"quarter\" and .period == \$q) | [.unit, $fields]" \
  "$DW_TMP/audit.jsonl" | sort)
got=$(echo "$rank" | jq -c ".rows[] | [.unit, $fields]" | sort)
[ -n "$want" ] || dw_fail "audit printed no quarter rows for $Q"
dw_assert_eq "$want" "$got" "ranking figures equal audit's"
# worst first: the result digitization rates never decrease down the list
echo "$rank" | jq -e '[.rows[].result_digitized_rate] | . == sort' >/dev/null || dw_fail "ranking not worst first"
# aggregates: every counter, rate and score of audit's row (open_overdue is the live gauge)
agg=$(dw_get "$P" "/api/v1/aggregates?unit_type=commune&period_kind=quarter&period=$Q")
strip='del(.open_overdue, .name, .kind)'
want=$(jq -c --arg q "$Q" "select(.kind == \"aggregate\" and .unit_type == \"commune\" and .period_kind == \"quarter\" and .period == \$q) | $strip" \
  "$DW_TMP/audit.jsonl" | jq -sc 'sort_by(.unit)')
got=$(echo "$agg" | jq -c ".rows | map($strip) | sort_by(.unit)")
dw_assert_eq "$want" "$got" "aggregate rows equal audit's"
dw_assert_eq "Xã Long Hiệp" "$(dw_get "$P" "/api/v1/aggregates?period_kind=quarter&unit=29221" | jq -r '.rows[0].name')" "name in aggregates"
# a range of months for one unit (the dashboard's chart)
months=$(dw_get "$P" "/api/v1/aggregates?period_kind=month&from=2020-01&to=current&unit=29233" | jq '[.rows[].period]')
echo "$months" | jq -e 'length >= 1 and . == sort' >/dev/null || dw_fail "month range: $months"
# province and rolling30 rows
r30=$(dw_get "$P" "/api/v1/aggregates?unit_type=province&period_kind=rolling30")
dw_assert_eq "all" "$(echo "$r30" | jq -r '.rows[0].unit')" "province row"
dw_assert_eq "Tỉnh Vĩnh Long" "$(echo "$r30" | jq -r '.rows[0].name')" "province name"
dw_assert_eq "$(jq -c 'select(.type == "RECEIVED")' "$(dw_events_jsonl)" | wc -l)" \
  "$(echo "$r30" | jq -r '.rows[0].received')" "province received over 30 days (the simulation is 20 days)"

# ---- alerts: keyset pages cover the table exactly, newest first
total=$(dw_psql "SELECT count(*) FROM alerts")
open=$(dw_psql "SELECT count(*) FROM alerts WHERE cleared_at IS NULL")
all_pages() { # QUERY LIMIT: every alert over all pages, one JSON object a line
  local after= pages=0 page
  while :; do
    page=$(dw_get "$P" "/api/v1/alerts?$1&limit=$2${after:+&after=$(jq -rn --arg a "$after" '$a|@uri')}")
    echo "$page" | jq -c '.alerts[]'
    after=$(echo "$page" | jq -r '.next // empty')
    pages=$((pages + 1))
    [ -n "$after" ] || break
    [ "$pages" -lt 1000 ] || dw_fail "pagination does not end"
  done
}
all_pages state=all 97 >"$DW_TMP/pages.jsonl"
dw_assert_eq "$total" "$(wc -l <"$DW_TMP/pages.jsonl")" "alerts over all pages"
dw_assert_eq "$total" "$(jq -r .alert_id "$DW_TMP/pages.jsonl" | sort -u | wc -l)" "distinct alerts over all pages"
jq -s -e 'map([.raised_at, .alert_id]) | . == (sort | reverse)' "$DW_TMP/pages.jsonl" >/dev/null || dw_fail "alerts not newest first"
jq -r '.raised_at, (.due_at // empty)' "$DW_TMP/pages.jsonl" | grep -qv '+07:00$' && dw_fail "a time not at +07:00"
dw_assert_eq "$open" "$(all_pages state=open 1000 | wc -l)" "open alerts"
[ "$open" -gt 1000 ] && dw_assert_eq 1000 "$(dw_get "$P" "/api/v1/alerts?limit=1000" | jq '.alerts | length')" "a full page"
crit=$(dw_psql "SELECT count(*) FROM alerts WHERE cleared_at IS NULL AND severity = 'critical' AND rule IN ('OVERDUE','APOLOGY_MISSING')")
dw_assert_eq "$crit" "$(all_pages "severity=critical&rule=OVERDUE,APOLOGY_MISSING" 1000 | wc -l)" "filtered alerts"

# ---- a dossier: state, archived events, alerts
d=$(jq -r 'select(.type == "APOLOGY_ISSUED") | .dossier_id' "$(dw_events_jsonl)" | LC_ALL=C sort | sed -n 1p)
doc=$(dw_get "$P" "/api/v1/dossiers/$d")
dw_assert_eq "$(dw_psql "SELECT count(*) FROM archive_events WHERE dossier_id = '$d'")" "$(echo "$doc" | jq '.events | length')" "events of $d"
dw_assert_eq "$(jq -c "select(.dossier_id == \"$d\")" "$(dw_events_jsonl)" | LC_ALL=C sort)" \
  "$(echo "$doc" | jq -c '.events[]' | LC_ALL=C sort)" "the events of $d as export gives them"
dw_assert_eq "$(dw_psql "SELECT count(*) FROM alerts WHERE dossier_id = '$d'")" "$(echo "$doc" | jq '.alerts | length')" "alerts of $d"
echo "$doc" | jq -e '.state.apologies | length >= 1' >/dev/null || dw_fail "no apology in the state of $d: $doc"
echo "$doc" | jq -e '.state.received_at | endswith("+07:00")' >/dev/null || dw_fail "state times: $doc"
echo "$doc" | jq -e '[.events[].occurred_at] | . == sort' >/dev/null || dw_fail "events not in time order"
dw_assert_eq 404 "$(dw_code "$P" /api/v1/dossiers/no-such-dossier)" "unknown dossier"
dw_assert_eq 44 "$(dw_get "$P" /api/v1/units | jq '.units | length')" "units of the seed-letter file"

# ---- errors: status and the parameter named; never a 500, never SQL
check() { # CODE NEEDLE TOKEN PATH [CURL_ARGS...]
  local code=$1 needle=$2 t=$3 p=$4
  shift 4
  local body got
  body=$(curl -s -w '\n%{http_code}' -H "$(_dw_auth "$t")" "$@" "http://$DW_SERVE$p")
  got=${body##*$'\n'}
  body=${body%$'\n'*}
  [ "$got" = "$code" ] || dw_fail "$p: status $got, want $code ($body)"
  echo "$body" | jq -e '.error | type == "string"' >/dev/null || dw_fail "$p: not a JSON error: $body"
  [[ $body == *"$needle"* ]] || dw_fail "$p: '$needle' not in $body"
  if grep -Eiq 'select |relation|syntax error|sqlstate|postgres' <<<"$body"; then dw_fail "$p: SQL text in $body"; fi
}
check 400 "'by'" "$P" "/api/v1/ranking?by=name"
check 400 "'period'" "$P" "/api/v1/ranking?period_kind=month&period=2025-13"
check 400 "'period'" "$P" "/api/v1/ranking?period=2025-Q2%27%3B%20DROP%20TABLE%20alerts%3B--"
check 400 "'period_kind'" "$P" "/api/v1/aggregates?period_kind=week"
check 400 "'unit_type'" "$P" "/api/v1/aggregates?unit_type=district"
check 400 "'unit'" "$P" "/api/v1/aggregates?unit=29221%27%20OR%20%271%27=%271"
check 400 "'to'" "$P" "/api/v1/aggregates?period_kind=month&from=2025-01"
check 400 "'limit'" "$P" "/api/v1/alerts?limit=100000"
check 400 "'limit'" "$P" "/api/v1/alerts?limit=-1"
check 400 "'state'" "$P" "/api/v1/alerts?state=closed"
check 400 "'rule'" "$P" "/api/v1/alerts?rule=overdue"
check 400 "'severity'" "$P" "/api/v1/alerts?severity=high"
check 400 "'after'" "$P" "/api/v1/alerts?after=garbage"
check 400 "'agency'" "$P" "/api/v1/alerts?agency="
check 400 "more than once" "$P" "/api/v1/alerts?limit=1&limit=2"
check 400 "unknown parameter 'sort'" "$P" "/api/v1/alerts?sort=raised_at"
check 400 "unknown parameter" "$P" "/api/v1/dossiers/$d?x=1"
check 401 "bearer" - "/api/v1/ranking"
check 401 "bearer" "dwt_000000000000_$(printf '0%.0s' {1..64})" "/api/v1/ranking"
check 401 "bearer" "not-a-token" "/api/v1/alerts"
last=${P: -1}
check 401 "bearer" "${P%?}$([ "$last" = 0 ] && echo 1 || echo 0)" "/api/v1/alerts" # right id, wrong secret
check 403 "ingest" "$ING" "/api/v1/ranking"
check 403 "scope ingest" "$P" "/api/dvcqg/DongBoHoSoMC" -X POST -H 'Content-Type: application/json' -d '{}'
check 404 "no such resource" "$P" "/api/v2/ranking"
check 404 "no such" - "/static/../../etc/passwd" --path-as-is
check 404 "no such file" - "/static/nope.js"
check 405 "not allowed" "$P" "/api/v1/ranking" -X DELETE
check 405 "not allowed" "$ING" "/api/dvcqg/DongBoHoSoMC"
check 415 "Content-Type" "$ING" "/api/dvcqg/DongBoHoSoMC" -X POST -d '{}'
check 400 "invalid JSON" "$ING" "/api/dvcqg/DongBoHoSoMC" -X POST -H 'Content-Type: application/json' -d '{"a": [1,'
check 400 "empty" "$ING" "/api/dvcqg/DongBoHoSoMC" -X POST -H 'Content-Type: application/json' --data-binary ''
head -c 1100000 /dev/zero | tr '\0' ' ' >"$DW_TMP/big.json"
check 413 "larger than" "$ING" "/api/dvcqg/DongBoHoSoMC" -X POST -H 'Content-Type: application/json' --data-binary "@$DW_TMP/big.json"
# a valid ingest request reaches the hook: 501 while http.dvcqg_units is not set (dvcqg_intake.sh ingests)
code=$(dw_code "$ING" /api/dvcqg/DongBoHoSoMC -X POST -H 'Content-Type: application/json; charset=utf-8' -d '{"MaHoSo": "x"}')
[[ $code == 2* || $code == 501 ]] || dw_fail "ingest hook: status $code"
# revoked: 401 from then on
"$DW_BIN" token revoke feeder 2>/dev/null
dw_assert_eq 401 "$(dw_code "$ING" /api/dvcqg/DongBoHoSoMC -X POST -H 'Content-Type: application/json' -d '{}')" "revoked token"
# the log names the refusals, never a token
grep -q "refused GET /api/v1/ranking from 127.0.0.1: unknown token" "$DW_TMP/serve.log" || dw_fail "refusal not logged"
grep -q "revoked token (token 'feeder')" "$DW_TMP/serve.log" || dw_fail "revocation not logged"
if grep -q "dwt_" "$DW_TMP/serve.log"; then dw_fail "a token in serve's log"; fi

# ---- ETag, gzip, HEAD
etag=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $P" "http://$DW_SERVE/api/v1/ranking" | sed -n 's/^ETag: //Ip' | tr -d '\r')
[[ $etag == W/\"* ]] || dw_fail "no ETag: $etag"
dw_assert_eq 304 "$(dw_code "$P" /api/v1/ranking -H "If-None-Match: $etag")" "If-None-Match"
dw_assert_eq 200 "$(dw_code "$P" /api/v1/ranking -H 'If-None-Match: W/"0000000000000000"')" "another ETag"
dw_assert_eq 304 "$(dw_code "$P" "/api/v1/aggregates?period_kind=quarter" -H "If-None-Match: $(curl -s -D - -o /dev/null \
  -H "Authorization: Bearer $P" "http://$DW_SERVE/api/v1/aggregates?period_kind=quarter" | sed -n 's/^ETag: //Ip' | tr -d '\r')")" "aggregates ETag"
curl -s -D "$DW_TMP/h" -o "$DW_TMP/gz" -H "Authorization: Bearer $P" -H 'Accept-Encoding: gzip' "http://$DW_SERVE/api/v1/alerts?limit=200"
grep -qi '^Content-Encoding: gzip' "$DW_TMP/h" || dw_fail "no gzip"
dw_assert_eq "$(dw_get "$P" "/api/v1/alerts?limit=200" | md5sum)" "$(gunzip -c "$DW_TMP/gz" | md5sum)" "gzip body"
dw_assert_eq 200 "$(dw_code "$P" /api/v1/ranking -I)" "HEAD"
dw_assert_eq 200 "$(dw_code - /)" "dashboard"
dw_assert_eq 200 "$(dw_code - /static/chart.min.js)" "Chart.js"

# ---- silences (issue 14): added, listed, marking the alerts they cover, limited by the token's scope, expired
AG=$(dw_psql "SELECT agency FROM alerts WHERE cleared_at IS NULL GROUP BY agency ORDER BY count(*) DESC, agency LIMIT 1")
OTHER=$(dw_psql "SELECT agency FROM alerts WHERE cleared_at IS NULL AND agency <> '$AG' ORDER BY agency LIMIT 1")
[ -n "$AG" ] && [ -n "$OTHER" ] || dw_fail "no open alerts of two agencies"
A=$(dw_token head-of-ag "agency:$AG")
silence_post() { # TOKEN BODY -> status, then the body
  curl -s -w '\n%{http_code}' -H "$(_dw_auth "$1")" -H 'Content-Type: application/json' -X POST --data-binary "$2" \
    "http://$DW_SERVE/api/v1/silences"
}
check 403 "may only silence its own" "$A" /api/v1/silences -X POST -H 'Content-Type: application/json' \
  -d "{\"matchers\":[\"agency=\\\"$OTHER\\\"\"],\"duration\":\"8h\",\"comment\":\"not mine\"}"
check 403 "may only silence its own" "$A" /api/v1/silences -X POST -H 'Content-Type: application/json' \
  -d '{"matchers":["rule=\"DUE_SOON\""],"duration":"8h","comment":"the whole province"}'
check 400 "matchers" "$A" /api/v1/silences -X POST -H 'Content-Type: application/json' -d '{"matchers":[],"duration":"8h","comment":"c"}'
check 400 "duration" "$A" /api/v1/silences -X POST -H 'Content-Type: application/json' \
  -d "{\"matchers\":[\"agency=$AG\"],\"duration\":\"soon\",\"comment\":\"c\"}"
check 415 "Content-Type" "$A" /api/v1/silences -X POST -d '{}'
check 403 "ingest" "$ING2" /api/v1/silences
dw_assert_eq 0 "$(dw_get "$P" "/api/v1/alerts?agency=$AG&limit=1000" | jq '[.alerts[] | select(.silenced)] | length')" "silenced alerts before any silence"
out=$(silence_post "$A" "{\"matchers\":[{\"name\":\"agency\",\"value\":\"$AG\",\"isRegex\":false,\"isEqual\":true}],\"duration\":\"8h\",\"createdBy\":\"Trưởng phòng\",\"comment\":\"đang xử lý tồn đọng\"}")
dw_assert_eq 200 "${out##*$'\n'}" "silence of the token's own agency: ${out%$'\n'*}"
SID=$(echo "${out%$'\n'*}" | jq -r .silenceID)
dw_assert_eq "$SID" "$(dw_psql "SELECT id FROM silences WHERE created_by = 'Trưởng phòng (token head-of-ag)' AND comment = 'đang xử lý tồn đọng'")" "silence stored with who (the token) and why"
sil=$(dw_get "$A" "/api/v1/silences/$SID")
dw_assert_eq active "$(echo "$sil" | jq -r .status.state)" "state of the new silence"
echo "$sil" | jq -e '.endsAt | endswith("+07:00")' >/dev/null || dw_fail "silence times: $sil"
dw_assert_eq 1 "$(dw_get "$A" /api/v1/silences | jq "[.[] | select(.id == \"$SID\")] | length")" "listed for its agency"
dw_assert_eq 1 "$(dw_get "$P" /api/v1/silences | jq "[.[] | select(.id == \"$SID\")] | length")" "listed for the province"
B=$(dw_token head-of-other "agency:$OTHER")
dw_assert_eq 0 "$(dw_get "$B" /api/v1/silences | jq "[.[] | select(.id == \"$SID\")] | length")" "not listed for another agency"
dw_assert_eq 404 "$(dw_code "$B" "/api/v1/silences/$SID")" "another agency's silence"
dw_assert_eq 404 "$(dw_code "$B" "/api/v1/silences/$SID" -X DELETE)" "another agency cannot expire it"
open_ag=$(dw_psql "SELECT count(*) FROM alerts WHERE cleared_at IS NULL AND agency = '$AG'")
dw_assert_eq "$open_ag" "$(all_pages "agency=$AG" 1000 | jq -c "select(.silenced and (.silenced_by | index(\"$SID\")))" | wc -l)" "open alerts of $AG marked silenced"
dw_assert_eq 0 "$(all_pages "agency=$OTHER" 1000 | jq -c 'select(.silenced)' | wc -l)" "alerts of $OTHER not marked"
dw_assert_eq "$(dw_psql "SELECT string_agg(alert_id, ' ' ORDER BY alert_id) FROM v_alerts_silenced WHERE silenced AND cleared_at IS NULL")" \
  "$(all_pages state=open 1000 | jq -r 'select(.silenced) | .alert_id' | sort | paste -sd ' ')" "the marks equal v_alerts_silenced"
exp=$(dw_get "$A" "/api/v1/silences/$SID" -X DELETE)
dw_assert_eq expired "$(echo "$exp" | jq -r .status.state)" "expired through the API: $exp"
dw_assert_eq 409 "$(dw_code "$A" "/api/v1/silences/$SID" -X DELETE)" "expired twice"
dw_assert_eq 0 "$(dw_get "$P" "/api/v1/alerts?agency=$AG&limit=1000" | jq '[.alerts[] | select(.silenced)] | length')" "marks gone after expiry"
dw_assert_eq 0 "$(dw_get "$A" /api/v1/silences | jq "[.[] | select(.id == \"$SID\")] | length")" "expired: not current"
dw_assert_eq 1 "$(dw_get "$A" "/api/v1/silences?state=all" | jq "[.[] | select(.id == \"$SID\")] | length")" "expired: in state=all"
dw_assert_eq 1 "$(dw_psql "SELECT count(*) FROM silences WHERE id = '$SID'")" "an expired silence is kept"
check 404 "no silence" "$P" "/api/v1/silences/00000000-0000-0000-0000-000000000000"
check 400 "'state'" "$P" "/api/v1/silences?state=open"
grep -q "silence $SID added by token 'head-of-ag'" "$DW_TMP/serve.log" || dw_fail "silence not logged"

# ---- the reply cache: a repeated ranking is a hit with the same body; a
# scoped token never gets the province's reply; new data is a miss
cache_count() { dw_get - /metrics | sed -n "s/^dossierwatch_serve_cache_lookups_total{result=\"$1\"} //p"; }
rq="/api/v1/ranking?unit_type=commune&period_kind=quarter&period=current"
# (watch runs on the wall clock: a commit between the two requests is a new
# version, hence a few tries)
hit=0
for try in 1 2 3 4 5; do
  r1=$(dw_get "$P" "$rq")
  hits=$(cache_count hit)
  r2=$(dw_get "$P" "$rq")
  if [ "$(cache_count hit)" -gt "${hits:-0}" ]; then
    dw_assert_eq "$r1" "$r2" "a cached ranking"
    hit=1
    break
  fi
done
[ "$hit" = 1 ] || dw_fail "the same ranking was rendered again every time (no cache hit)"
ag_token=$(dw_token one-agency "agency:$(jq -nr 'first(inputs | select(.commune == "29221") | .agency)' "$(dw_events_jsonl)")")
ag_rank=$(dw_get "$ag_token" "$rq")
[ "$(echo "$ag_rank" | jq '.rows | length')" -lt 10 ] || dw_fail "an agency token got the province's ranking: $(echo "$ag_rank" | head -c 300)"
before=$(echo "$r2" | jq '.rows[] | select(.unit == "29233") | .received')
misses=$(cache_count miss)
jq -nc 'first(inputs | select(.commune == "29233" and .type == "RECEIVED"))' "$(dw_events_jsonl)" |
  jq -c --arg now "$(date -Iseconds)" --arg due "$(date -Iseconds -d '+3 days')" \
    '.event_id = "cache-test-1" | .dossier_id = "29233-CACHE-TEST" | .occurred_at = $now | .due_at = $due' \
    >"$DW_TMP/one.jsonl"
archived_before=$(dw_archived)
"$DW_BIN" import "$DW_TMP/one.jsonl" >/dev/null 2>&1 || dw_fail "import of one event"
dw_wait_for "[ \"\$(dw_archived)\" -gt $archived_before ]" 30 || dw_fail "watch did not archive the new event"
dw_wait_for "[ \"\$(dw_get '$P' '$rq' | jq '.rows[] | select(.unit == \"29233\") | .received')\" = $((before + 1)) ]" 10 ||
  dw_fail "the ranking did not show the new event (a stale cached reply?)"
[ "$(cache_count miss)" -gt "$misses" ] || dw_fail "new data was not a cache miss"

# ---- health; PostgreSQL going away and coming back
dw_assert_eq '{"status":"ok","command":"serve"}' "$(dw_get - /healthz)" "healthz"
dw_assert_eq '{"status":"ready"}' "$(dw_get - /readyz)" "readyz"
dw_pg_ctl kill >/dev/null
dw_assert_eq 503 "$(dw_code - /readyz)" "readyz with PostgreSQL down"
dw_get - /readyz | grep -q PostgreSQL || dw_fail "readyz reason"
check 503 "database" "$P" "/api/v1/ranking"
# (the killed postmaster is reaped by whoever adopted it: wait for that)
dw_wait_for "[ \"\$(dw_pg_ctl status)\" = stopped ]" 30 || dw_fail "PostgreSQL still seen running after kill"
dw_pg_ctl restart >/dev/null
dw_wait_for "[ \"\$(dw_code - /readyz)\" = 200 ]" 30 || dw_fail "not ready after PostgreSQL came back"
dw_wait_for "[ \"\$(dw_code '$P' /api/v1/ranking)\" = 200 ]" 30 || dw_fail "API not back after PostgreSQL came back"
if grep -q '" 500\|-> 500' "$DW_TMP/serve.log"; then dw_fail "a 500 was answered"; fi
echo "serve_api: ok"
