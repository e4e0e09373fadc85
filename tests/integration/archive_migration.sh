#!/usr/bin/env bash
# archive_migration: an archive written in the former layout (migrations
# 002-007: one dossier_events row per event with its JSON payload and Avro
# value, ids in dossier_event_ids) keeps working after migration 011:
#  - every event is in a block once, readable (export gives back the same
#    events, in occurred_at order; replay applies them all, undecodable 0),
#    from its Avro value, or from its JSON payload where it had none;
#  - ids only in dossier_event_ids (their month dropped) stay duplicates:
#    their keys are in archive_events without a block;
#  - the by-dossier read (export --dossier, dw_archive_read_dossier) finds a
#    dossier's events, in order, and the kafka_partition of each event is kept.
# The old rows are made here: Avro single-object values by python3-avro
# (Debian's /usr/bin/python3, tests/integration/avro_crosscheck.py's fingerprint),
# every other row JSON only.
source "$DW_SOURCE_DIR/tests/lib.sh"

old=$DW_TMP/old_migrations
mkdir "$old"
cp "$DW_SOURCE_DIR"/deploy/migrations/00[1-7]_*.sql "$old/"
DW_MIGRATIONS_DIR=$old dw_start_pg
dw_assert_eq 7 "$(dw_psql 'SELECT max(version) FROM schema_migrations')" "the former schema"

"$DW_BIN" simulate --seed 11 --days 4 --communes 12 --output "$DW_TMP/ev.jsonl" 2>"$DW_TMP/simulate.log" ||
  dw_fail "simulate failed"
n=$(grep -c . "$DW_TMP/ev.jsonl")
[ "$n" -gt 500 ] || dw_fail "simulate wrote only $n events"

# the former rows, as COPY text: even lines with their Avro value, odd lines JSON only
PYTHONPATH=$DW_SOURCE_DIR/tests/integration /usr/bin/python3 - "$DW_SOURCE_DIR" "$DW_TMP/ev.jsonl" >"$DW_TMP/old.copy" <<'EOF'
import datetime, io, json, struct, sys
import avro.io, avro.schema
from avro_crosscheck import canonical, crc64_avro, parse_rfc3339_ms, TIME_FIELDS
src, path = sys.argv[1], sys.argv[2]
schema = avro.schema.parse(open(src + "/schemas/dossier_event.avsc", encoding="utf-8").read())
fp = struct.pack("<Q", crc64_avro(canonical(schema).encode("utf-8")))
names = [f.name for f in schema.fields]
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
def esc(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
for i, line in enumerate(open(path, encoding="utf-8")):
    ev = json.loads(line)
    rec = {k: None for k in names}
    for k, v in ev.items():
        # timestamp-millis: python3-avro wants a datetime
        rec[k] = EPOCH + datetime.timedelta(milliseconds=parse_rfc3339_ms(v)) if k in TIME_FIELDS else v
    avro_hex = "\\N"
    if i % 2 == 0:
        buf = io.BytesIO()
        avro.io.DatumWriter(schema).write(rec, avro.io.BinaryEncoder(buf))
        avro_hex = "\\\\x" + (b"\xc3\x01" + fp + buf.getvalue()).hex()
    part = sum(ev["dossier_id"].encode()) % 3
    cols = [ev["event_id"], ev["dossier_id"], ev["type"], ev["occurred_at"], ev["commune"], ev["agency"],
            ev["procedure"], line.rstrip("\n")]
    print("\t".join(esc(c) for c in cols) + "\t" + avro_hex + "\t%d\t%d" % (part, i))
EOF
dw_psql "COPY dossier_events (event_id, dossier_id, type, occurred_at, commune, agency, procedure, payload, avro,
  kafka_partition, kafka_offset) FROM STDIN" <"$DW_TMP/old.copy"
dw_psql "INSERT INTO dossier_event_ids (event_id) SELECT event_id FROM dossier_events;
  INSERT INTO dossier_event_ids (event_id) VALUES ('gone-1'), ('gone-2')"
