#!/usr/bin/env bash
# broker_roundtrip: the embedded broker (`dossierwatch broker`) hosts the four
# dossierwatch topics with the configured partitions, and Kafka clients
# (kcat) can produce, consume directly and consume in a consumer group with
# committed offsets; the control FIFO takes brokers down and up; SIGTERM
# shuts it down cleanly (exit 0, bootstrap file and FIFO removed).
source "${DW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

command -v kcat >/dev/null || dw_fail "kcat is required"
command -v jq >/dev/null || dw_fail "jq is required"
kc() { timeout 60 kcat -b "$DW_BOOTSTRAP" "$@"; }

dw_start_broker
dw_assert_eq "$DW_BOOTSTRAP" "$(cat "$DW_TMP/broker.out")" "stdout is exactly the bootstrap line"
[[ $DW_BOOTSTRAP =~ ^127\.0\.0\.1:[0-9]+(,127\.0\.0\.1:[0-9]+){2}$ ]] ||
  dw_fail "bootstrap should list 3 loopback brokers: $DW_BOOTSTRAP"

# Metadata: 4 topics x 6 partitions, 3 replicas each.
kc -L -J >"$DW_TMP/meta.json"
dw_assert_eq 3 "$(jq '.brokers | length' "$DW_TMP/meta.json")" "brokers"
got=$(jq -r '.topics[] | "\(.topic) \(.partitions | length) \([.partitions[].replicas | length] | min)"' \
  "$DW_TMP/meta.json" | sort | tr '\n' ';')
dw_assert_eq "compliance.aggregates 6 3;dossier.alerts 6 3;dossier.events 6 3;dossier.events.dlq 6 3;" \
  "$got" "topics, partitions, replicas"

# Produce N keyed messages; values carry a line number so content is checked.
n=2000
seq 1 "$n" | awk '{printf "d%04d|event %d {\"x\":%d}\n", $1 % 97, $1, $1}' >"$DW_TMP/in.txt"
kc -P -t dossier.events -K '|' -X queue.buffering.max.messages=1000000 <"$DW_TMP/in.txt"
sort "$DW_TMP/in.txt" >"$DW_TMP/want.txt"

# Plain consumer, from the beginning, exit at the end of every partition.
kc -C -t dossier.events -o beginning -e -q -f '%k|%s\n' | sort >"$DW_TMP/got.txt"
cmp -s "$DW_TMP/want.txt" "$DW_TMP/got.txt" || dw_fail "plain consumer: messages differ ($(wc -l <"$DW_TMP/got.txt") lines)"

# A key always lands in one partition.
kc -C -t dossier.events -o beginning -e -q -f '%k %p\n' | sort -u >"$DW_TMP/kp.txt"
dw_assert_eq 97 "$(wc -l <"$DW_TMP/kp.txt")" "distinct (key, partition) pairs"
dw_assert_eq 6 "$(awk '{print $2}' "$DW_TMP/kp.txt" | sort -u | wc -l)" "partitions used"

# Consumer group: reads everything once and commits its offsets, so a second
# run of the same group reads nothing. (The second join waits for the first
# member's session to time out, hence the short session timeout.)
group() { kc -G grp1 -X auto.offset.reset=earliest -X session.timeout.ms=6000 -e -q -f '%k|%s\n' dossier.events; }
group | sort >"$DW_TMP/group.txt"
cmp -s "$DW_TMP/want.txt" "$DW_TMP/group.txt" || dw_fail "group consumer: messages differ ($(wc -l <"$DW_TMP/group.txt") lines)"
dw_assert_eq 0 "$(group | wc -l)" "second run of the same group"

# Control channel: bad lines are refused, down/up are acknowledged, and the
# cluster serves again once the broker is back.
exec {ctl}<>"$DW_BROKER_CONTROL"
echo "sideways 1" >&"$ctl"
exec {ctl}>&-
dw_wait_for "grep -q \"error: bad control line 'sideways 1'\" '$DW_TMP/broker.log'" 10
dw_broker_ctl down 1
dw_broker_ctl up 1
dw_broker_ctl rtt 2 0
echo "late|after up" | kc -P -t dossier.events -K '|'
dw_assert_eq "late|after up" "$(kc -C -t dossier.events -o beginning -e -q -f '%k|%s\n' | grep '^late')" "produce after up"

# Clean shutdown on SIGTERM.
dw_stop "$DW_BROKER_PID" TERM
dw_assert_eq 0 "$DW_STOP_RC" "broker exit status after SIGTERM"
[ ! -e "$DW_TMP/bootstrap" ] || dw_fail "bootstrap file left behind"
[ ! -e "$DW_BROKER_CONTROL" ] || dw_fail "control FIFO left behind"
grep -q '^broker: stopping' "$DW_TMP/broker.log" || dw_fail "no shutdown message"
echo "broker_roundtrip: ok"
