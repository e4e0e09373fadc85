#!/usr/bin/env bash
# cli_usage: the exit-code and help conventions of the one binary
# (CONTRIBUTING, contract §6): 0 ok, 1 failure, 2 bad usage; `--help` on
# every command prints usage to stdout and exits 0.
source "${DW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

# expect STATUS CMD...: runs CMD, checks its exit status; output in $DW_TMP/out, err.
expect() {
  local want=$1 rc=0
  shift
  "$@" >"$DW_TMP/out" 2>"$DW_TMP/err" </dev/null || rc=$?
  dw_assert_eq "$want" "$rc" "exit status of '$*' (stderr: $(head -c 300 "$DW_TMP/err"))"
}

expect 2 "$DW_BIN"
expect 2 "$DW_BIN" nosuch
grep -q "unknown command 'nosuch'" "$DW_TMP/err" || dw_fail "unknown command message: $(cat "$DW_TMP/err")"
expect 0 "$DW_BIN" --help
grep -q '^  broker ' "$DW_TMP/out" || dw_fail "--help lists the commands"
expect 0 "$DW_BIN" help migrate
grep -q 'usage: dossierwatch migrate' "$DW_TMP/out" || dw_fail "help migrate"

for cmd in broker migrate simulate import watch audit replay export demo; do
  expect 0 "$DW_BIN" "$cmd" --help
  [ -s "$DW_TMP/out" ] || dw_fail "$cmd --help prints nothing on stdout"
  grep -qi "usage" "$DW_TMP/out" || dw_fail "$cmd --help does not show a usage line"
done

# broker
expect 2 "$DW_BIN" broker --no-such-flag
grep -q -- "--no-such-flag" "$DW_TMP/err" || dw_fail "unknown flag not named: $(cat "$DW_TMP/err")"
expect 2 "$DW_BIN" broker --partitions
expect 2 "$DW_BIN" broker --partitions 0
grep -q "broker.partitions" "$DW_TMP/err" || dw_fail "range error should name broker.partitions"
expect 2 "$DW_BIN" broker --brokers many
expect 2 "$DW_BIN" broker stray-argument
expect 1 "$DW_BIN" broker --bootstrap-file "$DW_TMP/no/such/dir/bootstrap"
grep -q "bootstrap file" "$DW_TMP/err" || dw_fail "unwritable bootstrap file: $(cat "$DW_TMP/err")"

# migrate
expect 2 "$DW_BIN" migrate --wait soon --db "dbname=x"
DW_DB= expect 2 "$DW_BIN" migrate
grep -q "no database" "$DW_TMP/err" || dw_fail "missing database message"
expect 1 "$DW_BIN" migrate --wait 0 --db "host=$DW_TMP port=1 dbname=x"
grep -q "cannot connect" "$DW_TMP/err" || dw_fail "connection failure message"
expect 1 "$DW_BIN" migrate --wait 0 --db "host=$DW_TMP port=1" --migrations "$DW_TMP/none"
grep -q "$DW_TMP/none" "$DW_TMP/err" || dw_fail "missing migrations folder not named"

# pg-embedded.sh
expect 2 bash "$DW_SOURCE_DIR/deploy/pg-embedded.sh"
expect 2 bash "$DW_SOURCE_DIR/deploy/pg-embedded.sh" frobnicate "$DW_TMP/x"
expect 3 bash "$DW_SOURCE_DIR/deploy/pg-embedded.sh" status "$DW_TMP/x"
expect 0 bash "$DW_SOURCE_DIR/deploy/pg-embedded.sh" stop "$DW_TMP/x"
mkdir "$DW_TMP/notpg" && touch "$DW_TMP/notpg/keep"
expect 1 bash "$DW_SOURCE_DIR/deploy/pg-embedded.sh" stop "$DW_TMP/notpg"
[ -e "$DW_TMP/notpg/keep" ] || dw_fail "pg-embedded.sh stop deleted a directory it did not create"
echo "cli_usage: ok"
