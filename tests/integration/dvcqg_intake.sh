#!/usr/bin/env bash
# dvcqg_intake: intake of the national portal's sync records (DongBoHoSoMC)
# from end to end.
#  1. The whole simulator (default profile) written as records and read back
#     gives exactly the events the records can carry (tests/data/dvcqg/
#     project.jq: same order, same fields), with stable unique ids; audit
#     over both gives the same alerts and aggregates; audit reads the
#     records directly too.
#  2. A province limited to what the records carry (tests/data/dvcqg/
#     profile.json): the records, imported to Kafka in 4 chunks as a sync
#     would push them (later chunks repeat what earlier snapshots implied),
#     and the simulator's own events, each watched by `watch --clock
#     watermark` into its own PostgreSQL: the same alerts rows, the same
#     aggregate rows (the counters of events the records date at the
#     receipt - intake digitization, reuse, payment - on the year rows, as
#     they move by a few minutes). Every derived event archived once.
#  3. Bad input: a JSON Lines file with a truncated record, wrong types,
#     20251332250000, an unknown status, a missing MaHoSo and an unmapped
#     unit (each refused with the field and reason, the good lines produced
#     exactly once, exit 1); a truncated array and a truncated envelope (a
#     clear error, nothing produced); a 50 MB input as JSON Lines and as one
#     envelope (the same events).
#  4. Nothing personal anywhere: the writer fills every personal field with
#     a value containing "zzfake"; no log, reject file, event file, topic or
#     table holds one (and the records do, so the grep can fail).
source "$DW_SOURCE_DIR/tests/lib.sh"

DATA="$DW_SOURCE_DIR/tests/data/dvcqg"
T="$DW_TMP"
START=2025-03-03

# the comparison form: ids differ by design; RECEIVED's due time is checked
# through the alerts (the records always carry NgayHenTra)
norm() { jq -c 'del(.event_id) | if .type == "RECEIVED" then del(.due_at, .processing_days) else . end' "$1"; }
summary_field() { sed -n "s/.*[;,] $2 \([0-9]*\).*/\1/p" "$1" | tail -1; }

# ---- 1. everything the simulator makes, through the records ----------------------
"$DW_BIN" simulate --seed 11 --days 8 --communes 6 --start $START --format dvcqg --output "$T/all.dvcqg" \
  2>"$T/simulate_all.log" || dw_fail "simulate --format dvcqg failed"
"$DW_BIN" simulate --seed 11 --days 8 --communes 6 --start $START --output "$T/all.jsonl" 2>>"$T/simulate.log"
[ -s "$T/all.dvcqg.units.csv" ] || dw_fail "no units file next to the records"
# one record per event, except events after a dossier's end (a rating)
skipped=$(sed -n 's/.*dvcqg: \([0-9]*\) events wrote no record.*/\1/p' "$T/simulate_all.log")
dw_assert_eq "$(wc -l <"$T/all.jsonl")" "$(($(wc -l <"$T/all.dvcqg") + ${skipped:-0}))" "records written"
"$DW_BIN" import --format dvcqg --units "$T/all.dvcqg.units.csv" "$T/all.dvcqg" --output "$T/all.derived.jsonl" \
  2>"$T/import_all.log" || dw_fail "import --format dvcqg --output failed: $(cat "$T/import_all.log")"
cat "$T/import_all.log"
dw_assert_eq "$(wc -l <"$T/all.dvcqg")" "$(summary_field "$T/import_all.log" "records read")" "records read"
dw_assert_eq 0 "$(summary_field "$T/import_all.log" "records rejected")" "records rejected"
dw_assert_eq 0 "$(summary_field "$T/import_all.log" conflicts)" "conflicts"
dw_assert_eq "$(wc -l <"$T/all.derived.jsonl")" "$(summary_field "$T/import_all.log" "events derived")" "events derived"
jq -c -n -f "$DATA/project.jq" <"$T/all.jsonl" >"$T/all.proj.jsonl"
if ! diff <(norm "$T/all.proj.jsonl") <(norm "$T/all.derived.jsonl") >"$T/all.diff"; then
  head -20 "$T/all.diff" >&2
  dw_fail "the records read back are not the events they can carry"
