#!/usr/bin/env bash
# pg-embedded: throwaway PostgreSQL clusters for tests, the demo and local
# runs. One cluster per directory DIR:
#   DIR/data      the cluster (PGDATA)          DIR/log       server log
#   DIR/.s.PGSQL.PORT  Unix socket               DIR/port      TCP port on 127.0.0.1
#   DIR/conninfo  the libpq conninfo line        DIR/.pg-embedded  marker (stop only
#                                                 deletes directories that have it)
# Usage:
#   pg-embedded.sh start DIR    create (if needed) and start; prints the conninfo
#                               line "host=DIR port=N dbname=dossierwatch user=postgres"
#   pg-embedded.sh stop DIR     stop (fast) if running and delete DIR
#   pg-embedded.sh restart DIR  restart keeping data and port (also after kill)
#   pg-embedded.sh kill DIR     SIGKILL the postmaster and its children (crash test)
#   pg-embedded.sh status DIR   exit 0 and print "running port=N pid=P" if running,
#                               else print "stopped" and exit 3
# As root, the cluster runs as user "postgres" (initdb refuses root): DIR is
# owned by postgres and every parent of DIR must be searchable by it.
# fsync stays on (kill -9 durability tests rely on it). Exit 1 on failure,
# 2 on bad usage.
set -euo pipefail

