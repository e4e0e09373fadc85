#!/usr/bin/env bash
# demo_smoke: `dossierwatch demo` as a new user runs it (short window): it
# starts the embedded broker and PostgreSQL, runs watch and the seed-letter
# simulation, prints alerts and the ranking with Thanh An and Long Hiệp
# lowest, exits 0, and leaves no process and no directory behind.
source "$DW_SOURCE_DIR/tests/lib.sh"

out="$DW_TMP/demo.out"
timeout 300 "$DW_BIN" demo --days 5 </dev/null >"$out" 2>&1 || { cat "$out"; dw_fail "demo exited non-zero"; }
grep -q "Open alerts by severity and rule:" "$out" || dw_fail "no alert summary in the demo output"
grep -q "OVERDUE" "$out" || dw_fail "no OVERDUE alert in the demo output"
# the two lowest result-digitization rows are Thanh An, then Long Hiệp
ranking=$(awk '/^Commune ranking/{f=1; next} f && /^  [0-9]{5} /{print $2" "$3" "$4}' "$out" | head -2)
echo "$ranking" | head -1 | grep -q "Thanh An" || { cat "$out"; dw_fail "Thanh An is not lowest: $ranking"; }
echo "$ranking" | tail -1 | grep -q "Long Hiệp" || { cat "$out"; dw_fail "Long Hiệp is not second lowest: $ranking"; }
# the dashboard's URL with a province token (serve ran on the demo's data)
grep -Eq '^  http://127\.0\.0\.1:[0-9]+/#token=dwt_[0-9a-f]{12}_[0-9a-f]{64}$' "$out" || { cat "$out"; dw_fail "no dashboard URL"; }
grep -q '^Province token' "$out" || dw_fail "no province token printed"
# its own folder and processes (other demos may run on this machine)
dir=$(sed -n 's/^dossierwatch demo: working in \(.*\)$/\1/p' "$out")
[ -n "$dir" ] || dw_fail "the demo did not say where it works"
[ ! -e "$dir" ] || dw_fail "demo left its temp directory behind: $dir"
if pgrep -f "$dir" >/dev/null; then
  pgrep -af "$dir" >&2
  dw_fail "demo left processes running"
fi
echo "demo_smoke: ok"