fi
dw_assert_eq "" "$(jq -r .event_id "$T/all.derived.jsonl" | sort | uniq -d | head -3)" "duplicate event ids"
dw_assert_eq 0 "$(jq -r .event_id "$T/all.derived.jsonl" | grep -cv '^dvcqg:[^:]*:[A-Z_]*:20[0-9]\{12\}\(:[0-9]*\)\?$' || true)" \
  "ids dvcqg:{MaHoSo}:{TYPE}:{yyyyMMddHHmmss}[:n]"
for type in RECEIVED DIGITIZED DOC_REUSED SUPPLEMENT_REQUESTED SUPPLEMENT_RECEIVED RESULT_ISSUED RETURNED REJECTED \
  WITHDRAWN PAYMENT; do
  grep -q "\"type\":\"$type\"" "$T/all.derived.jsonl" || dw_fail "no $type derived: the seed does not exercise it"
done
as_of=2025-03-10T23:00:00+07:00
"$DW_BIN" audit "$T/all.proj.jsonl" --as-of $as_of --history --aggregates >"$T/audit_proj.out"
"$DW_BIN" audit "$T/all.derived.jsonl" --as-of $as_of --history --aggregates >"$T/audit_derived.out"
cmp -s "$T/audit_proj.out" "$T/audit_derived.out" || dw_fail "audit differs between the projection and the records"
"$DW_BIN" audit --format dvcqg --units "$T/all.dvcqg.units.csv" "$T/all.dvcqg" --as-of $as_of --history --aggregates \
  >"$T/audit_records.out" 2>"$T/audit_records.log" || dw_fail "audit --format dvcqg failed"
cmp -s "$T/audit_records.out" "$T/audit_derived.out" || dw_fail "audit over the records differs from audit over their events"

# ---- 2. Kafka and watch: the records against the simulator's events ----------------
P=(--profile "$DATA/profile.json" --seed 12 --days 8 --start $START)
"$DW_BIN" simulate "${P[@]}" --format dvcqg --output "$T/rec.dvcqg" 2>>"$T/simulate.log"
"$DW_BIN" simulate "${P[@]}" --output "$T/sim.jsonl" 2>>"$T/simulate.log"
"$DW_BIN" import --format dvcqg --units "$T/rec.dvcqg.units.csv" "$T/rec.dvcqg" --output "$T/rec.derived.jsonl" \
  2>"$T/import_rec.log" || dw_fail "import of the records failed"
unique=$(wc -l <"$T/rec.derived.jsonl")

# one partition: watch then sees each topic in the order it was produced (see
# replay_archive.sh), and the comparison does not depend on fetch timing.
# The broker makes the topics it is configured with at that count (others
# get the mock cluster's default): sim.events is made as its dead-letter topic.
dw_start_broker 1 --set topic.dlq=sim.events
dw_start_pg rec
DB_REC=$DW_DB
dw_start_pg sim
DB_SIM=$DW_DB
split -n l/4 -d "$T/rec.dvcqg" "$T/chunk."
produced=0
for c in "$T"/chunk.0*; do
  "$DW_BIN" import --format dvcqg --units "$T/rec.dvcqg.units.csv" "$c" --bootstrap "$DW_BOOTSTRAP" \
    2>"$T/import_chunk.log" || dw_fail "import of $c failed: $(cat "$T/import_chunk.log")"
  cat "$T/import_chunk.log" >>"$T/import.log"
  produced=$((produced + $(sed -n 's/^import: read [0-9]*, produced \([0-9]*\),.*/\1/p' "$T/import_chunk.log")))
done
grep '^import:' "$T/import.log"
[ "$produced" -ge "$unique" ] || dw_fail "the chunks produced $produced events, fewer than the $unique the records imply"
"$DW_BIN" import "$T/sim.jsonl" --bootstrap "$DW_BOOTSTRAP" --set topic.events=sim.events 2>>"$T/import.log" ||
  dw_fail "import of the simulator's events failed"

