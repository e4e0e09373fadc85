#!/usr/bin/env bash
# notify_cli: the usage conventions of `notify` and `silence` (0 ok, 1
# failure, 2 bad usage; --help on stdout), and the silences API through the
# command: matchers checked (label, operator, regular expression and its
# bounds), who and why required, --for/--until, list as table and as serve's
# JSON, expire (twice is a failure), a silence of no matcher refused, and a
# stored matcher that no longer reads leaving its silence silencing nothing.
source "${DW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

expect() {
  local want=$1 rc=0
  shift
  "$@" >"$DW_TMP/out" 2>"$DW_TMP/err" </dev/null || rc=$?
  dw_assert_eq "$want" "$rc" "exit status of '$*' (stderr: $(head -c 300 "$DW_TMP/err"))"
}
has() { grep -qF -- "$1" "$DW_TMP/err" || dw_fail "stderr should contain '$1': $(cat "$DW_TMP/err")"; }

for cmd in notify silence; do
  expect 0 "$DW_BIN" "$cmd" --help
  grep -q "usage: dossierwatch $cmd" "$DW_TMP/out" || dw_fail "$cmd --help"
done
expect 2 "$DW_BIN" notify --db x
has "no routes file"
expect 2 "$DW_BIN" notify --routes /nonexistent.yaml --db x
has "/nonexistent.yaml"
expect 2 "$DW_BIN" notify --routes /dev/null --db x --clock sundial
has "notify.clock"
expect 2 "$DW_BIN" silence
expect 2 "$DW_BIN" silence frobnicate --db x
has "expected add, list or expire"

dw_start_pg
S=("$DW_BIN" silence --db "$DW_DB")
expect 2 "${S[@]}" add --for 1h --author a --comment c
has "at least one --matcher"
expect 2 "${S[@]}" add --matcher 'colour=red' --for 1h --author a --comment c
has "unknown label 'colour'"
expect 2 "${S[@]}" add --matcher 'rule=~"("' --for 1h --author a --comment c
has "bad regular expression"
# a regular expression regcomp could not compile in bounded time is refused
expect 2 "${S[@]}" add --matcher 'rule=~"((a*)*)*"' --for 1h --author a --comment c
has "regular expression refused: *, + or ? nested three deep"
expect 2 "${S[@]}" add --matcher 'commune=~"((a|b)*){50}"' --for 1h --author a --comment c
has "regular expression refused: a count over a quantifier"
expect 2 "${S[@]}" add --matcher 'rule=OVERDUE' --author a --comment c
has "--until T and --for DURATION"
expect 2 "${S[@]}" add --matcher 'rule=OVERDUE' --for soon --author a --comment c
has "not a duration"
expect 2 "${S[@]}" add --matcher 'rule=OVERDUE' --for 1h --author a
has "--comment are required"
expect 0 "${S[@]}" add --matcher 'agency=UBND-30412' --matcher 'rule=DUE_SOON' --for 8h --author "Nguyễn" --comment "bảo trì"
id=$(cat "$DW_TMP/out")
[[ $id =~ ^[0-9a-f-]{36}$ ]] || dw_fail "add printed '$id'"
expect 0 "${S[@]}" list
grep -q "$id  active" "$DW_TMP/out" || dw_fail "list: $(cat "$DW_TMP/out")"
grep -qF 'agency="UBND-30412" rule="DUE_SOON"' "$DW_TMP/out" || dw_fail "list matchers: $(cat "$DW_TMP/out")"
expect 0 "${S[@]}" list --format json
jq -e '.[0] | (.matchers | length) == 2 and .createdBy == "Nguyễn" and .status.state == "active"
  and .matchers[0] == {"name":"agency","value":"UBND-30412","isRegex":false,"isEqual":true}' "$DW_TMP/out" >/dev/null ||
  dw_fail "json: $(cat "$DW_TMP/out")"
dw_assert_eq 2 "$(dw_psql "SELECT count(*) FROM silence_matchers WHERE silence_id = '$id'")" "stored matchers"
expect 0 "${S[@]}" expire "$id"
expect 1 "${S[@]}" expire "$id"
has "no silence $id in force or pending"
expect 1 "${S[@]}" expire not-an-id
expect 0 "${S[@]}" list
grep -q "(none)" "$DW_TMP/out" || dw_fail "an expired silence listed without --all"
expect 0 "${S[@]}" list --all
grep -q "$id  expired" "$DW_TMP/out" || dw_fail "list --all: $(cat "$DW_TMP/out")"
expect 0 "${S[@]}" add --matcher 'commune!=30412' --from 2030-01-01 --until 2030-01-02 --author a --comment c
expect 0 "${S[@]}" list
grep -q "pending" "$DW_TMP/out" || dw_fail "a future silence is not pending"
# a stored matcher that no longer reads (stored before a check it fails) does
# not leave the silence broader than asked: the silence silences nothing
bad=$(dw_psql "WITH s AS (INSERT INTO silences (starts_at, ends_at, created_by, comment)
  VALUES (now(), now() + interval '1 hour', 'a', 'c') RETURNING id)
  INSERT INTO silence_matchers SELECT id, p, l, o, v FROM s,
  (VALUES (0, 'commune', '=', '30412'), (1, 'rule', '=~', '((a*)*)*')) m(p, l, o, v) RETURNING silence_id" | head -1)
expect 0 "${S[@]}" list --format json
has "silence $bad: stored matcher unreadable"
has "the silence silences nothing"
jq -e --arg id "$bad" '.[] | select(.id == $id) | .matchers == []' "$DW_TMP/out" >/dev/null ||
  dw_fail "the unreadable silence should list no matcher: $(cat "$DW_TMP/out")"
echo "notify_cli: ok"
