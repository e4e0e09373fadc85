#!/usr/bin/env bash
# replay_archive: a rebuild from the PostgreSQL archive equals what watch
# built live. Simulate 10 days, import them into the embedded broker, let
# `watch --clock watermark` consume everything (archive, alerts, aggregates,
# states), then:
#  - `replay --from-archive --into shadow` gives exactly the same alerts and
#    aggregate rows as public (EXCEPT both ways = 0 rows) and one state per
#    dossier of public;
#  - `replay --jobs 1` and `--jobs 3` give exactly the same alerts, aggregates
#    and state blobs as the default; so do --jobs 1 and a --jobs 3 that
#    spills (replay.alerts_in_memory) with dossiers leaving memory and
#    coming back (rules.closed_grace_days=1);
#  - each output table's rows are written in its primary key's order;
#  - `replay --swap shadow` keeps public equal to shadow (and the views work);
#  - `export` to JSON Lines (and Avro) holds every archived event, and `audit`
#    over the export finds as many open alerts as the alerts table holds;
#  - usage errors: --into-live with a filter is refused (exit 2), an existing
#    shadow schema is refused (exit 1);
#  - the shadow schema (written over several connections under a partial
#    name) has public's indexes and primary keys; a failed write leaves no
#    schema; a partial schema nobody holds the lock of is dropped by the next
#    replay, a held one is kept;
#  - `--into-live` rewrites public (rows equal to the shadow's, its indexes
#    and primary keys rebuilt).
#
# One partition (and 40 communes, ~35k events: the embedded broker keeps about
# 40k messages per partition): watch then receives every event in event-time
# order, exactly the order replay applies them in. With several partitions
# watch's watermark clock is the minimum over partitions, so it lags behind
# the events of the partitions fetched first; alert fields that depend on the
# engine's current view of a dossier (agency after a TRANSFERRED) may then
# differ from an in-order replay.
source "$DW_SOURCE_DIR/tests/lib.sh"

dw_start_broker 1
dw_start_pg

"$DW_BIN" simulate --seed 3 --days 10 --communes 40 --output "$DW_TMP/ev.jsonl" 2>"$DW_TMP/simulate.log"
lines=$(grep -c . "$DW_TMP/ev.jsonl")
[ "$lines" -gt 1000 ] || dw_fail "simulate wrote only $lines events"
"$DW_BIN" import "$DW_TMP/ev.jsonl" --bootstrap "$DW_BOOTSTRAP" 2>"$DW_TMP/import.log" ||
  dw_fail "import failed: $(cat "$DW_TMP/import.log")"

"$DW_BIN" watch --clock watermark --exit-when-idle 5 --bootstrap "$DW_BOOTSTRAP" --db "$DW_DB" \
  >"$DW_TMP/watch.out" 2>"$DW_TMP/watch.log" || dw_fail "watch exited $?"

archived=$(dw_archived)
unique=$(jq -r .event_id "$DW_TMP/ev.jsonl" | sort -u | wc -l)
dw_assert_eq "$unique" "$archived" "archived events = unique event ids of the simulation"
live_alerts=$(dw_psql "SELECT count(*) FROM alerts")
[ "$live_alerts" -gt 0 ] || dw_fail "watch raised no alert: nothing to compare"

# ---- replay into a shadow schema
"$DW_BIN" replay --db "$DW_DB" --from-archive --into shadow 2>"$DW_TMP/replay.log" ||
  dw_fail "replay exited $?: $(cat "$DW_TMP/replay.log")"
summary=$(grep '^replay: done:' "$DW_TMP/replay.log") || dw_fail "no summary line"
echo "$summary"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$summary"; }
dw_assert_eq "$archived" "$(field events)" "replay events = archived events"
dw_assert_eq "0" "$(field undecodable)" "undecodable"
dw_assert_eq "$(dw_psql 'SELECT count(*) FROM shadow.alerts')" "$(field alerts)" "summary alerts = rows"

alert_cols="alert_id, rule, dossier_id, commune, agency, procedure, severity, raised_at, due_at, cleared_at, detail"
agg_cols="unit_type, unit, period_kind, period, received, online, online_full, intake_digitized, reused_docs,
  dossiers_with_reuse, paper_requests_from_warehouse, results_issued, results_digitized, on_time, late,
  apologies, paid, paid_online, ratings, rating_sum"
# rows whose counters all went back to 0 (a late event moved a count) carry no information
nonzero="(received, online, online_full, intake_digitized, reused_docs, dossiers_with_reuse,
  paper_requests_from_warehouse, results_issued, results_digitized, on_time, late, apologies, paid,
  paid_online, ratings, rating_sum) <> (0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0)"