"$DW_BIN" watch --clock watermark --exit-when-idle 5 --bootstrap "$DW_BOOTSTRAP" --db "$DB_REC" --group rec \
  >"$T/watch_rec.out" 2>"$T/watch_rec.log" || dw_fail "watch (records) exited $?"
"$DW_BIN" watch --clock watermark --exit-when-idle 5 --bootstrap "$DW_BOOTSTRAP" --db "$DB_SIM" --group sim \
  --set topic.events=sim.events --set topic.alerts=sim.alerts --set topic.aggregates=sim.aggregates \
  >"$T/watch_sim.out" 2>"$T/watch_sim.log" || dw_fail "watch (events) exited $?"

# nothing lost, nothing twice: every derived event archived once, the
# repeats of the later chunks ignored as duplicates
DW_DB=$DB_REC
dw_assert_eq "$unique" "$(dw_archived)" "archived = events the records imply"
dw_assert_eq "$unique" "$(dw_psql "SELECT count(DISTINCT event_key) FROM archive_events WHERE block_id IS NOT NULL")" "archived once each"
dw_assert_eq "$produced" "$(dw_psql "SELECT sum(next_offset) FROM kafka_offsets WHERE consumer_group = 'rec'")" \
  "watch consumed every message produced"
DW_DB=$DB_SIM
dw_assert_eq "$(wc -l <"$T/sim.jsonl")" "$(dw_archived)" "simulator's events archived"
dw_assert_eq 1 "$(dw_psql "SELECT count(*) FROM kafka_offsets WHERE consumer_group = 'sim'")" "sim.events has one partition"

alert_cols="alert_id, rule, dossier_id, commune, agency, procedure, severity, raised_at, due_at, cleared_at, detail"
same_counters="received, online, online_full, paper_requests_from_warehouse, results_issued, results_digitized,
  on_time, late, apologies, ratings, rating_sum"
moved_counters="intake_digitized, reused_docs, dossiers_with_reuse, paid, paid_online"
dump() { # dump DB SQL FILE
  psql -XAtq -v ON_ERROR_STOP=1 -d "$1" -c "$2" | sort >"$3"
}
dump "$DB_REC" "SELECT $alert_cols FROM alerts" "$T/alerts_rec.txt"
dump "$DB_SIM" "SELECT $alert_cols FROM alerts" "$T/alerts_sim.txt"
alerts=$(wc -l <"$T/alerts_rec.txt")
[ "$alerts" -gt 100 ] || dw_fail "only $alerts alerts: nothing to compare"
for rule in DUE_SOON OVERDUE APOLOGY_MISSING INTAKE_NOT_DIGITIZED RESULT_NOT_DIGITIZED; do
  grep -q "|$rule|" "$T/alerts_rec.txt" || dw_fail "no $rule alert from the records"
done
if ! diff "$T/alerts_sim.txt" "$T/alerts_rec.txt" >"$T/alerts.diff"; then
  head -10 "$T/alerts.diff" >&2
  dw_fail "alerts differ between the records and the simulator's events"
fi
# rows whose compared counters are all 0 carry no information (a row may
# exist for a moved counter alone)
nonzero="(received, online, online_full, paper_requests_from_warehouse, results_issued, results_digitized, on_time,
  late, apologies, ratings, rating_sum) <> (0,0,0,0,0,0,0,0,0,0,0)"
q="SELECT unit_type, unit, period_kind, period, $same_counters FROM aggregates WHERE $nonzero"
dump "$DB_REC" "$q" "$T/agg_rec.txt"
dump "$DB_SIM" "$q" "$T/agg_sim.txt"
[ "$(wc -l <"$T/agg_rec.txt")" -gt 50 ] || dw_fail "only $(wc -l <"$T/agg_rec.txt") aggregate rows"
diff -q "$T/agg_sim.txt" "$T/agg_rec.txt" >/dev/null || { diff "$T/agg_sim.txt" "$T/agg_rec.txt" | head >&2; dw_fail "aggregate rows differ"; }
q="SELECT unit_type, unit, period, $moved_counters FROM aggregates WHERE period_kind = 'year'"
dump "$DB_REC" "$q" "$T/year_rec.txt"
dump "$DB_SIM" "$q" "$T/year_sim.txt"
diff -q "$T/year_sim.txt" "$T/year_rec.txt" >/dev/null || { diff "$T/year_sim.txt" "$T/year_rec.txt" | head >&2; dw_fail "year totals differ"; }
echo "watch: $alerts alert rows and $(wc -l <"$T/agg_rec.txt") aggregate rows equal"

