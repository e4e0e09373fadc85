#!/usr/bin/env bash
# config_errors: configuration mistakes are usage errors (exit 2) whose
# message names the file, the line and the key; flags override the file
# whatever their order; the environment fills only what is unset.
source "${DW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

expect() {
  local want=$1 rc=0
  shift
  "$@" >"$DW_TMP/out" 2>"$DW_TMP/err" </dev/null || rc=$?
  dw_assert_eq "$want" "$rc" "exit status of '$*' (stderr: $(head -c 300 "$DW_TMP/err"))"
}
has() { grep -qF -- "$1" "$DW_TMP/err" || dw_fail "stderr should contain '$1': $(cat "$DW_TMP/err")"; }

cfg=$DW_TMP/dw.conf
printf '# comment\n\ntopic.events = e\nno.such.key = 1\n' >"$cfg"
for cmd in broker migrate; do
  expect 2 "$DW_BIN" "$cmd" --config "$cfg"
  has "$cfg:4:"
  has "no.such.key"
done

printf 'broker.partitions = many\n' >"$cfg"
expect 2 "$DW_BIN" broker --config "$cfg"
has "$cfg:1:"
has "broker.partitions"

printf 'broker.brokers = 99\n' >"$cfg"
expect 2 "$DW_BIN" broker --config "$cfg"
has "broker.brokers"
has "1..16"

printf 'rules.due_soon_days\n' >"$cfg"
expect 2 "$DW_BIN" broker --config "$cfg"
has "$cfg:1:"

expect 2 "$DW_BIN" broker --config "$DW_TMP/missing.conf"
has "$DW_TMP/missing.conf"

expect 2 "$DW_BIN" broker --set no.such.key=1
has "no.such.key"
expect 2 "$DW_BIN" broker --set novalue
has "KEY=VALUE"
expect 2 "$DW_BIN" migrate --set watch.clock
has "KEY=VALUE"

# Good files work, and flags win over the file in either order: the broker
# reports what it built on stderr.
printf 'broker.brokers = 2\nbroker.partitions = 3\n' >"$cfg"
dw_bg "$DW_BIN" broker --set broker.partitions=4 --config "$cfg" --bootstrap-file "$DW_TMP/bs" --no-stdin \
  >/dev/null 2>"$DW_TMP/broker.log"
bpid=$DW_LAST_PID
dw_wait_for "test -s '$DW_TMP/bs'" 20
grep -q "2 brokers, 4 partitions per topic, replication 2" "$DW_TMP/broker.log" ||
  dw_fail "flags should override the file: $(cat "$DW_TMP/broker.log")"
topics=$(timeout 30 kcat -b "$(cat "$DW_TMP/bs")" -L -J | jq -r '.topics[] | "\(.topic)=\(.partitions | length)"' | sort | tr '\n' ' ')
dw_assert_eq "compliance.aggregates=4 dossier.alerts=4 dossier.events.dlq=4 dossier.events=4 " "$topics" "topics from config"
dw_stop "$bpid"
dw_assert_eq 0 "$DW_STOP_RC" "broker exit status"

# Topic names come from topic.* keys.
dw_bg "$DW_BIN" broker --brokers 1 --partitions 1 --set topic.events=ev --set topic.alerts=al \
  --bootstrap-file "$DW_TMP/bs2" --no-stdin >/dev/null 2>"$DW_TMP/broker2.log"
bpid=$DW_LAST_PID
dw_wait_for "test -s '$DW_TMP/bs2'" 20
topics=$(timeout 30 kcat -b "$(cat "$DW_TMP/bs2")" -L -J | jq -r '.topics[].topic' | sort | tr '\n' ' ')
dw_assert_eq "al compliance.aggregates dossier.events.dlq ev " "$topics" "topic names from topic.* keys"
dw_stop "$bpid"

# DW_DB fills db.conninfo only when unset: --db wins.
rc=0
DW_DB="host=$DW_TMP port=1 dbname=from_env" "$DW_BIN" migrate --wait 0 --db "host=$DW_TMP port=2 dbname=from_flag" \
  2>"$DW_TMP/err" || rc=$?
dw_assert_eq 1 "$rc" "migrate against nothing"
has ".s.PGSQL.2"
echo "config_errors: ok"