compare() { # compare SCHEMA_A SCHEMA_B WHAT
  local d
  d=$(dw_psql "SELECT count(*) FROM (SELECT $alert_cols FROM $1.alerts EXCEPT SELECT $alert_cols FROM $2.alerts) x")
  dw_assert_eq 0 "$d" "$3: alerts in $1 and not in $2"
  d=$(dw_psql "SELECT count(*) FROM (SELECT $agg_cols FROM $1.aggregates WHERE $nonzero
                EXCEPT SELECT $agg_cols FROM $2.aggregates WHERE $nonzero) x")
  dw_assert_eq 0 "$d" "$3: aggregate rows in $1 and not in $2"
}
states_differ() { # states_differ SCHEMA_A SCHEMA_B: state rows (blobs) of A not in B
  dw_psql "SELECT count(*) FROM (SELECT dossier_id, kafka_partition, state, open, tombstone FROM $1.dossier_state
           EXCEPT SELECT dossier_id, kafka_partition, state, open, tombstone FROM $2.dossier_state) x"
}
compare public shadow "replay vs live"
compare shadow public "replay vs live"
dw_assert_eq "$(dw_psql 'SELECT count(*) FROM alerts WHERE cleared_at IS NULL')" "$(field open_alerts)" \
  "open alerts: replay summary vs live table"
# every dossier watch keeps a state for has one in the replay too
d=$(dw_psql "SELECT count(*) FROM (SELECT dossier_id FROM public.dossier_state EXCEPT SELECT dossier_id FROM shadow.dossier_state) x")
dw_assert_eq 0 "$d" "dossier states missing from the replay"

# ---- the same for any number of jobs (dossiers split by hash over drivers)
for j in 1 3; do
  "$DW_BIN" replay --db "$DW_DB" --from-archive --into "shadow_j$j" --jobs "$j" 2>"$DW_TMP/replay_j$j.log" ||
    dw_fail "replay --jobs $j exited $?: $(cat "$DW_TMP/replay_j$j.log")"
  grep -q " jobs=$j " "$DW_TMP/replay_j$j.log" || dw_fail "replay --jobs $j: $(tail -1 "$DW_TMP/replay_j$j.log")"
  compare shadow "shadow_j$j" "--jobs $j vs default"
  compare "shadow_j$j" shadow "--jobs $j vs default"
  dw_assert_eq 0 "$(states_differ shadow shadow_j$j)" "--jobs $j: dossier states (blobs) differ"
done

# ---- dossiers that leave memory and come back, and the spill: with
# rules.closed_grace_days=1 over these 10 days many dossiers leave memory,
# some get late events after their tombstone expired (made anew) and leave
# again. --jobs 1 holding everything and --jobs 3 moving out what can no
# longer change once a job holds 50 alert versions (replay.alerts_in_memory)
# give the same alerts, aggregates and state blobs, each dossier once (a
# duplicate key fails the primary key's build). Before: a dossier that left
# and came back between two drains came twice (tombstone and state), and
# whether a late event rebuilt a dossier depended on when a job's tombstone
# table grew, i.e. on --jobs.
short=(--set rules.closed_grace_days=1)
for spec in "g1:1:1000000000" "g3:3:50"; do
  IFS=: read -r name jobs mem <<<"$spec"
  "$DW_BIN" replay --db "$DW_DB" --from-archive --into "$name" --jobs "$jobs" "${short[@]}" \
    --set "replay.alerts_in_memory=$mem" 2>"$DW_TMP/replay_$name.log" ||
    dw_fail "replay $name exited $?: $(cat "$DW_TMP/replay_$name.log")"
done
spilled=$(sed -n 's/.* spilled_alerts=\([0-9]*\) spilled_dossiers=\([0-9]*\).*/\1 \2/p' "$DW_TMP/replay_g3.log")
read -r sa sd <<<"$spilled"
[ "${sa:-0}" -gt 0 ] && [ "${sd:-0}" -gt 0 ] || dw_fail "nothing spilled with replay.alerts_in_memory=50: $(tail -1 "$DW_TMP/replay_g3.log")"
grep -q ' spilled_alerts=0 spilled_dossiers=0' "$DW_TMP/replay_g1.log" || dw_fail "g1 spilled: $(tail -1 "$DW_TMP/replay_g1.log")"
compare g1 g3 "spilled --jobs 3 vs --jobs 1"
compare g3 g1 "spilled --jobs 3 vs --jobs 1"
dw_assert_eq 0 "$(states_differ g1 g3)" "spilled: dossier states (blobs) differ"
dw_assert_eq 0 "$(states_differ g3 g1)" "spilled: dossier states (blobs) differ"
dw_assert_eq "$(dw_psql 'SELECT count(*) FROM g1.dossier_state')" "$(dw_psql 'SELECT count(*) FROM g3.dossier_state')" "spilled: states"
[ "$(dw_psql 'SELECT count(*) FROM g1.dossier_state WHERE tombstone')" -gt 0 ] || dw_fail "no dossier left memory: nothing tested"