dw_assert_eq "$n" "$(dw_psql 'SELECT count(*) FROM dossier_events')" "former archive rows"

# ---- the migration
"$DW_BIN" migrate --db "$DW_DB" >"$DW_TMP/migrate2.log" 2>&1 || dw_fail "migrate failed: $(cat "$DW_TMP/migrate2.log")"
grep -q 'applied 011_archive_blocks.sql' "$DW_TMP/migrate2.log" || dw_fail "011 not applied: $(cat "$DW_TMP/migrate2.log")"
dw_assert_eq "" "$(dw_psql "SELECT to_regclass('dossier_events')::text || to_regclass('dossier_event_ids')::text")" \
  "former tables dropped"
dw_assert_eq "$n" "$(dw_archived)" "events in blocks"
dw_assert_eq "$((n + 2))|$n" "$(dw_psql 'SELECT count(*), count(block_id) FROM archive_events')" "dedupe keys"
dw_assert_eq 2 "$(dw_psql "SELECT count(*) FROM archive_events WHERE block_id IS NULL AND event_key IN
  (SELECT encode(substring(sha256(convert_to(x, 'UTF8')) FROM 1 FOR 16), 'hex')::uuid FROM (VALUES ('gone-1'), ('gone-2')) v(x))")" \
  "ids without their event are still keys"

# ---- read back
"$DW_BIN" export --db "$DW_DB" --output "$DW_TMP/back.jsonl" 2>"$DW_TMP/export.log" || dw_fail "export failed: $(cat "$DW_TMP/export.log")"
grep -q 'undecodable=0' "$DW_TMP/export.log" || dw_fail "undecodable events: $(cat "$DW_TMP/export.log")"
jq -r .occurred_at "$DW_TMP/back.jsonl" | LC_ALL=C sort -c || dw_fail "export not in occurred_at order"
LC_ALL=C sort "$DW_TMP/ev.jsonl" >"$DW_TMP/want.sorted"
LC_ALL=C sort "$DW_TMP/back.jsonl" >"$DW_TMP/got.sorted"
cmp -s "$DW_TMP/want.sorted" "$DW_TMP/got.sorted" || {
  diff "$DW_TMP/want.sorted" "$DW_TMP/got.sorted" | head -5 >&2
  dw_fail "events read back differ from those archived"
}
"$DW_BIN" replay --db "$DW_DB" --from-archive --into shadow 2>"$DW_TMP/replay.log" || dw_fail "replay failed: $(cat "$DW_TMP/replay.log")"
grep -q "events=$n .*undecodable=0" "$DW_TMP/replay.log" || dw_fail "replay: $(tail -1 "$DW_TMP/replay.log")"

# one dossier by its index, with the partitions kept
d=$(jq -r .dossier_id "$DW_TMP/ev.jsonl" | sort | uniq -c | sort -rn | awk 'NR == 1 {print $2}')
"$DW_BIN" export --db "$DW_DB" --dossier "$d" --output "$DW_TMP/one.jsonl" 2>"$DW_TMP/one.log" || dw_fail "export --dossier failed"
jq -c "select(.dossier_id == \"$d\")" "$DW_TMP/back.jsonl" >"$DW_TMP/one.want"
jq -c . "$DW_TMP/one.jsonl" >"$DW_TMP/one.got"
cmp -s "$DW_TMP/one.want" "$DW_TMP/one.got" || dw_fail "export --dossier $d differs from its events in the full export"
[ "$(wc -l <"$DW_TMP/one.got")" -gt 1 ] || dw_fail "dossier $d: too few events to mean anything"
want_part=$(($(printf '%s' "$d" | od -An -tu1 | tr -s ' ' '\n' | awk '{s += $1} END {print s}') % 3))
dw_assert_eq "$want_part" "$(dw_psql "SELECT DISTINCT kafka_partition FROM archive_events WHERE dossier_id = '$d'")" \
  "partition kept"
echo "archive_migration: ok ($n events converted, $(dw_psql 'SELECT count(*) FROM archive_blocks') blocks)"