# ---- 2b. the same records over HTTP: serve's POST /api/dvcqg/DongBoHoSoMC -----------
# the portal's envelopes of 100 records each, POSTed in order by an ingest
# token; serve produces the derived events to http.events and answers only
# once Kafka confirmed them; watch over them gives the rows of the import path
dw_start_pg http
DB_HTTP=$DW_DB
source "$DW_SOURCE_DIR/tests/http_lib.sh"
ING=$(DW_DB=$DB_HTTP dw_token feeder ingest)
[ -n "$ING" ] || dw_fail "no ingest token"
DW_DB=$DB_HTTP dw_start_serve --bootstrap "$DW_BOOTSTRAP" --set http.dvcqg_units="$T/rec.dvcqg.units.csv" \
  --set topic.events=http.events
split -l 100 -d -a 4 "$T/rec.dvcqg" "$T/post."
posts=0
for c in "$T"/post.[0-9]*; do
  jq -s -c '{session: "s1", madonvi: "", service: "DongBoHoSoMC", isUpdating: "True", data: .}' "$c" >"$c.json"
  code=$(curl -s -o "$c.reply" -w '%{http_code}' -H "Authorization: Bearer $ING" -H 'Content-Type: application/json' \
    --data-binary "@$c.json" "http://$DW_SERVE/api/dvcqg/DongBoHoSoMC")
  dw_assert_eq 200 "$code" "POST of $(basename "$c") ($(head -c 300 "$c.reply"))"
  dw_assert_eq '"0"' "$(jq -c .error_code "$c.reply")" "portal error_code of $(basename "$c")"
  posts=$((posts + 1))
done
# a refused record: a non-zero code naming its MaHoSo and the reason; nothing else lost
jq -c '.data[0].NgayTiepNhan = "20251332250000" | .data[0].MaHoSo = "BAD-1"' "$T/post.0000.json" >"$T/bad.post.json"
curl -s -o "$T/bad.reply" -H "Authorization: Bearer $ING" -H 'Content-Type: application/json' \
  --data-binary "@$T/bad.post.json" "http://$DW_SERVE/api/dvcqg/DongBoHoSoMC"
[ "$(jq -r .error_code "$T/bad.reply")" != 0 ] || dw_fail "a refused record answered 0: $(cat "$T/bad.reply")"
grep -q 'BAD-1' "$T/bad.reply" || dw_fail "the refused record's MaHoSo is not in the reply: $(cat "$T/bad.reply")"
grep -q 'NgayTiepNhan' "$T/bad.reply" || dw_fail "the reason does not name the field: $(cat "$T/bad.reply")"
"$DW_BIN" watch --clock watermark --exit-when-idle 5 --bootstrap "$DW_BOOTSTRAP" --db "$DB_HTTP" --group http \
  --set topic.events=http.events --set topic.alerts=http.alerts --set topic.aggregates=http.aggregates \
  >"$T/watch_http.out" 2>"$T/watch_http.log" || dw_fail "watch (http) exited $?"
DW_DB=$DB_HTTP
dw_assert_eq "$unique" "$(dw_archived)" "archived over HTTP = events the records imply"
dump "$DB_HTTP" "SELECT $alert_cols FROM alerts" "$T/alerts_http.txt"
diff -q "$T/alerts_rec.txt" "$T/alerts_http.txt" >/dev/null ||
  { diff "$T/alerts_rec.txt" "$T/alerts_http.txt" | head >&2; dw_fail "alerts differ between HTTP and import"; }