die() { echo "pg-embedded: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

[ $# -eq 2 ] || usage
cmd=$1
case $2 in /*) dir=$2 ;; *) dir=$(pwd)/$2 ;; esac
dir=${dir%/}
case $dir in *[[:space:]\'\"\\]*) die "DIR must not contain spaces, quotes or backslashes: $dir" ;; esac

# The PostgreSQL binaries: $PG_BIN, else the newest Debian install, else PATH.
pg_bin=${PG_BIN:-}
if [ -z "$pg_bin" ]; then
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { pg_bin=$d; break; }
  done
fi
if [ -z "$pg_bin" ]; then
  pg_bin=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
fi
[ -x "$pg_bin/initdb" ] && [ -x "$pg_bin/pg_ctl" ] ||
  die "no PostgreSQL server binaries (initdb, pg_ctl) found; set PG_BIN or install postgresql"

# Run as the cluster owner: postgres when we are root, else ourselves. cd to
# DIR first so runuser does not complain about an unreadable cwd.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd "$dir" && runuser -u postgres -- "$@")
  else
    (cd "$dir" && "$@")
  fi
}

data=$dir/data

is_running() {
  [ -f "$data/postmaster.pid" ] || return 1
  as_owner "$pg_bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

postmaster_pid() { head -n 1 "$data/postmaster.pid" 2>/dev/null || true; }

# Is a TCP port in use on this host (any address, IPv4 or IPv6)?
port_in_use() {
  local hex
  hex=$(printf '%04X' "$1")
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v p=":$hex" '$2 ~ p"$" {found=1} END {exit !found}'
}

pick_port() {
  local p tries=0
  while [ $tries -lt 200 ]; do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 30000 ))
    port_in_use "$p" || { echo "$p"; return 0; }
    tries=$((tries + 1))
  done
  die "no free TCP port found in 20000-49999"
}

conninfo_line() { echo "host=$dir port=$(cat "$dir/port") dbname=dossierwatch user=postgres"; }

psql_admin() {
  as_owner psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$(cat "$dir/port")" -U postgres -d postgres "$@"
}

pg_start() {
  # -w: wait until it accepts connections (up to 60 s, crash recovery
  # included). pg_ctl's chatter ("another server might be running" after a
  # kill) only matters when it fails.
  local out
  out=$(as_owner "$pg_bin/pg_ctl" -D "$data" -l "$dir/log" -w -t 60 start 2>&1) || {
    echo "$out" >&2
    return 1
  }
}

do_init() {
  mkdir -p "$dir"
  [ -z "$(ls -A "$dir")" ] || die "$dir exists, is not empty and is not a pg-embedded cluster"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' user"
    chown postgres: "$dir"
    runuser -u postgres -- test -x "$dir" -a -w "$dir" ||
      die "user postgres cannot use $dir: make its parent directories searchable (chmod o+x)"
  fi
  chmod 700 "$dir"
  # Unix socket paths are limited to 107 bytes.
  [ ${#dir} -le 85 ] || die "$dir is too long for a Unix socket path (at most 85 characters)"
  as_owner touch "$dir/.pg-embedded"
  # --no-sync: the cluster is throwaway until it is created; fsync is on
  # when it runs.
  as_owner "$pg_bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed in $data"; }
}

configure_port() {
  local port=$1
  as_owner sh -c "cat >> '$data/postgresql.conf'" <<EOF

# pg-embedded
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 100
shared_buffers = 32MB
log_min_messages = warning
log_min_error_statement = error
EOF
  as_owner sh -c "echo $port > '$dir/port'"
}

cmd_start() {
  if [ -f "$dir/.pg-embedded" ] && [ -f "$data/PG_VERSION" ]; then
    if is_running; then
      conninfo_line
      return 0
    fi
    pg_start || { tail -n 20 "$dir/log" >&2; die "could not start the existing cluster in $dir"; }
  else
    [ ! -e "$dir/.pg-embedded" ] || die "$dir holds a half-created cluster; run '$0 stop $dir' first"
    do_init
    # Another process may grab the port between our check and the bind:
    # retry with a new port a few times.
    local attempt=0 port
    while :; do
      port=$(pick_port)
      if [ $attempt -eq 0 ]; then configure_port "$port"; else
        as_owner sed -i "s/^port = .*/port = $port/" "$data/postgresql.conf"
        as_owner sh -c "echo $port > '$dir/port'"
      fi
      pg_start && break
      attempt=$((attempt + 1))
      if [ $attempt -ge 5 ] || ! grep -q "could not bind\|Address already in use" "$dir/log"; then
        tail -n 20 "$dir/log" >&2
        die "could not start PostgreSQL in $dir (log: $dir/log)"
      fi
    done
    psql_admin -c "CREATE DATABASE dossierwatch" >/dev/null ||
      die "could not create database dossierwatch"
  fi
  as_owner sh -c "echo '$(conninfo_line)' > '$dir/conninfo.tmp' && mv '$dir/conninfo.tmp' '$dir/conninfo'"
  conninfo_line
}

# Only act on directories we created.
require_cluster() {
  [ -f "$dir/.pg-embedded" ] && [ -f "$data/PG_VERSION" ] || die "$dir is not a pg-embedded cluster"
}

# A zombie (killed, not yet reaped by whoever inherited it) counts as dead.
is_alive() {
  local state
  state=$(sed 's/.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# Kills leftover server processes (after kill, or a failed stop).
kill_leftovers() {
  local pid=$1 kids
  [ -n "$pid" ] || return 0
  kids=$(pgrep -P "$pid" 2>/dev/null || true)
  kill -KILL "$pid" $kids 2>/dev/null || true
  local i=0
  while [ $i -lt 100 ]; do
    local alive=0
    for p in $pid $kids; do is_alive "$p" && alive=1; done
    [ $alive -eq 0 ] && return 0
    sleep 0.05
    i=$((i + 1))
  done
  die "server processes $pid $kids did not die"
}

cmd_stop() {
  [ -e "$dir" ] || return 0
  [ -f "$dir/.pg-embedded" ] || die "$dir is not a pg-embedded cluster; not deleting it"
  if [ -f "$data/PG_VERSION" ] && is_running; then
    local pid
    pid=$(postmaster_pid)
    if ! as_owner "$pg_bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1; then
      echo "pg-embedded: fast stop failed, killing $pid" >&2
      kill_leftovers "$pid"
    fi
  fi
  rm -rf "$dir"
}

cmd_restart() {
  require_cluster
  local pid
  pid=$(postmaster_pid)
  if is_running; then
    as_owner "$pg_bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null ||
      die "could not stop the server in $dir"
  elif [ -n "$pid" ]; then
    kill_leftovers "$pid" # children of a killed postmaster still hold shared memory
  fi
  pg_start || { tail -n 20 "$dir/log" >&2; die "could not restart the server in $dir"; }
  conninfo_line
}

cmd_kill() {
  require_cluster
  is_running || die "no server running in $dir"
  local pid
  pid=$(postmaster_pid)
  kill_leftovers "$pid"
  # Until whoever adopted the postmaster reaps it, its pid exists: pg_ctl
  # status says running and a new postmaster refuses the lock files. Wait
  # for that (immediate under systemd, ~2 s under some container inits), so
  # that after kill, status says stopped and restart works.
  local i=0
  while [ -e "/proc/$pid" ] && [ $i -lt 600 ]; do
    sleep 0.05
    i=$((i + 1))
  done
  [ ! -e "/proc/$pid" ] || echo "pg-embedded: warning: the killed postmaster $pid is not reaped yet" >&2
}

cmd_status() {
  if [ -f "$dir/.pg-embedded" ] && [ -f "$data/PG_VERSION" ] && is_running; then
    echo "running port=$(cat "$dir/port") pid=$(postmaster_pid)"
  else
    echo "stopped"
    exit 3
  fi
}

case $cmd in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_restart ;;
  kill) cmd_kill ;;
  status) cmd_status ;;
  *) usage ;;
esac
