#!/usr/bin/env bash
# install_layout: the binary runs from an installed location with no source
# tree: `cmake --install` into a fresh prefix, then from another folder and
# without DW_SOURCE_DIR the installed binary migrates a database (compiled-in
# migrations), simulates a preset (compiled-in), audits (compiled-in schemas)
# on the installed calendars, and those calendars are really the ones used
# (an extra day off in the installed copy moves a due time).
source "${DW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

[ -n "${DW_BUILD_DIR:-}" ] || dw_fail "DW_BUILD_DIR not set (run through ctest)"
prefix=$DW_TMP/prefix
cmake --install "$DW_BUILD_DIR" --prefix "$prefix" >"$DW_TMP/install.log" 2>&1 || dw_fail "install: $(tail -3 "$DW_TMP/install.log")"
bin=$prefix/bin/dossierwatch
[ -x "$bin" ] || dw_fail "no $bin"
for f in calendars/vn-2025.txt migrations/001_schema_migrations.sql schemas/alert.avsc simulate/seed-letter.json pg-embedded.sh; do
  [ -e "$prefix/share/dossierwatch/$f" ] || dw_fail "not installed: share/dossierwatch/$f"
done
dw_start_pg
cp "$DW_SOURCE_DIR/tests/data/equal_instants/events.jsonl" "$DW_TMP/events.jsonl"
run() { (cd / && env -u DW_SOURCE_DIR -u DW_CALENDAR_DIR -u DW_MIGRATIONS_DIR -u DW_SIMULATE_DIR "$bin" "$@"); }

dw_psql "DROP SCHEMA public CASCADE; CREATE SCHEMA public" >/dev/null
run migrate --db "$DW_DB" >"$DW_TMP/migrate.log" 2>&1 || dw_fail "installed migrate: $(cat "$DW_TMP/migrate.log")"
[ "$(dw_psql "SELECT count(*) FROM schema_migrations")" -eq "$(ls "$DW_SOURCE_DIR"/deploy/migrations/*.sql | wc -l)" ] ||
  dw_fail "not every migration applied by the installed binary"
run simulate --preset seed-letter --days 2 --output "$DW_TMP/sim.jsonl" 2>"$DW_TMP/sim.log" ||
  dw_fail "installed simulate: $(cat "$DW_TMP/sim.log")"
[ -s "$DW_TMP/sim.jsonl" ] || dw_fail "simulate wrote nothing"

due() { run audit "$DW_TMP/events.jsonl" --history 2>/dev/null | jq -r 'select(.kind == "alert" and .dossier_id == "EQ-B1" and .rule == "DUE_SOON") | .due_at'; }
dw_assert_eq "2025-04-22T08:00:00+07:00" "$(due)" "due time on the installed calendars"
# the installed calendars are the ones read: make Tue 22 Apr 2025 a day off
echo "2025-04-22 off   # test: a day off added to the installed copy" >>"$prefix/share/dossierwatch/calendars/vn-2025.txt"
dw_assert_eq "2025-04-23T08:00:00+07:00" "$(due)" "due time once the installed calendar has a day off more"
echo "install_layout: ok"
