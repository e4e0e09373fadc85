# tests/notify_lib.sh: what the notify tests share (source it after tests/lib.sh).
#   nt_servers                 start the SMTP (aiosmtpd) and webhook servers on
#                              loopback; exports SMTP_PORT, HOOK_PORT, MAILS, HOOKS
#   nt_clock T                 set notify's test clock (--clock file:$NT_CLOCK) to T
#   nt_ms T                    T (RFC 3339) in ms
#   nt_raise ID RULE COMMUNE RAISED DUE [SEVERITY]
#                              an alert row, written as watch writes it (outbox clock)
#   nt_raise_many N PREFIX RULE COMMUNE RAISED DUE
#   nt_clear ALERT_ID T        clears an alert at T
#   nt_idle T                  waits until the active notify has done a round at
#                              clock T, read every alert and sent every message
#   nt_mails_to ADDR           the messages received for ADDR (JSON lines)
#   nt_count_mails ADDR [SUBJECT_PART]
#   nt_any FILTER              does a jq FILTER give anything for stdin's lines?
#                              (jq 1.6's -e judges only the last input)
: "${DW_PY:=/usr/bin/python3}"
NT_SERVERS=$DW_SOURCE_DIR/tests/integration/notify_servers.py
NT_CLOCK=$DW_TMP/clock

nt_servers() {
  MAILS=$DW_TMP/mails
  HOOKS=$DW_TMP/hooks
  mkdir -p "$MAILS" "$HOOKS"
  dw_bg "$DW_PY" "$NT_SERVERS" smtp "$MAILS" "$DW_TMP/smtp.port" >"$DW_TMP/smtp.log" 2>&1
  dw_bg "$DW_PY" "$NT_SERVERS" webhook "$HOOKS" "$DW_TMP/hook.port" >"$DW_TMP/hook.log" 2>&1
  dw_wait_for "[ -s '$DW_TMP/smtp.port' ] && [ -s '$DW_TMP/hook.port' ]" 20 || dw_fail "test servers did not start"
  SMTP_PORT=$(cat "$DW_TMP/smtp.port")
  HOOK_PORT=$(cat "$DW_TMP/hook.port")
  export SMTP_PORT HOOK_PORT MAILS HOOKS
}

nt_ms() { echo $(($(date -d "$1" +%s) * 1000)); }

nt_clock() {
  echo "$1" >"$NT_CLOCK.tmp"
  mv "$NT_CLOCK.tmp" "$NT_CLOCK"
}

nt_raise() {
  local id=$1 rule=$2 commune=$3 raised=$4 due=$5 sev=${6:-critical}
  dw_psql "UPDATE outbox_clock SET seq = seq + 1;
    INSERT INTO alerts (alert_id, rule, dossier_id, commune, agency, procedure, severity, raised_at, due_at, detail, change_seq)
    VALUES ('$id:$rule:1', '$rule', '$id', '$commune', 'UBND-$commune', '1.001612', '$sev', '$raised', '$due',
            'due at $due', (SELECT seq FROM outbox_clock))" >/dev/null
}

nt_raise_many() {
  local n=$1 prefix=$2 rule=$3 commune=$4 raised=$5 due=$6
  dw_psql "UPDATE outbox_clock SET seq = seq + 1;
    INSERT INTO alerts (alert_id, rule, dossier_id, commune, agency, procedure, severity, raised_at, due_at, detail, change_seq)
    SELECT '$prefix' || lpad(i::text, 4, '0') || ':$rule:1', '$rule', '$prefix' || lpad(i::text, 4, '0'), '$commune',
           'UBND-$commune', '1.001612', 'warning', timestamptz '$raised' + i * interval '1 second', '$due', 'x',
           (SELECT seq FROM outbox_clock)
    FROM generate_series(1, $n) i" >/dev/null
}

nt_clear() {
  dw_psql "UPDATE outbox_clock SET seq = seq + 1;
    UPDATE alerts SET cleared_at = '$2', updated_at = now(), change_seq = (SELECT seq FROM outbox_clock)
    WHERE alert_id = '$1'" >/dev/null
}

nt_idle() {
  local ms group=${2:-default}
  ms=$(nt_ms "$1")
  dw_wait_for "[ \"\$(dw_psql \"SELECT (clock_ms = $ms AND cursor_seq >= (SELECT COALESCE(max(change_seq), 0) FROM alerts)
      AND NOT EXISTS (SELECT 1 FROM notify_log WHERE status = 'pending' AND notify_group = '$group'))::text
      FROM notify_status WHERE notify_group = '$group'\")\" = true ]" 60 ||
    dw_fail "notify did not reach clock $1 idle: $(dw_psql "SELECT * FROM notify_status") / pending: $(dw_psql "SELECT count(*) FROM notify_log WHERE status = 'pending'")"
}

nt_mails_to() { "$DW_PY" "$NT_SERVERS" mails "$MAILS" | jq -c --arg a "$1" 'select(.rcpt_tos | index($a))'; }

nt_count_mails() {
  local part=${2:-}
  nt_mails_to "$1" | jq -r '.subject' | { grep -cF -- "$part" || true; }
}

nt_any() { jq -c "$1" | grep -q .; }