# ---- the output goes in in each table's primary-key order (PostgreSQL's
# index builds then find their input sorted), also merged from 3 jobs and
# their spills: rows out of order in the heap, read by ctid
out_of_order() { # out_of_order SCHEMA TABLE KEY...: rows whose key is not above the previous row's
  local s=$1 t=$2 k
  shift 2
  local key=""
  for k in "$@"; do key+="${key:+, }$k COLLATE \"C\""; done
  dw_psql "SELECT count(*) FROM (SELECT ROW($key) AS k, lag(ROW($key)) OVER (ORDER BY ctid) AS p FROM $s.$t) x WHERE p >= k"
}
for s in shadow g3; do
  dw_assert_eq 0 "$(out_of_order $s alerts alert_id)" "$s.alerts not in alert_id order"
  dw_assert_eq 0 "$(out_of_order $s dossier_state dossier_id)" "$s.dossier_state not in dossier_id order"
  dw_assert_eq 0 "$(out_of_order $s aggregates unit_type unit period_kind period)" "$s.aggregates not in key order"
done

# ---- refusals
rc=0
"$DW_BIN" replay --db "$DW_DB" --from-archive --into shadow 2>"$DW_TMP/again.log" || rc=$?
dw_assert_eq 1 "$rc" "replay into an existing schema"
grep -q 'exists already' "$DW_TMP/again.log" || dw_fail "no reason given: $(cat "$DW_TMP/again.log")"
rc=0
"$DW_BIN" replay --db "$DW_DB" --from-archive --into-live --commune 00001 2>"$DW_TMP/live.log" || rc=$?
dw_assert_eq 2 "$rc" "--into-live with a unit filter"
grep -q 'partial\|part of' "$DW_TMP/live.log" || dw_fail "no explanation: $(cat "$DW_TMP/live.log")"

# ---- swap: wipe public first so that the swap visibly restores it
dw_psql "DELETE FROM alerts; DELETE FROM aggregates"
"$DW_BIN" replay --db "$DW_DB" --swap shadow 2>"$DW_TMP/swap.log" || dw_fail "swap failed: $(cat "$DW_TMP/swap.log")"
compare public shadow "after swap"
compare shadow public "after swap"
dw_assert_eq "$live_alerts" "$(dw_psql 'SELECT count(*) FROM alerts')" "alerts after swap"
dw_psql "SELECT count(*) FROM v_open_alerts_by_agency" >/dev/null || dw_fail "view broken after swap"
dw_assert_eq 1 "$(dw_psql "SELECT count(*) FROM pg_namespace WHERE nspname = 'shadow'")" "shadow schema kept"

