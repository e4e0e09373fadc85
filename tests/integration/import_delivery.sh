#!/usr/bin/env bash
# import_delivery: nothing accepted is lost and no loss goes unreported.
# With a tiny local queue (queue.buffering.max.messages=50) import keeps
# polling and retrying on "queue full" until every event is delivered,
# exactly once; with no reachable broker every message's delivery fails, the
# failures are counted in the summary and the exit code is 1.
source "${DW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

command -v kcat >/dev/null || dw_fail "kcat is required"

"$DW_BIN" simulate --seed 3 --start 2025-03-03 --days 5 --communes 20 --output "$DW_TMP/ev.jsonl" 2>/dev/null
n=$(wc -l <"$DW_TMP/ev.jsonl")
[ "$n" -gt 5000 ] || dw_fail "too few events: $n"

# --- unreachable broker: every delivery fails, exit 1
head -50 "$DW_TMP/ev.jsonl" >"$DW_TMP/head.jsonl"
rc=0
timeout 120 "$DW_BIN" import "$DW_TMP/head.jsonl" --bootstrap 127.0.0.1:1 \
  --set kafka.message.timeout.ms=2000 2>"$DW_TMP/dead.log" || rc=$?
dw_assert_eq 1 "$rc" "failed deliveries exit 1"
grep -q 'produced 0, rejected 0' "$DW_TMP/dead.log" || dw_fail "summary: $(tail -2 "$DW_TMP/dead.log")"
grep -q 'delivery failed 50' "$DW_TMP/dead.log" || dw_fail "failures not counted: $(tail -2 "$DW_TMP/dead.log")"

# --- a tiny local queue: QUEUE_FULL is waited out, nothing dropped or doubled
dw_start_broker
"$DW_BIN" import "$DW_TMP/ev.jsonl" --bootstrap "$DW_BOOTSTRAP" \
  --set kafka.queue.buffering.max.messages=50 2>"$DW_TMP/small.log" ||
  dw_fail "import with a small queue failed: $(tail -3 "$DW_TMP/small.log")"
grep -q "read $n, produced $n, rejected 0" "$DW_TMP/small.log" || dw_fail "summary: $(tail -2 "$DW_TMP/small.log")"
got=$(timeout 60 kcat -b "$DW_BOOTSTRAP" -C -t dossier.events -o beginning -e -q -f '%k\n' | sort)
want=$(jq -r .dossier_id "$DW_TMP/ev.jsonl" | sort)
[ "$got" == "$want" ] || dw_fail "topic keys differ from the file ($(printf '%s\n' "$got" | wc -l) vs $n)"
echo "import_delivery: ok ($n events through a 50-message queue)"
