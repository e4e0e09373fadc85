# tests/lib.sh: shared harness for tests/integration/*.sh and tests/fault/*.sh.
# Source it first:  source "$DW_SOURCE_DIR/tests/lib.sh"
# It turns on `set -euo pipefail`, makes a private temp dir $DW_TMP, and on
# exit - success, failed assertion, set -e abort, Ctrl-C or ctest's timeout
# SIGTERM - kills every process started through it, stops every PostgreSQL it
# started and deletes $DW_TMP, so a test never leaves anything behind. When
# the test fails it first prints the tail of $DW_TMP/*.log.
#
# Environment: DW_SOURCE_DIR (default: the checkout containing this file),
# DW_BIN (default $DW_SOURCE_DIR/build/dossierwatch), DW_KEEP_TMP=1 keeps
# $DW_TMP for debugging (processes are still stopped).
#
# Functions (all fail the test with a message when something goes wrong):
#   dw_bg CMD [ARGS...]        start CMD in the background in its own process
#                              group, tracked for cleanup; sets DW_LAST_PID.
#                              Redirect as usual: dw_bg cmd >"$DW_TMP/x.log" 2>&1
#   dw_stop PID [SIGNAL]       send SIGNAL (default TERM) to a tracked process,
#                              wait for it (30 s, then KILL), set DW_STOP_RC to
#                              its exit status (128+N if killed by signal N)
#   dw_start_broker [PARTITIONS] [BROKER_ARGS...]
#                              start `dossierwatch broker` (default 6
#                              partitions); exports DW_BOOTSTRAP, DW_BROKER_PID,
#                              DW_BROKER_CONTROL (FIFO); log: $DW_TMP/broker.log
#   dw_broker_ctl LINE         send a control line ("down 1", "up 1",
#                              "rtt 2 500", "leader TOPIC P ID") and wait for
#                              the broker to acknowledge it
#   dw_start_pg [NAME]         start a throwaway PostgreSQL in $DW_TMP/NAME
#                              (default pg) and migrate it; exports DW_DB
#                              (conninfo) and DW_PG_DIR
#   dw_pg_ctl restart|kill|status   pg-embedded.sh on $DW_PG_DIR
#   dw_psql SQL [PSQL_ARGS...] psql -XAtq -v ON_ERROR_STOP=1 on $DW_DB; prints rows
#   dw_wait_for CMD TIMEOUT_S  poll CMD (a string run with eval, or several
#                              words run as a command) every 0.1 s until it
#                              succeeds; returns 1 with a message on timeout
#   dw_assert_eq EXPECTED ACTUAL MSG
#   dw_fail MSG                print "FAIL: MSG" and exit 1 (from the test's
#                              own shell; inside $(...) it only ends the subshell)
#   dw_on_exit CMD             run CMD (eval) at exit, before the cleanup
#   dw_archived                how many events the archive holds (archive_blocks), after
#                              checking that every block holds exactly the events
#                              archive_events places in it (fails the test if not)
#   dw_archive_dump            every archived event on $DW_DB, sorted, for comparing
#                              archives: "event EVENT_ID TYPE OCCURRED_AT" (decoded by
#                              `export`) and "key EVENT_KEY PARTITION DOSSIER_ID"
#                              (archive_events: the dedupe keys and the partitions)
set -euo pipefail

: "${DW_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${DW_BIN:=$DW_SOURCE_DIR/build/dossierwatch}"
export DW_SOURCE_DIR DW_BIN

DW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/dwtest.XXXXXX")
# The PostgreSQL server runs as user postgres when we are root: it must be
# able to reach $DW_TMP/pg.
chmod 755 "$DW_TMP"
export DW_TMP

_dw_pids=()
exec {_dw_stderr}>&2
_dw_pg_dirs=()
_dw_exit_hooks=()

dw_fail() {
  echo "FAIL: $*" >&2
  exit 1
}