# ---- a shadow schema is written over several connections under a partial
# name: it has public's indexes and primary keys; a failed write leaves
# nothing; a partial schema whose replay died (no session holds its advisory
# lock) is dropped by the next replay, one still held is left alone
idx() { dw_psql "SELECT count(*) FROM pg_indexes WHERE schemaname = '$1' AND tablename IN ('alerts', 'aggregates', 'dossier_state')"; }
pk() { dw_psql "SELECT count(*) FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace JOIN pg_class c ON c.oid = k.conrelid
                WHERE n.nspname = '$1' AND k.contype = 'p' AND c.relname IN ('alerts', 'aggregates', 'dossier_state')"; }
partials() { dw_psql "SELECT coalesce(string_agg(nspname, ' ' ORDER BY nspname), '') FROM pg_namespace WHERE starts_with(nspname, 'replay_partial_')"; }
public_idx=$(idx public)
[ "$public_idx" -ge 6 ] || dw_fail "public has only $public_idx indexes on the output tables"
dw_assert_eq "$public_idx" "$(idx shadow)" "indexes of shadow vs public"
dw_assert_eq 3 "$(pk shadow)" "primary keys of shadow"
dw_assert_eq "" "$(partials)" "partial schemas after successful replays"

dw_psql "CREATE SCHEMA replay_partial_1_1; CREATE TABLE replay_partial_1_1.alerts (x int); CREATE SCHEMA replay_partial_2_2"
key=$(/usr/bin/python3 -c '
h = 1469598103934665603  # dw_hash_stable: FNV-1a 64 with the offset basis it has always used (persisted)
for b in b"dossierwatch replay replay_partial_2_2": h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
print(h & 0x7fffffffffffffff)')
dw_bg psql "$DW_DB" -Atq -c "SELECT pg_advisory_lock($key)" -c "SELECT pg_sleep(120)"
holder=$DW_LAST_PID
dw_wait_for "[ \"\$(dw_psql 'SELECT count(*) FROM pg_locks WHERE locktype = '\''advisory'\'' AND granted')\" -ge 1 ]" 20
"$DW_BIN" replay --db "$DW_DB" --from-archive --into shadow_p 2>"$DW_TMP/replay_p.log" ||
  dw_fail "replay with partial schemas around exited $?: $(cat "$DW_TMP/replay_p.log")"
grep -q 'dropped schema "replay_partial_1_1"' "$DW_TMP/replay_p.log" || dw_fail "orphan not reported: $(cat "$DW_TMP/replay_p.log")"
dw_assert_eq "replay_partial_2_2" "$(partials)" "partial schemas: the orphan dropped, the held one kept"
compare shadow shadow_p "written with partial schemas around"
dw_stop "$holder"
dw_psql "DROP SCHEMA replay_partial_2_2"

# a write that fails (a check constraint every alert row breaks, copied by LIKE)
dw_psql "ALTER TABLE public.alerts ADD CONSTRAINT no_rows_here CHECK (false) NOT VALID"
rc=0
"$DW_BIN" replay --db "$DW_DB" --from-archive --into shadow_f 2>"$DW_TMP/replay_f.log" || rc=$?
dw_psql "ALTER TABLE public.alerts DROP CONSTRAINT no_rows_here"
dw_assert_eq 1 "$rc" "replay whose write fails"
grep -q 'shadow_f.*no_rows_here' "$DW_TMP/replay_f.log" || dw_fail "failure not explained: $(cat "$DW_TMP/replay_f.log")"
dw_assert_eq 0 "$(dw_psql "SELECT count(*) FROM pg_namespace WHERE nspname = 'shadow_f'")" "schema of a failed write"
dw_assert_eq "" "$(partials)" "partial schemas after a failed write"

# ---- --into-live: public rewritten in one transaction, its indexes and keys rebuilt
dw_psql "DELETE FROM alerts; DELETE FROM aggregates"
"$DW_BIN" replay --db "$DW_DB" --from-archive --into-live 2>"$DW_TMP/replay_live.log" ||
  dw_fail "replay --into-live exited $?: $(cat "$DW_TMP/replay_live.log")"
compare public shadow "--into-live"
compare shadow public "--into-live"
dw_assert_eq 0 "$(states_differ shadow public)" "--into-live: dossier states"
dw_assert_eq "$public_idx" "$(idx public)" "public's indexes after --into-live"
dw_assert_eq 3 "$(pk public)" "public's primary keys after --into-live"

# ---- export, then audit over the export
"$DW_BIN" export --db "$DW_DB" --output "$DW_TMP/export.jsonl" 2>"$DW_TMP/export.log" ||
  dw_fail "export failed: $(cat "$DW_TMP/export.log")"
dw_assert_eq "$archived" "$(grep -c . "$DW_TMP/export.jsonl")" "exported lines"
[ ! -e "$DW_TMP/export.jsonl.partial" ] || dw_fail "export left its .partial file"
# ordered by occurred_at (all at +07:00: the text order is the time order)
jq -r .occurred_at "$DW_TMP/export.jsonl" | LC_ALL=C sort -c || dw_fail "export is not in occurred_at order"
"$DW_BIN" audit "$DW_TMP/export.jsonl" >"$DW_TMP/audit.jsonl" 2>"$DW_TMP/audit.log" ||
  dw_fail "audit of the export failed: $(cat "$DW_TMP/audit.log")"
open_db=$(dw_psql "SELECT count(*) FROM alerts WHERE cleared_at IS NULL")
open_audit=$(tail -n 1 "$DW_TMP/audit.jsonl" | jq .open_alerts)
# audit's open alerts include those of dossiers the engine already dropped
# from memory, exactly like the alerts table of watch.
dw_assert_eq "$open_db" "$open_audit" "open alerts: audit of the export vs the alerts table"
dw_assert_eq "$(field open_alerts)" "$open_db" "open alerts: replay vs the alerts table"

"$DW_BIN" export --db "$DW_DB" --output "$DW_TMP/export.avro" 2>"$DW_TMP/export_avro.log" ||
  dw_fail "Avro export failed: $(cat "$DW_TMP/export_avro.log")"
"$DW_BIN" audit "$DW_TMP/export.avro" >"$DW_TMP/audit_avro.jsonl" 2>>"$DW_TMP/audit.log" ||
  dw_fail "audit of the Avro export failed"
dw_assert_eq "$open_audit" "$(tail -n 1 "$DW_TMP/audit_avro.jsonl" | jq .open_alerts)" "audit Avro vs JSON Lines export"
echo "replay_archive: ok ($archived events, $live_alerts alerts; $summary)"
