#!/usr/bin/env bash
# equal_instants: one clock discipline for the three drivers (CONTRACT §4:
# at one instant events apply before timers fire; no alert is raised and
# cleared at one instant). The cases of tests/data/equal_instants (every
# time rule at the instant it would fire; README there) go through
#  - `audit --history` (its history must be the hand-computed one),
#  - `watch --clock watermark` over the embedded broker (three partitions:
#    the dossiers interleave) and PostgreSQL,
#  - `replay --from-archive` into a shadow schema,
# and the three alert histories (rule, dossier, severity, raised_at,
# cleared_at, detail) must be identical.
source "${DW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

data=$DW_SOURCE_DIR/tests/data/equal_instants
py=/usr/bin/python3

# audit's history as "dossier rule severity raised_ms cleared_ms detail" lines
"$DW_BIN" audit "$data/events.jsonl" --history >"$DW_TMP/audit.jsonl" 2>"$DW_TMP/audit.log" ||
  dw_fail "audit failed: $(cat "$DW_TMP/audit.log")"
"$py" - "$DW_TMP/audit.jsonl" >"$DW_TMP/audit.tsv" <<'PY'
import json, sys
from datetime import datetime
def ms(t): return "null" if t is None else str(int(round(datetime.fromisoformat(t).timestamp() * 1000)))
for line in open(sys.argv[1], encoding="utf-8"):
    a = json.loads(line)
    if a["kind"] == "alert":
        print("\t".join([a["dossier_id"], a["rule"], a["severity"], ms(a["raised_at"]), ms(a.get("cleared_at")), a.get("detail", "")]))
PY
sort -o "$DW_TMP/audit.tsv" "$DW_TMP/audit.tsv"

# the hand-computed history (without severity and detail)
"$py" - "$data/expected_history.tsv" >"$DW_TMP/expected.tsv" <<'PY'
import sys
from datetime import datetime
def ms(t): return "null" if t == "null" else str(int(round(datetime.fromisoformat(t).timestamp() * 1000)))
for line in open(sys.argv[1], encoding="utf-8"):
    if line.startswith("#") or not line.strip(): continue
    d, r, a, c = line.rstrip("\n").split("\t")
    print("\t".join([d, r, ms(a), ms(c)]))
PY
sort -o "$DW_TMP/expected.tsv" "$DW_TMP/expected.tsv"
cut -f1,2,4,5 "$DW_TMP/audit.tsv" | sort >"$DW_TMP/audit4.tsv"
diff "$DW_TMP/expected.tsv" "$DW_TMP/audit4.tsv" >"$DW_TMP/diff.txt" ||
  dw_fail "audit --history is not the hand-computed history: $(cat "$DW_TMP/diff.txt")"
[ "$(wc -l <"$DW_TMP/audit.tsv")" -gt 0 ] || dw_fail "no alerts at all: nothing compared"

dw_start_broker 3
dw_start_pg
"$DW_BIN" import "$data/events.jsonl" --bootstrap "$DW_BOOTSTRAP" 2>"$DW_TMP/import.log" ||
  dw_fail "import failed: $(cat "$DW_TMP/import.log")"
"$DW_BIN" watch --clock watermark --exit-when-idle 4 --bootstrap "$DW_BOOTSTRAP" --db "$DW_DB" \
  >"$DW_TMP/watch.out" 2>"$DW_TMP/watch.log" || dw_fail "watch exited $?"
"$DW_BIN" replay --db "$DW_DB" --from-archive --into shadow 2>"$DW_TMP/replay.log" ||
  dw_fail "replay failed: $(cat "$DW_TMP/replay.log")"

history() { # history SCHEMA: the alerts table as audit.tsv lines
  dw_psql "SELECT dossier_id || E'\t' || rule || E'\t' || severity || E'\t' ||
             (extract(epoch FROM raised_at) * 1000)::bigint || E'\t' ||
             COALESCE(((extract(epoch FROM cleared_at) * 1000)::bigint)::text, 'null') || E'\t' || detail
           FROM $1.alerts" | sort
}
history public >"$DW_TMP/watch.tsv"
history shadow >"$DW_TMP/replay.tsv"
diff "$DW_TMP/audit.tsv" "$DW_TMP/watch.tsv" >"$DW_TMP/diff.txt" ||
  dw_fail "watch --clock watermark differs from audit --history: $(cat "$DW_TMP/diff.txt")"
diff "$DW_TMP/audit.tsv" "$DW_TMP/replay.tsv" >"$DW_TMP/diff.txt" ||
  dw_fail "replay differs from audit --history: $(cat "$DW_TMP/diff.txt")"
# and nothing was raised and cleared at one instant (the withdrawn kind)
! grep -q 'withdrawn' "$DW_TMP/audit.tsv" || dw_fail "an alert was withdrawn: $(grep withdrawn "$DW_TMP/audit.tsv")"
echo "equal_instants: $(wc -l <"$DW_TMP/audit.tsv") alerts, identical through audit, watch and replay"