dw_assert_eq() {
  [ $# -eq 3 ] || dw_fail "dw_assert_eq wants EXPECTED ACTUAL MSG, got $# arguments"
  [ "$1" == "$2" ] || dw_fail "$3: expected '$1', got '$2'"
}

dw_on_exit() { _dw_exit_hooks+=("$*"); }

_dw_now_us() { echo "${EPOCHREALTIME/./}"; }

dw_wait_for() {
  [ $# -ge 2 ] || dw_fail "dw_wait_for wants CMD TIMEOUT_S"
  local timeout=${!#} deadline
  local -a cmd=("${@:1:$#-1}")
  deadline=$(( $(_dw_now_us) + ${timeout%.*} * 1000000 ))
  while :; do
    if [ ${#cmd[@]} -eq 1 ]; then
      (eval "${cmd[0]}") >/dev/null 2>&1 && return 0
    else
      "${cmd[@]}" >/dev/null 2>&1 && return 0
    fi
    if [ "$(_dw_now_us)" -ge "$deadline" ]; then
      echo "dw_wait_for: timed out after ${timeout}s waiting for: ${cmd[*]}" >&2
      return 1
    fi
    sleep 0.1
  done
}

dw_bg() {
  [ $# -ge 1 ] || dw_fail "dw_bg wants a command"
  # setsid: a process group of its own (pid = pgid), so cleanup can kill the
  # command together with anything it spawned. Background children of a
  # non-interactive shell are never group leaders, so setsid execs in place
  # and $! is the command itself.
  setsid "$@" &
  DW_LAST_PID=$!
  _dw_pids+=("$DW_LAST_PID")
}

# Is any live (non-zombie) process left in the group or with this pid?
_dw_group_alive() {
  ps -eo pid=,pgid=,stat= | awk -v g="$1" '($1 == g || $2 == g) && $3 !~ /^Z/ {found = 1} END {exit !found}'
}

_dw_untrack() {
  local keep=() p
  for p in "${_dw_pids[@]}"; do [ "$p" == "$1" ] || keep+=("$p"); done
  _dw_pids=("${keep[@]+"${keep[@]}"}")
}

# Signals a tracked process group and reaps it; KILL after timeout seconds.
_dw_terminate() {
  local pid=$1 sig=$2 timeout=$3 deadline
  kill -"$sig" -- "-$pid" 2>/dev/null || kill -"$sig" "$pid" 2>/dev/null || true
  deadline=$(( $(_dw_now_us) + timeout * 1000000 ))
  while _dw_group_alive "$pid"; do
    if [ "$(_dw_now_us)" -ge "$deadline" ]; then
      echo "lib.sh: process $pid did not stop after SIG$sig in ${timeout}s, killing it" >&"$_dw_stderr"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.05
  done
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  return $rc
}

dw_stop() {
  [ $# -ge 1 ] || dw_fail "dw_stop wants PID [SIGNAL]"
  DW_STOP_RC=0
  _dw_terminate "$1" "${2:-TERM}" 30 || DW_STOP_RC=$?
  _dw_untrack "$1"
}

dw_start_broker() {
  local partitions=${1:-6}
  [ $# -gt 0 ] && shift
  [ -z "${DW_BROKER_PID:-}" ] || dw_fail "dw_start_broker: a broker is already running ($DW_BROKER_PID)"
  [ -x "$DW_BIN" ] || dw_fail "DW_BIN=$DW_BIN is not an executable (build first)"
  DW_BROKER_CONTROL=$DW_TMP/broker.ctl
  dw_bg "$DW_BIN" broker --partitions "$partitions" --bootstrap-file "$DW_TMP/bootstrap" \
    --control "$DW_BROKER_CONTROL" "$@" >"$DW_TMP/broker.out" 2>"$DW_TMP/broker.log" </dev/null
  DW_BROKER_PID=$DW_LAST_PID
  local deadline=$(( $(_dw_now_us) + 20000000 ))
  until [ -s "$DW_TMP/bootstrap" ]; do
    if ! kill -0 "$DW_BROKER_PID" 2>/dev/null || [ "$(_dw_now_us)" -ge "$deadline" ]; then
      cat "$DW_TMP/broker.log" >&2
      dw_fail "the broker did not start"
    fi
    sleep 0.05
  done
  DW_BOOTSTRAP=$(cat "$DW_TMP/bootstrap")
  export DW_BOOTSTRAP DW_BROKER_PID DW_BROKER_CONTROL
}

dw_broker_ctl() {
  [ -n "${DW_BROKER_CONTROL:-}" ] || dw_fail "dw_broker_ctl: no broker started"
  local line="$*" before after last fd deadline
  before=$(grep -c '^broker: \(ok\|error\): ' "$DW_TMP/broker.log" || true)
  # Opening read-write never blocks, even if the broker is gone.
  exec {fd}<>"$DW_BROKER_CONTROL"
  echo "$line" >&"$fd"
  exec {fd}>&-
  deadline=$(( $(_dw_now_us) + 10000000 ))
  while :; do
    after=$(grep -c '^broker: \(ok\|error\): ' "$DW_TMP/broker.log" || true)
    [ "$after" -gt "$before" ] && break
    [ "$(_dw_now_us)" -lt "$deadline" ] || dw_fail "the broker did not acknowledge '$line'"
    sleep 0.02
  done
  last=$(grep '^broker: \(ok\|error\): ' "$DW_TMP/broker.log" | sed -n "$((before + 1))p")
  [[ $last == "broker: ok: "* ]] || dw_fail "broker control '$line': $last"
}

dw_start_pg() {
  local dir=$DW_TMP/${1:-pg}
  _dw_pg_dirs+=("$dir") # before starting: a half-started cluster is cleaned up too
  DW_DB=$("$DW_SOURCE_DIR/deploy/pg-embedded.sh" start "$dir") || dw_fail "could not start PostgreSQL in $dir"
  DW_PG_DIR=$dir
  export DW_DB DW_PG_DIR
  "$DW_BIN" migrate --db "$DW_DB" >"$DW_TMP/migrate.log" 2>&1 || {
    cat "$DW_TMP/migrate.log" >&2
    dw_fail "dossierwatch migrate failed"
  }
}

dw_pg_ctl() {
  [ -n "${DW_PG_DIR:-}" ] || dw_fail "dw_pg_ctl: no PostgreSQL started"
  "$DW_SOURCE_DIR/deploy/pg-embedded.sh" "$1" "$DW_PG_DIR"
}

dw_psql() {
  [ -n "${DW_DB:-}" ] || dw_fail "dw_psql: no DW_DB (call dw_start_pg)"
  local sql=$1
  shift
  psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$DW_DB" "$@" -c "$sql"
}

dw_archived() {
  local bad
  bad=$(dw_psql "SELECT count(*) FROM (SELECT block_id, count(*) AS c, max(seq) AS m FROM archive_events
    WHERE block_id IS NOT NULL GROUP BY block_id) e FULL JOIN archive_blocks b USING (block_id)
    WHERE b.n IS DISTINCT FROM e.c OR e.m >= 512")
  [ "$bad" = 0 ] || dw_fail "archive: $bad block(s) whose event count differs from their archive_events rows"
  dw_psql "SELECT coalesce(sum(n), 0) FROM archive_blocks"
}

dw_archive_dump() {
  "$DW_BIN" export --db "$DW_DB" --output - 2>"$DW_TMP/archive_dump.log" |
    jq -r '"event \(.event_id) \(.type) \(.occurred_at)"' | LC_ALL=C sort ||
    dw_fail "dw_archive_dump: export failed: $(cat "$DW_TMP/archive_dump.log")"
  dw_psql "SELECT 'key ' || event_key || ' ' || coalesce(kafka_partition::text, '-') || ' ' || coalesce(dossier_id, '-')
    FROM archive_events ORDER BY event_key"
}

_dw_cleanup() {
  local rc=$? p h
  set +e
  # Ignore (rather than reset) the stop signals: `timeout` and ctest signal
  # the whole process group, possibly twice, and a cleanup cut short would
  # leave servers and files behind (PIPE: the reader of our output may be gone).
  trap - EXIT ERR
  trap '' INT TERM HUP PIPE
  # Our messages go to the saved stderr; bash's own noise while reaping
  # ("wait_for: No record of process") goes nowhere.
  exec 2>/dev/null
  for h in "${_dw_exit_hooks[@]+"${_dw_exit_hooks[@]}"}"; do eval "$h" 2>&"$_dw_stderr"; done
  if [ "$rc" -ne 0 ]; then
    for p in "$DW_TMP"/*.log; do
      [ -f "$p" ] || continue
      echo "---- tail of $p" >&"$_dw_stderr"
      tail -n 40 "$p" >&"$_dw_stderr"
    done
  fi
  # TERM everyone first so they shut down in parallel, then reap each.
  for p in "${_dw_pids[@]+"${_dw_pids[@]}"}"; do
    kill -TERM -- "-$p" || kill -TERM "$p"
  done
  for p in "${_dw_pids[@]+"${_dw_pids[@]}"}"; do _dw_terminate "$p" TERM 10; done
  for p in "${_dw_pg_dirs[@]+"${_dw_pg_dirs[@]}"}"; do
    "$DW_SOURCE_DIR/deploy/pg-embedded.sh" stop "$p" >/dev/null 2>&"$_dw_stderr" ||
      echo "lib.sh: could not stop PostgreSQL in $p" >&"$_dw_stderr"
  done
  if [ "${DW_KEEP_TMP:-0}" = 1 ]; then
    echo "lib.sh: kept $DW_TMP" >&"$_dw_stderr"
  else
    rm -rf "$DW_TMP"
  fi
  exit "$rc"
}

trap _dw_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
# Say where a set -e abort happened (it is silent otherwise).
trap '_dw_rc=$?; echo "FAIL: ${BASH_SOURCE[0]}:$LINENO: \`$BASH_COMMAND\` exited $_dw_rc" >&2' ERR