q="SELECT unit_type, unit, period_kind, period, $same_counters, $moved_counters FROM aggregates"
dump "$DB_REC" "$q" "$T/aggall_rec.txt"
dump "$DB_HTTP" "$q" "$T/aggall_http.txt"
diff -q "$T/aggall_rec.txt" "$T/aggall_http.txt" >/dev/null ||
  { diff "$T/aggall_rec.txt" "$T/aggall_http.txt" | head >&2; dw_fail "aggregates differ between HTTP and import"; }
dw_stop "$DW_SERVE_PID"
echo "http: $posts POSTs, the same $alerts alert rows and aggregates as the import path"

# ---- 3. bad input ------------------------------------------------------------------
# the first 40 records, then one line of each kind of bad record
head -40 "$T/rec.dvcqg" >"$T/bad.dvcqg"
line=$(sed -n 41p "$T/rec.dvcqg")
{
  echo "${line:0:200}" # cut inside the personal fields
  jq -c '.TaiLieuNop = "Tờ khai"' <<<"$line"
  jq -c '.NgayTiepNhan = "20251332250000"' <<<"$line"
  jq -c '.TrangThaiHoSo = "12"' <<<"$line"
  jq -c 'del(.MaHoSo)' <<<"$line"
  jq -c '.DonViXuLy = "Xã Không Có"' <<<"$line"
  echo
  sed -n 42,60p "$T/rec.dvcqg"
} >>"$T/bad.dvcqg"
"$DW_BIN" import --format dvcqg --units "$T/rec.dvcqg.units.csv" "$T/bad.dvcqg" --output "$T/bad.expected.jsonl" \
  --allow-rejects 2>/dev/null || dw_fail "import --allow-rejects failed"
rc=0
"$DW_BIN" import --format dvcqg --units "$T/rec.dvcqg.units.csv" "$T/bad.dvcqg" --bootstrap "$DW_BOOTSTRAP" \
  --set topic.events=bad.events --rejects "$T/bad.rejects" 2>"$T/import_bad.log" || rc=$?
cat "$T/import_bad.log"
dw_assert_eq 1 "$rc" "import exit status with refused records"
dw_assert_eq 6 "$(wc -l <"$T/bad.rejects")" "reject file lines"
dw_assert_eq 6 "$(summary_field "$T/import_bad.log" "records rejected")" "records rejected"
dw_assert_eq 1 "$(summary_field "$T/import_bad.log" blank)" "blank"
for want in "invalid JSON at line 41 column" "field 'TaiLieuNop': expected a list, got a string" \
  "field 'NgayTiepNhan': '20251332250000' is not a date yyyyMMddHHmmss (month 13)" \
  "field 'TrangThaiHoSo': unknown value '12' (1..10)" "field 'MaHoSo': missing" \
  "field 'DonViXuLy': unit 'Xã Không Có' is not in the units file"; do
  grep -qF "$want" "$T/bad.rejects" || dw_fail "no reject saying: $want"
done
dw_assert_eq "41 42 43 44 45 46" "$(jq -r .line "$T/bad.rejects" | tr '\n' ' ' | sed 's/ $//')" "reject lines"
dw_assert_eq 5 "$(jq -r 'select(.raw) | .raw' "$T/bad.rejects" | wc -l)" "refused records keep their blanked text (not the broken one)"
ma=$(jq -r .MaHoSo <<<"$line")
grep -q "MaHoSo '$ma'" "$T/bad.rejects" || dw_fail "rejects do not name the dossier $ma"
kcat -C -b "$DW_BOOTSTRAP" -t bad.events -o beginning -e -q -f '%k\n' >"$T/bad.keys" 2>"$T/kcat.log" || true
dw_assert_eq "$(wc -l <"$T/bad.expected.jsonl")" "$(wc -l <"$T/bad.keys")" "good records' events produced exactly once"
# truncated array and envelope: a clear error, nothing produced
{ echo "["; head -20 "$T/rec.dvcqg" | paste -sd,; echo ",${line:0:300}"; } >"$T/trunc_array.json"
{ printf '{"session":"s","madonvi":"x","service":"DongBoHoSoMC","isUpdating":"True","data":[\n'; head -20 "$T/rec.dvcqg" | paste -sd,; echo ",${line:0:300}"; } >"$T/trunc_env.json"
for f in trunc_array trunc_env; do
  rc=0
  "$DW_BIN" import --format dvcqg --units "$T/rec.dvcqg.units.csv" "$T/$f.json" --bootstrap "$DW_BOOTSTRAP" \
    --set topic.events=trunc.events 2>"$T/import_$f.log" || rc=$?
  cat "$T/import_$f.log"
  dw_assert_eq 1 "$rc" "$f: exit status"
  grep -q "cannot read $T/$f.json: .*invalid JSON at line 3 column [0-9]*: unexpected newline" "$T/import_$f.log" ||
    dw_fail "$f: no clear error"
  grep -q "produced 0," "$T/import_$f.log" || dw_fail "$f: something was produced"
