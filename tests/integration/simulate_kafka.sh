#!/usr/bin/env bash
# simulate_kafka: `simulate --kafka` produces exactly the events it writes to
# a file for the same seed: one message per event on dossier.events, key =
# dossier_id, value = Avro single-object (C3 01 + fingerprint), all delivered
# (summary says failed 0); --rate paces the output.
source "${DW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

command -v kcat >/dev/null || dw_fail "kcat is required"
command -v jq >/dev/null || dw_fail "jq is required"
sim() { "$DW_BIN" simulate --seed 11 --start 2025-06-02 --days 4 --communes 15 "$@"; }

sim --output "$DW_TMP/ev.jsonl" 2>/dev/null
n=$(wc -l <"$DW_TMP/ev.jsonl")
[ "$n" -gt 1000 ] || dw_fail "too few events: $n"

dw_start_broker
sim --kafka --bootstrap "$DW_BOOTSTRAP" 2>"$DW_TMP/sim.log" || dw_fail "simulate --kafka: $(tail -3 "$DW_TMP/sim.log")"
grep -q "delivered $n, failed 0" "$DW_TMP/sim.log" || dw_fail "summary: $(cat "$DW_TMP/sim.log")"

timeout 60 kcat -b "$DW_BOOTSTRAP" -C -t dossier.events -o beginning -e -q -f '%k\n' | sort >"$DW_TMP/keys.txt"
jq -r .dossier_id "$DW_TMP/ev.jsonl" | sort >"$DW_TMP/want.txt"
cmp -s "$DW_TMP/want.txt" "$DW_TMP/keys.txt" || dw_fail "keys on the topic differ from the file's dossier ids"
# values start with the single-object marker C3 01
timeout 60 kcat -b "$DW_BOOTSTRAP" -C -t dossier.events -p 0 -o beginning -c 1 -q -f '%s' >"$DW_TMP/one.bin"
dw_assert_eq "c301" "$(od -An -tx1 -N2 "$DW_TMP/one.bin" | tr -d ' \n')" "Avro single-object marker"

# --rate: 600 events at 300/s take about two seconds
start=$EPOCHREALTIME
"$DW_BIN" simulate --seed 1 --start 2025-06-02 --days 1 --communes 3 --rate 300 --output "$DW_TMP/r.jsonl" 2>/dev/null
m=$(wc -l <"$DW_TMP/r.jsonl")
elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
awk -v m="$m" -v e="$elapsed" 'BEGIN { want = m / 300; exit !(e >= want * 0.8 && e <= want * 1.5 + 0.5) }' ||
  dw_fail "--rate 300: $m events in $elapsed s"
echo "simulate_kafka: ok ($n events; --rate 300: $m events in $elapsed s)"
