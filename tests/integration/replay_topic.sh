#!/usr/bin/env bash
# replay_topic: `replay --from-topic --since T` starts every partition at the
# first message produced at or after T. The embedded broker (librdkafka's
# mock cluster) answers -1 to offsets-for-times, so this exercises the
# binary search over message timestamps. Import half of a simulation, note
# the time, import the rest: the replay must process exactly the second
# half. Also: --since before everything = every event, and then the engine
# agrees with audit over the same file; --since after everything = nothing;
# an undecodable message is reported with its partition/offset and counted,
# not applied.
source "$DW_SOURCE_DIR/tests/lib.sh"

dw_start_broker 6
dw_start_pg

"$DW_BIN" simulate --seed 5 --days 4 --communes 20 --output "$DW_TMP/ev.jsonl" 2>"$DW_TMP/simulate.log"
total=$(grep -c . "$DW_TMP/ev.jsonl")
half=$((total / 2))
head -n "$half" "$DW_TMP/ev.jsonl" >"$DW_TMP/first.jsonl"
tail -n +"$((half + 1))" "$DW_TMP/ev.jsonl" >"$DW_TMP/second.jsonl"
second=$(grep -c . "$DW_TMP/second.jsonl")
dw_assert_eq "$total" "$((half + second))" "split"

t_before=$(date +%s%3N)
sleep 1
"$DW_BIN" import "$DW_TMP/first.jsonl" --bootstrap "$DW_BOOTSTRAP" 2>"$DW_TMP/import1.log"
sleep 1
since=$(date +%s%3N)
since_rfc=$(date -u -d "@$((since / 1000)).$(printf %03d $((since % 1000)))" +%Y-%m-%dT%H:%M:%S.%3NZ)
sleep 1
"$DW_BIN" import "$DW_TMP/second.jsonl" --bootstrap "$DW_BOOTSTRAP" 2>"$DW_TMP/import2.log"
sleep 1
t_after=$(date +%s%3N)

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
run_replay() { # run_replay LOG ARGS... -> prints the summary line
  "$DW_BIN" replay --db "$DW_DB" --bootstrap "$DW_BOOTSTRAP" --from-topic "${@:2}" 2>"$DW_TMP/$1" ||
    dw_fail "replay ${*:2} exited $?: $(cat "$DW_TMP/$1")"
  grep '^replay: done:' "$DW_TMP/$1" || dw_fail "no summary in $1"
}

# ---- the second half only
s=$(run_replay half.log --since "$since" --into half)
echo "$s"
dw_assert_eq "$second" "$(field events "$s")" "events replayed from --since (second half)"
dw_assert_eq "0" "$(field undecodable "$s")" "undecodable"
grep -q 'binary search' "$DW_TMP/half.log" || dw_fail "the binary search was not used: $(cat "$DW_TMP/half.log")"
# the partitions' start offsets add up to the first half
starts=$(sed -n 's/.*, start at \([0-9]*\) for .*/\1/p' "$DW_TMP/half.log" | paste -sd+ | bc)
dw_assert_eq "$half" "$starts" "sum of the start offsets = messages of the first half"
dw_assert_eq "$(field alerts "$s")" "$(dw_psql 'SELECT count(*) FROM half.alerts')" "alerts written"

# the same instant as RFC 3339 gives the same start
s2=$(run_replay half_rfc.log --since "$since_rfc" --into half_rfc)
dw_assert_eq "$second" "$(field events "$s2")" "events replayed from --since $since_rfc"

# ---- everything, and the engine agrees with audit over the same events
s=$(run_replay all.log --since "$t_before" --into everything)
dw_assert_eq "$total" "$(field events "$s")" "events replayed from before the first import"
"$DW_BIN" audit "$DW_TMP/ev.jsonl" >"$DW_TMP/audit.jsonl" 2>"$DW_TMP/audit.log"
dw_assert_eq "$(tail -n 1 "$DW_TMP/audit.jsonl" | jq .open_alerts)" "$(field open_alerts "$s")" \
  "open alerts: replay from the topic vs audit of the file"
n_audit=$("$DW_BIN" audit "$DW_TMP/ev.jsonl" --history 2>/dev/null | jq -r 'select(.kind=="alert") | .alert_id' | sort -u | wc -l)
dw_assert_eq "$n_audit" "$(field alerts "$s")" "alerts ever raised: replay vs audit --history"

# ---- nothing after the last message
s=$(run_replay none.log --since "$t_after" --into nothing)
dw_assert_eq "0" "$(field events "$s")" "events replayed from after the last import"

# ---- an undecodable message: reported with partition/offset, counted, not applied
printf 'not avro at all' | kcat -P -b "$DW_BOOTSTRAP" -t dossier.events -k junk-key -p 2 2>"$DW_TMP/kcat.log" ||
  dw_fail "kcat could not produce: $(cat "$DW_TMP/kcat.log")"
s=$(run_replay junk.log --since "$t_after" --into junk)
dw_assert_eq "1" "$(field undecodable "$s")" "undecodable messages"
dw_assert_eq "0" "$(field events "$s")" "events applied besides the junk"
grep -q 'undecodable message at partition 2 offset [0-9]*' "$DW_TMP/junk.log" ||
  dw_fail "the junk message was not reported: $(cat "$DW_TMP/junk.log")"

# ---- usage
rc=0
"$DW_BIN" replay --db "$DW_DB" --from-topic --bootstrap "$DW_BOOTSTRAP" 2>/dev/null || rc=$?
dw_assert_eq 2 "$rc" "--from-topic without --since"
rc=0
"$DW_BIN" replay --db "$DW_DB" --from-topic --since "$since" --into-live --bootstrap "$DW_BOOTSTRAP" 2>/dev/null || rc=$?
dw_assert_eq 2 "$rc" "--into-live from a topic suffix without --force"
echo "replay_topic: ok ($total events, $second after --since)"
