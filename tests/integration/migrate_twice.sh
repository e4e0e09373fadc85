#!/usr/bin/env bash
# migrate_twice: `dossierwatch migrate` applies every deploy/migrations file
# once and records it; a second run applies nothing; an edited applied
# migration is refused; a failing migration is rolled back and not recorded;
# concurrent runs on a fresh database apply each migration exactly once.
source "${DW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

dw_start_pg # starts PostgreSQL and runs the first migrate
files=$(ls "$DW_SOURCE_DIR"/deploy/migrations/[0-9]*_*.sql | wc -l)
dw_assert_eq "$files" "$(grep -c '^applied ' "$DW_TMP/migrate.log")" "first run applies every file"
dw_assert_eq "$files" "$(dw_psql 'SELECT count(*) FROM schema_migrations')" "rows in schema_migrations"
dw_assert_eq "1|schema_migrations" "$(dw_psql 'SELECT version, name FROM schema_migrations ORDER BY version LIMIT 1')" \
  "first row"
dw_assert_eq 0 "$(dw_psql "SELECT count(*) FROM schema_migrations WHERE checksum !~ '^[0-9a-f]{64}\$' OR applied_at IS NULL")" \
  "checksums and times recorded"
want_sum=$(sha256sum "$DW_SOURCE_DIR/deploy/migrations/001_schema_migrations.sql" | cut -d' ' -f1)
dw_assert_eq "$want_sum" "$(dw_psql 'SELECT checksum FROM schema_migrations WHERE version = 1')" "checksum = SHA-256 of the file"

# Second run: nothing to do, same rows.
"$DW_BIN" migrate --db "$DW_DB" >"$DW_TMP/second.out"
dw_assert_eq 0 "$(grep -c '^applied ' "$DW_TMP/second.out" || true)" "second run applies nothing"
grep -q "nothing to apply" "$DW_TMP/second.out" || dw_fail "second run should say so: $(cat "$DW_TMP/second.out")"
dw_assert_eq "$files" "$(dw_psql 'SELECT count(*) FROM schema_migrations')" "rows after the second run"

# DW_MIGRATIONS_DIR / --migrations: a copy with one new migration applies just that.
mig=$DW_TMP/migrations
mkdir "$mig"
cp "$DW_SOURCE_DIR"/deploy/migrations/*.sql "$mig/"
printf -- '-- test\nCREATE TABLE migrate_test (a int);\n' >"$mig/900_migrate_test.sql"
DW_MIGRATIONS_DIR=$mig "$DW_BIN" migrate --db "$DW_DB" >"$DW_TMP/third.out"
dw_assert_eq "applied 900_migrate_test.sql" "$(grep '^applied ' "$DW_TMP/third.out")" "only the new migration"
dw_assert_eq "900|migrate_test" "$(dw_psql 'SELECT version, name FROM schema_migrations WHERE version = 900')" "new row"

# A failing migration: error names the file and line, nothing is kept.
printf 'CREATE TABLE half_done (a int);\n\nSELECT no_such_column\n  FROM half_done;\n' >"$mig/901_broken.sql"
rc=0
"$DW_BIN" migrate --db "$DW_DB" --migrations "$mig" >/dev/null 2>"$DW_TMP/broken.err" || rc=$?
dw_assert_eq 1 "$rc" "exit status of a failing migration"
grep -q "901_broken.sql.*no_such_column.*line 3" "$DW_TMP/broken.err" || dw_fail "error should name file, column and line: $(cat "$DW_TMP/broken.err")"
dw_assert_eq "" "$(dw_psql "SELECT to_regclass('half_done')")" "failed migration rolled back"
dw_assert_eq 0 "$(dw_psql 'SELECT count(*) FROM schema_migrations WHERE version = 901')" "failed migration not recorded"
rm "$mig/901_broken.sql"

# An applied migration that was edited is refused, naming the file.
echo "-- edited" >>"$mig/900_migrate_test.sql"
rc=0
"$DW_BIN" migrate --db "$DW_DB" --migrations "$mig" >/dev/null 2>"$DW_TMP/edited.err" || rc=$?
dw_assert_eq 1 "$rc" "exit status for an edited migration"
grep -q "900_migrate_test.sql was changed after it was applied" "$DW_TMP/edited.err" ||
  dw_fail "checksum error should name the file: $(cat "$DW_TMP/edited.err")"

# Misnamed files and duplicate versions are refused before touching the database.
touch "$mig/x_bad.sql"
rc=0
"$DW_BIN" migrate --db "$DW_DB" --migrations "$mig" >/dev/null 2>"$DW_TMP/name.err" || rc=$?
dw_assert_eq 1 "$rc" "exit status for a misnamed migration"
grep -q "x_bad.sql: a migration must be named NNN_name.sql" "$DW_TMP/name.err" || dw_fail "$(cat "$DW_TMP/name.err")"

# Concurrent runs on an empty database: the advisory lock makes them take
# turns, so each migration is applied exactly once in total.
dw_psql "CREATE DATABASE concurrent"
db2=${DW_DB/dbname=dossierwatch/dbname=concurrent}
pids=()
for i in 1 2 3 4; do
  dw_bg "$DW_BIN" migrate --db "$db2" >"$DW_TMP/conc$i.out" 2>"$DW_TMP/conc$i.err"
  pids+=("$DW_LAST_PID")
done
for p in "${pids[@]}"; do
  dw_stop "$p" 0 # signal 0: just wait for it
  dw_assert_eq 0 "$DW_STOP_RC" "concurrent migrate exit status"
done
dw_assert_eq "$files" "$(cat "$DW_TMP"/conc*.out | grep -c '^applied ')" "applied once in total"
dw_assert_eq "$files" "$(psql -XAtq -d "$db2" -c 'SELECT count(*) FROM schema_migrations')" "rows in the concurrent database"

# Bad usage.
rc=0; "$DW_BIN" migrate --db "nosuchoption=1" 2>/dev/null || rc=$?
dw_assert_eq 2 "$rc" "malformed conninfo is bad usage"
rc=0; DW_DB= "$DW_BIN" migrate 2>/dev/null || rc=$?
dw_assert_eq 2 "$rc" "no database is bad usage"
echo "migrate_twice: ok"
