#!/usr/bin/env bash
# import_roundtrip: `import` produces every valid line of a JSON Lines file
# to dossier.events (key = dossier_id, Avro single-object, each accepted
# event exactly once) and writes every malformed line - bad JSON, unknown
# type, missing field, bad timestamp - unchanged, with its file, line number
# and reason, to the reject file; the exit code is 1 when anything was
# rejected (0 with --allow-rejects), 1 for an unreadable file, 2 on bad usage.
source "${DW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

command -v kcat >/dev/null || dw_fail "kcat is required"
command -v jq >/dev/null || dw_fail "jq is required"
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || dw_fail "python3 is required"

src="$DW_SOURCE_DIR/tests/data/import/mixed.jsonl"
in="$DW_TMP/mixed.jsonl"
cp "$src" "$in"
# the fixture: 40 valid events, 4 malformed lines (5, 12, 20, 33), 1 blank line (27)
grep -v '"event_id":"x-' "$in" | grep -v '^$' >"$DW_TMP/valid.jsonl"
dw_assert_eq 40 "$(wc -l <"$DW_TMP/valid.jsonl")" "valid lines in the fixture"

# --- bad usage and unreadable input, before any broker exists
rc=0
"$DW_BIN" import --bootstrap 127.0.0.1:1 >/dev/null 2>&1 || rc=$?
dw_assert_eq 2 "$rc" "no input file is bad usage"
rc=0
env -u DW_BOOTSTRAP "$DW_BIN" import "$in" >/dev/null 2>&1 || rc=$?
dw_assert_eq 2 "$rc" "no bootstrap servers is bad usage"

dw_start_broker
kc() { timeout 60 kcat -b "$DW_BOOTSTRAP" "$@"; }

rc=0
"$DW_BIN" import "$DW_TMP/no-such-file.jsonl" --bootstrap "$DW_BOOTSTRAP" 2>"$DW_TMP/nofile.log" || rc=$?
dw_assert_eq 1 "$rc" "an unreadable file fails"
grep -q 'no-such-file.jsonl' "$DW_TMP/nofile.log" || dw_fail "the unreadable file is not named"

# --- the mixed file: 40 produced, 4 rejected, exit 1
rc=0
"$DW_BIN" import "$in" --bootstrap "$DW_BOOTSTRAP" 2>"$DW_TMP/import1.log" || rc=$?
dw_assert_eq 1 "$rc" "rejected lines without --allow-rejects exit 1"
grep -q 'read 44, produced 40, rejected 4' "$DW_TMP/import1.log" ||
  dw_fail "summary: $(cat "$DW_TMP/import1.log")"
grep -q 'delivery failed 0' "$DW_TMP/import1.log" || dw_fail "delivery failures: $(cat "$DW_TMP/import1.log")"

rej="$in.rejects"
[ -f "$rej" ] || dw_fail "no default reject file $rej"
dw_assert_eq 4 "$(wc -l <"$rej")" "reject records"
dw_assert_eq "5 12 20 33" "$(jq -r .line "$rej" | tr '\n' ' ' | sed 's/ $//')" "rejected line numbers"
dw_assert_eq "$in" "$(jq -r .file "$rej" | sort -u)" "reject records name the file"
check_reason() { # LINE REGEX
  jq -r --argjson l "$1" 'select(.line == $l) | .reason' "$rej" | grep -Eiq "$2" ||
    dw_fail "line $1: reason should match /$2/: $(jq -r --argjson l "$1" 'select(.line == $l) | .reason' "$rej")"
}
check_reason 5 'json'
check_reason 12 'type'
check_reason 20 'dossier_id'
check_reason 33 'occurred_at'
for l in 5 12 20 33; do
  want=$(sed -n "${l}p" "$in")
  got=$(jq -r --argjson l "$l" 'select(.line == $l) | .raw' "$rej")
  [ "$want" == "$got" ] || dw_fail "line $l: raw differs from the input line"
done

