#!/usr/bin/env bash
# serve_rls: a token's scope is enforced by PostgreSQL, not only by serve's
# C code. With the seed-letter data: a token for agency A (UBND-29221)
# never sees agency B's (UBND-29233) alerts, dossiers or unit rows, and a
# commune token never sees another commune's, whatever the query string
# says (filters naming B, B's units, B's dossier ids, SQL in parameters,
# every page of every alert); the policies themselves hold for the serve
# role in psql (no scope: nothing; a scope: only its rows; the setting gone
# after the transaction); serve refuses to run as a role that bypasses
# row-level security, and runs as a login role that is a member of
# dossierwatch_serve.
source "$DW_SOURCE_DIR/tests/lib.sh"
source "$DW_SOURCE_DIR/tests/http_lib.sh"

dw_http_data 15
A=$(dw_token agency-a agency:UBND-29221)
B=$(dw_token agency-b agency:UBND-29233)
C=$(dw_token commune-a commune:29221)
P=$(dw_token prov province)

# ---- serve refuses roles the policies would not scope
if "$DW_BIN" serve --listen 127.0.0.1:0 --set http.db_role=postgres >"$DW_TMP/refuse.log" 2>&1; then
  dw_fail "serve ran as a superuser"
fi
grep -q "bypasses row-level security" "$DW_TMP/refuse.log" || dw_fail "refusal reason: $(cat "$DW_TMP/refuse.log")"
dw_psql "CREATE ROLE dw_web LOGIN"
web_db=$(echo "$DW_DB" | sed 's/user=[^ ]*/user=dw_web/')
if "$DW_BIN" serve --listen 127.0.0.1:0 --db "$web_db" >"$DW_TMP/refuse2.log" 2>&1; then
  dw_fail "serve ran as a role outside dossierwatch_serve"
fi
grep -q "SET ROLE dossierwatch_serve" "$DW_TMP/refuse2.log" || dw_fail "refusal reason: $(cat "$DW_TMP/refuse2.log")"
dw_psql "GRANT dossierwatch_serve TO dw_web"
dw_start_serve --db "$web_db" # the production shape: a login role, member of the scoped role

# ---- what the data holds, to know what must not be seen
a_dossier=$(dw_psql "SELECT dossier_id FROM alerts WHERE agency = 'UBND-29221' ORDER BY alert_id LIMIT 1")
b_dossier=$(dw_psql "SELECT dossier_id FROM alerts WHERE agency = 'UBND-29233' ORDER BY alert_id LIMIT 1")
[ -n "$a_dossier" ] && [ -n "$b_dossier" ] || dw_fail "test data lacks alerts of both agencies"
[ "$(dw_psql "SELECT count(*) FROM v_archive_events WHERE dossier_id = '$b_dossier' AND agency = 'UBND-29221'")" = 0 ] ||
  dw_fail "B's dossier $b_dossier passed through A"

