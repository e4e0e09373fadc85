# tests/http_lib.sh: what the HTTP tests (tests/integration/serve_*.sh,
# watch_metrics.sh) share, on top of tests/lib.sh (source that first).
#   dw_http_data DAYS [SEED]   broker + PostgreSQL + watch, then the
#                              seed-letter simulation of DAYS days ending
#                              today into Kafka; returns once watch has
#                              archived every event. Sets DW_EVENTS and
#                              DW_WATCH_PID (watch keeps running).
#   dw_start_serve [ARGS...]   serve on a free port (units: seed-letter);
#                              sets DW_SERVE (host:port), DW_SERVE_PID
#   dw_token NAME SCOPE        prints a new token
#   dw_events_jsonl            the archive exported as JSON Lines (once); its path
#   dw_get TOKEN PATH [CURL_ARGS...]   body of GET PATH (any status)
#   dw_code TOKEN PATH [CURL_ARGS...]  status of GET PATH
# TOKEN "-" sends no Authorization header.

dw_http_data() {
  local days=$1 seed=${2:-766}
  dw_start_broker 6
  dw_start_pg
  dw_bg "$DW_BIN" watch --group http-test >"$DW_TMP/watch.log" 2>&1
  DW_WATCH_PID=$DW_LAST_PID
  "$DW_BIN" simulate --preset seed-letter --days "$days" --seed "$seed" --kafka 2>"$DW_TMP/simulate.log" ||
    dw_fail "simulate failed"
  DW_EVENTS=$(sed -n 's/^simulate: \([0-9]*\) events.*/\1/p' "$DW_TMP/simulate.log")
  [ -n "$DW_EVENTS" ] || dw_fail "no event count from simulate"
  dw_wait_for "[ \"\$(dw_archived)\" -eq $DW_EVENTS ]" 180 ||
    dw_fail "watch did not archive the $DW_EVENTS events"
  export DW_EVENTS DW_WATCH_PID
}

# The archive as JSON Lines (one export, kept): for the tests that look for
# events by type or time; prints the file's path.
dw_events_jsonl() {
  [ -s "$DW_TMP/archive-events.jsonl" ] ||
    "$DW_BIN" export --db "$DW_DB" --output "$DW_TMP/archive-events.jsonl" 2>>"$DW_TMP/export.log" ||
    dw_fail "export failed: $(cat "$DW_TMP/export.log")"
  echo "$DW_TMP/archive-events.jsonl"
}

dw_start_serve() {
  rm -f "$DW_TMP/serve.addr"
  dw_bg "$DW_BIN" serve --listen 127.0.0.1:0 --listen-file "$DW_TMP/serve.addr" --units seed-letter "$@" \
    >>"$DW_TMP/serve.log" 2>&1
  DW_SERVE_PID=$DW_LAST_PID
  dw_wait_for "[ -s '$DW_TMP/serve.addr' ]" 20 || dw_fail "serve did not start"
  DW_SERVE=$(cat "$DW_TMP/serve.addr")
  export DW_SERVE DW_SERVE_PID
}

dw_token() { "$DW_BIN" token add --name "$1" --scope "$2" 2>/dev/null; }

_dw_auth() { [ "$1" = - ] && echo "X-No-Auth: 1" || echo "Authorization: Bearer $1"; }

dw_get() {
  local t=$1 p=$2
  shift 2
  curl -s -H "$(_dw_auth "$t")" "$@" "http://$DW_SERVE$p"
}

dw_code() {
  local t=$1 p=$2
  shift 2
  curl -s -o /dev/null -w '%{http_code}' -H "$(_dw_auth "$t")" "$@" "http://$DW_SERVE$p"
}