# --- what is on the topic: each accepted event exactly once, keyed by dossier
cat >"$DW_TMP/topic.py" <<'PY'
# Reads kcat output in the format '%K:%k%S:%s' (lengths make it binary-safe)
# and prints "key event_id" for each message, decoding the event_id from the
# Avro single-object value (C3 01 + 8-byte fingerprint, then the first
# field, a string: zigzag varint length + bytes).
import sys
data = sys.stdin.buffer.read()
pos = 0
def num():
    global pos
    end = data.index(b":", pos)
    v = int(data[pos:end]); pos = end + 1
    return v
while pos < len(data):
    kl = num(); key = data[pos:pos + kl]; pos += kl
    vl = num(); val = data[pos:pos + vl]; pos += vl
    assert val[:2] == b"\xc3\x01", "not Avro single-object encoding"
    p = 10; shift = n = 0
    while True:
        b = val[p]; p += 1
        n |= (b & 0x7F) << shift; shift += 7
        if not b & 0x80: break
    n = (n >> 1) ^ -(n & 1)
    print(key.decode(), val[p:p + n].decode())
PY
consume() {
  kc -C -t dossier.events -o beginning -e -q -f '%K:%k%S:%s' | "$py" "$DW_TMP/topic.py" | sort
}
jq -r '"\(.dossier_id) \(.event_id)"' "$DW_TMP/valid.jsonl" | sort >"$DW_TMP/want1.txt"
consume >"$DW_TMP/got1.txt"
cmp -s "$DW_TMP/want1.txt" "$DW_TMP/got1.txt" ||
  dw_fail "topic content differs from the accepted events: $(diff "$DW_TMP/want1.txt" "$DW_TMP/got1.txt" | head -5)"
# and with kcat's own key/length format: every key, as often as its events
kc -C -t dossier.events -o beginning -e -q -f '%k\n' | sort >"$DW_TMP/keys.txt"
jq -r .dossier_id "$DW_TMP/valid.jsonl" | sort >"$DW_TMP/wantkeys.txt"
cmp -s "$DW_TMP/wantkeys.txt" "$DW_TMP/keys.txt" || dw_fail "keys on the topic differ"

# --- a clean file: exit 0 and no reject file left behind
"$DW_BIN" import "$DW_TMP/valid.jsonl" --bootstrap "$DW_BOOTSTRAP" 2>"$DW_TMP/import2.log" ||
  dw_fail "clean import failed: $(cat "$DW_TMP/import2.log")"
grep -q 'read 40, produced 40, rejected 0' "$DW_TMP/import2.log" || dw_fail "summary: $(cat "$DW_TMP/import2.log")"
[ ! -e "$DW_TMP/valid.jsonl.rejects" ] || dw_fail "a reject file was left for a clean import"

# --- stdin, an explicit reject file, --allow-rejects: exit 0
"$DW_BIN" import - --rejects "$DW_TMP/stdin.rej" --allow-rejects --bootstrap "$DW_BOOTSTRAP" \
  <"$in" 2>"$DW_TMP/import3.log" || dw_fail "--allow-rejects should exit 0: $(cat "$DW_TMP/import3.log")"
dw_assert_eq "5 12 20 33" "$(jq -r .line "$DW_TMP/stdin.rej" | tr '\n' ' ' | sed 's/ $//')" "stdin line numbers"
dw_assert_eq "-" "$(jq -r .file "$DW_TMP/stdin.rej" | sort -u)" "stdin is named '-'"

# three imports of the 40 events: each exactly three times
consume >"$DW_TMP/got3.txt"
sort "$DW_TMP/want1.txt" "$DW_TMP/want1.txt" "$DW_TMP/want1.txt" >"$DW_TMP/want3.txt"
cmp -s "$DW_TMP/want3.txt" "$DW_TMP/got3.txt" || dw_fail "after three imports: $(wc -l <"$DW_TMP/got3.txt") messages"
echo "import_roundtrip: ok"