# ---- agency A, crafted query strings
crafted=(
  "/api/v1/alerts?limit=1000"
  "/api/v1/alerts?state=all&limit=1000"
  "/api/v1/alerts?state=all&limit=1000&agency=UBND-29233"
  "/api/v1/alerts?state=all&limit=1000&agency=UBND-29221,UBND-29233"
  "/api/v1/alerts?state=all&limit=1000&commune=29233"
  "/api/v1/alerts?state=cleared&limit=1000&agency=VPDKDD-86"
  "/api/v1/aggregates?unit_type=agency&period_kind=quarter&unit=UBND-29233"
  "/api/v1/aggregates?unit_type=agency&period_kind=month&from=2020-01&to=current"
  "/api/v1/aggregates?unit_type=commune&period_kind=quarter"
  "/api/v1/aggregates?unit_type=commune&period_kind=quarter&unit=29233"
  "/api/v1/aggregates?unit_type=province&period_kind=year"
  "/api/v1/aggregates?unit_type=procedure&period_kind=year"
  "/api/v1/aggregates?unit_type=agency&period_kind=rolling30"
  "/api/v1/ranking?unit_type=commune"
  "/api/v1/ranking?unit_type=agency&period_kind=year&order=best"
  "/api/v1/units"
  "/api/v1/units?type=commune"
  "/api/v1/dossiers/$b_dossier"
)
for q in "${crafted[@]}"; do
  body=$(dw_get "$A" "$q")
  code=$(dw_code "$A" "$q")
  case $q in
    /api/v1/dossiers/*) dw_assert_eq 404 "$code" "A asking for B's dossier" ;;
    *) dw_assert_eq 200 "$code" "A: $q" ;;
  esac
  # (a 404 names the id it was asked for: that is the request, not B's data)
  [[ $q == /api/v1/dossiers/* ]] && { echo "$body" | jq -e 'keys == ["error"]' >/dev/null || dw_fail "A: $q: $body"; continue; }
  for secret in "UBND-29233" "Xã Thanh An" "\"29233\"" "$b_dossier"; do
    if grep -qF -- "$secret" <<<"$body"; then dw_fail "agency A saw '$secret' through $q: ${body:0:300}"; fi
  done
  # whatever came back is A's
  echo "$body" | jq -e '[.alerts[]?.agency] | all(. == "UBND-29221")' >/dev/null || dw_fail "A: $q gave another agency's alert"
  echo "$body" | jq -e '[.rows[]?.unit] | all(. == "UBND-29221")' >/dev/null || dw_fail "A: $q gave another unit's row"
  echo "$body" | jq -e '[.units[]?.code] | all(. == "UBND-29221")' >/dev/null || dw_fail "A: $q gave another unit"
done
# A sees its own
dw_assert_eq "$(dw_psql "SELECT count(*) FROM alerts WHERE agency = 'UBND-29221' AND cleared_at IS NULL")" \
  "$(dw_get "$A" "/api/v1/alerts?limit=1000" | jq '.alerts | length')" "A's open alerts"
dw_assert_eq 200 "$(dw_code "$A" "/api/v1/dossiers/$a_dossier")" "A's own dossier"
dw_assert_eq "$(dw_psql "SELECT count(*) FROM archive_events WHERE dossier_id = '$a_dossier'")" \
  "$(dw_get "$A" "/api/v1/dossiers/$a_dossier" | jq '.events | length')" "A's dossier: its whole timeline"
dw_assert_eq "UBND-29221" "$(dw_get "$A" "/api/v1/ranking?unit_type=agency" | jq -r '[.rows[].unit] | join(",")')" "A's ranking"
# the same crafted queries with B's token never show A's
for q in "/api/v1/alerts?state=all&limit=1000&agency=UBND-29221" "/api/v1/dossiers/$a_dossier" \
         "/api/v1/aggregates?unit_type=agency&period_kind=quarter&unit=UBND-29221"; do
  body=$(dw_get "$B" "$q")
  if grep -qF -- "UBND-29221" <<<"$body"; then dw_fail "agency B saw A through $q"; fi
done
# a transferred dossier is visible whole to the agency that received it
t=$(jq -r 'select(.type == "TRANSFERRED" and .agency == "VPDKDD-86") | .dossier_id' "$(dw_events_jsonl)" | LC_ALL=C sort | sed -n 1p)
if [ -n "$t" ]; then
  V=$(dw_token land agency:VPDKDD-86)
  dw_assert_eq "$(dw_psql "SELECT count(*) FROM archive_events WHERE dossier_id = '$t'")" \
    "$(dw_get "$V" "/api/v1/dossiers/$t" | jq '.events | length')" "the receiving agency sees the timeline from RECEIVED"
fi

# ---- commune token
for q in "/api/v1/alerts?state=all&limit=1000&commune=29233" "/api/v1/alerts?state=all&limit=1000" \
         "/api/v1/aggregates?unit_type=commune&period_kind=quarter" "/api/v1/ranking" "/api/v1/units" \
         "/api/v1/aggregates?unit_type=agency&period_kind=quarter&unit=UBND-29221"; do
  body=$(dw_get "$C" "$q")
  echo "$body" | jq -e '[.alerts[]?.commune] | all(. == "29221")' >/dev/null || dw_fail "commune token: $q"
  echo "$body" | jq -e '[.rows[]?.unit] | all(. == "29221")' >/dev/null || dw_fail "commune token rows: $q"
  if grep -qF -- "Xã Thanh An" <<<"$body"; then dw_fail "commune token saw Thanh An through $q"; fi
done
dw_assert_eq 404 "$(dw_code "$C" "/api/v1/dossiers/$b_dossier")" "commune token, other commune's dossier"
# the province sees everything
dw_assert_eq "$(dw_psql "SELECT count(*) FROM alerts WHERE cleared_at IS NULL AND agency = 'UBND-29233'")" \
  "$(dw_get "$P" "/api/v1/alerts?limit=1000&agency=UBND-29233" | jq '.alerts | length')" "province: B's alerts"

# ---- the policies themselves, as serve's role, in psql
as_serve() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$web_db" -f - <<<"$1"; }
dw_assert_eq "0|0|0|0|0" "$(as_serve "SELECT (SELECT count(*) FROM alerts), (SELECT count(*) FROM aggregates), \
  (SELECT count(*) FROM archive_events), (SELECT count(*) FROM dossier_state), \
  (SELECT count(*) FROM dw_http_dossier_records('$a_dossier'));")" "no scope set: no row"
scoped() { # KIND UNITS SQL: SQL in a transaction carrying that scope
  as_serve "BEGIN;
\\o /dev/null
SELECT set_config('dw.scope_kind', '$1', true), set_config('dw.scope_units', '$2', true);
\\o
$3;
COMMIT;"
}
dw_assert_eq "0|0|0|0" "$(scoped agency UBND-29221 "SELECT (SELECT count(*) FROM alerts WHERE agency <> 'UBND-29221'), \
  (SELECT count(*) FROM aggregates WHERE NOT (unit_type = 'agency' AND unit = 'UBND-29221')), \
  (SELECT count(*) FROM archive_events e WHERE NOT EXISTS (SELECT 1 FROM archive_events x JOIN archive_units u ON u.unit_no = x.agency \
     WHERE x.dossier_id = e.dossier_id AND u.code = 'UBND-29221')), \
  (SELECT count(*) FROM dossier_state WHERE dossier_id = '$b_dossier')")" "agency scope: only A's rows"
[ "$(scoped agency UBND-29221 "SELECT count(*) FROM alerts")" -gt 0 ] || dw_fail "agency scope sees none of its alerts"
dw_assert_eq "0|0" "$(scoped commune 29221 "SELECT (SELECT count(*) FROM alerts WHERE commune <> '29221'), \
  (SELECT count(*) FROM archive_events e JOIN archive_units u ON u.unit_no = e.commune WHERE u.code <> '29221')")" "commune scope"
# the archive's blocks hold many agencies' events: serve's role may not read
# them at all; dw_http_dossier_records cuts out one visible dossier's records
if as_serve "SELECT count(*) FROM archive_blocks" >/dev/null 2>"$DW_TMP/blocks.err"; then
  dw_fail "serve's role reads archive_blocks"
fi
grep -q "permission denied" "$DW_TMP/blocks.err" || dw_fail "archive_blocks: $(cat "$DW_TMP/blocks.err")"
dw_assert_eq "$(dw_psql "SELECT count(*) FROM archive_events WHERE dossier_id = '$a_dossier'")|0" \
  "$(scoped agency UBND-29221 "SELECT (SELECT count(*) FROM dw_http_dossier_records('$a_dossier')), \
  (SELECT count(*) FROM dw_http_dossier_records('$b_dossier'))")" "agency scope: its dossier's records, none of B's"
dw_assert_eq "0" "$(scoped commune 29221 "SELECT count(*) FROM dw_http_dossier_records('$b_dossier')")" \
  "commune scope: no records of another commune's dossier"
dw_assert_eq "0" "$(scoped ingest '' "SELECT count(*) FROM alerts")" "ingest scope reads nothing"
dw_assert_eq "0" "$(scoped 'province;' '' "SELECT count(*) FROM alerts")" "an unknown kind reads nothing"
# transaction-local: gone after COMMIT, even in the same session
dw_assert_eq "0" "$(as_serve "BEGIN;
\\o /dev/null
SELECT set_config('dw.scope_kind', 'province', true);
\\o
COMMIT;
SELECT count(*) FROM alerts;")" "scope after the transaction"
# read-only for the role
if as_serve "SET ROLE dossierwatch_serve; DELETE FROM alerts;" 2>/dev/null; then dw_fail "serve's role could delete"; fi
if as_serve "SET ROLE dossierwatch_serve; SELECT count(*) FROM v_commune_ranking;" 2>/dev/null; then
  dw_fail "serve's role can read a view (views skip the policies)"
fi
# the owner (watch, replay) is not scoped: it sees every row
[ "$(dw_psql "SELECT count(*) FROM alerts")" -gt "$(scoped agency UBND-29221 "SELECT count(*) FROM alerts")" ] ||
  dw_fail "the owner sees no more than a scoped reader"
echo "serve_rls: ok"