done
# 50 MB: JSON Lines and the same records as one envelope
"$DW_BIN" simulate --seed 13 --days 17 --communes 40 --start $START --format dvcqg --output "$T/big.dvcqg" 2>>"$T/simulate.log"
size=$(stat -c %s "$T/big.dvcqg")
[ "$size" -ge $((50 * 1024 * 1024)) ] || dw_fail "the big input is only $size bytes"
{ printf '{"session":"s","madonvi":"x","service":"DongBoHoSoMC","isUpdating":"False","data":[\n'; paste -sd, "$T/big.dvcqg"; echo ']}'; } >"$T/big.env.json"
timer=()
[ -x /usr/bin/time ] && timer=(/usr/bin/time -f "%e s, %M KB peak")
for f in big.dvcqg big.env.json; do
  "${timer[@]}" "$DW_BIN" import --format dvcqg --units "$T/big.dvcqg.units.csv" "$T/$f" --output "$T/$f.out.jsonl" \
    2>"$T/import_$f.log" || dw_fail "import of $f failed: $(tail -3 "$T/import_$f.log")"
  echo "$f ($(stat -c %s "$T/$f") bytes): $(tail -2 "$T/import_$f.log" | tr '\n' ' ')"
done
dw_assert_eq "$(wc -l <"$T/big.dvcqg")" "$(summary_field "$T/import_big.dvcqg.log" "records read")" "50 MB: records read"
cmp -s "$T/big.dvcqg.out.jsonl" "$T/big.env.json.out.jsonl" || dw_fail "the envelope gave other events than its lines"

# ---- 4. nothing personal anywhere ----------------------------------------------------------
grep -qi zzfake "$T/rec.dvcqg" || dw_fail "the records hold no fake personal value: the checks below prove nothing"
for f in "$T"/*.log "$T"/*.rejects "$T"/*.jsonl "$T"/*.out "$T"/watch_*.out "$T"/*.csv; do
  if grep -qi zzfake "$f"; then
    grep -i -m3 zzfake "$f" >&2
    dw_fail "personal data in $f"
  fi
done
for db in "$DB_REC" "$DB_SIM"; do
  # the blocks' bytes (lz4 undone by PostgreSQL) and the events as export decodes them
  n=$(psql -XAtq -d "$db" -c "SELECT count(*) FROM archive_blocks WHERE position(convert_to('zzfake', 'UTF8') IN events) > 0
       OR position(convert_to('ZZFAKE', 'UTF8') IN events) > 0")
  dw_assert_eq 0 "$n" "personal data in the archive blocks"
  "$DW_BIN" export --db "$db" --output - 2>/dev/null | grep -qi zzfake && dw_fail "personal data in the exported archive"
  n=$(psql -XAtq -d "$db" -c "SELECT count(*) FROM alerts WHERE detail ILIKE '%zzfake%'")
  dw_assert_eq 0 "$n" "personal data in alerts"
done
for topic in dossier.events bad.events; do
  if kcat -C -b "$DW_BOOTSTRAP" -t $topic -o beginning -e -q 2>/dev/null | grep -qi zzfake; then
    dw_fail "personal data on $topic"
  fi
done
echo "dvcqg_intake: ok"
