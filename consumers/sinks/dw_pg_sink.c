/* dw_pg_sink: one watch batch into PostgreSQL in one transaction (see
 * dw_pg_sink.h). Bulk rows use COPY in the binary format (no parsing of
 * timestamps or hex bytea by the server: a third of the text format's cost
 * for a batch's states): one round trip per table whatever the batch size. */
#include "dw_pg_sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_time.h"

/* ---- libpq helpers ---- */

/* what failed, then dw_pg_error's one-line reason (SQLSTATE: message) */
static void set_err(char *errstr, size_t n, PGconn *pg, const PGresult *res, const char *what) {
  char why[512];
  dw_pg_error(pg, res, NULL, why, sizeof why);
  snprintf(errstr, n, "%s: %s", what, why);
}

/* ---- batch ---- */

int dw_pg_sink_prepare(PGconn *pg, char *errstr, size_t n) {
  dw_buf b = {0};
  dw_buf_puts(&b,
                "CREATE TEMP TABLE IF NOT EXISTS w_state (dossier_id text, kafka_partition int, state bytea,"
                " open bool, tombstone bool) ON COMMIT DELETE ROWS;"
                "CREATE TEMP TABLE IF NOT EXISTS w_alerts (alert_id text, rule text, dossier_id text, commune text,"
                " agency text, procedure text, severity text, raised_at timestamptz, due_at timestamptz,"
                " cleared_at timestamptz, detail text) ON COMMIT DELETE ROWS;"
                "CREATE TEMP TABLE IF NOT EXISTS w_agg (unit_type text, unit text, period_kind text, period text");
  for (int c = 0; c < DW_C__COUNT; c++) dw_buf_printf(&b, ", %s bigint", dw_counter_name((dw_counter)c));
  dw_buf_puts(&b, ") ON COMMIT DELETE ROWS;");
  int rc = b.oom ? -1 : dw_pg_exec(pg, b.data, errstr, n);
  if (b.oom) snprintf(errstr, n, "out of memory");
  dw_buf_free(&b);
  return rc;
}

int dw_pg_sink_begin(PGconn *pg, char *errstr, size_t n) { return dw_pg_exec(pg, "BEGIN", errstr, n); }

int dw_pg_sink_commit(PGconn *pg, char *errstr, size_t n) { return dw_pg_exec(pg, "COMMIT", errstr, n); }

void dw_pg_sink_rollback(PGconn *pg) {
  if (!pg || PQstatus(pg) != CONNECTION_OK) return;
  /* A statement sent but not collected (the halves of dedupe, archive)
   * would make ROLLBACK "another command in progress": collect it first. */
  PGresult *res;
  for (int i = 0; i < 100 && (res = PQgetResult(pg)); i++) {
    if (PQresultStatus(res) == PGRES_COPY_IN) PQputCopyEnd(pg, "rolled back");
    PQclear(res);
  }
  res = PQexec(pg, "ROLLBACK");
  PQclear(res);
}

int dw_pg_sink_states(PGconn *pg, const dw_pg_state_row *rows, size_t n, char *errstr, size_t en) {
  if (n == 0) return 0;
  dw_buf b = {0};
  bool any_delete = false;
  dw_pg_bin_begin(&b);
  for (size_t i = 0; i < n; i++) {
    dw_pg_bin_row(&b, 5);
    dw_pg_bin_bytes(&b, rows[i].dossier_id, strlen(rows[i].dossier_id));
    dw_pg_bin_int4(&b, rows[i].partition);
    dw_pg_bin_bytes(&b, rows[i].blob, rows[i].len); /* NULL blob: SQL NULL, a delete */
    dw_pg_bin_bool(&b, rows[i].open);
    dw_pg_bin_bool(&b, rows[i].tombstone);
    if (!rows[i].blob) any_delete = true;
  }
  dw_pg_bin_end(&b);
  int rc = -1;
  if (b.oom) {
    snprintf(errstr, en, "out of memory");
    goto out;
  }
  if (dw_pg_copy(pg, "COPY w_state (dossier_id, kafka_partition, state, open, tombstone) FROM STDIN (FORMAT binary)",
                 b.data, b.len, errstr, en))
    goto out;
  if (any_delete && dw_pg_exec(pg,
                               "DELETE FROM dossier_state d USING w_state w"
                               " WHERE d.dossier_id = w.dossier_id AND w.state IS NULL",
                               errstr, en))
    goto out;
  if (dw_pg_exec(pg,
                 "INSERT INTO dossier_state (dossier_id, kafka_partition, state, open, tombstone, updated_at, tombstone_at)"
                 " SELECT dossier_id, kafka_partition, state, open, tombstone, now(), CASE WHEN tombstone THEN now() END"
                 " FROM w_state WHERE state IS NOT NULL ORDER BY dossier_id"
                 " ON CONFLICT (dossier_id) DO UPDATE SET kafka_partition = EXCLUDED.kafka_partition,"
                 " state = EXCLUDED.state, open = EXCLUDED.open, tombstone = EXCLUDED.tombstone, updated_at = now(),"
                 " tombstone_at = EXCLUDED.tombstone_at",
                 errstr, en))
    goto out;
  rc = 0;
out:
  dw_buf_free(&b);
  return rc;
}

int dw_pg_sink_outbox_tick(PGconn *pg, int64_t *seq, char *errstr, size_t en) {
  PGresult *res = dw_pg_query(pg, "UPDATE outbox_clock SET seq = seq + 1 RETURNING seq", 0, NULL, errstr, en);
  if (!res) return -1;
  *seq = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
  PQclear(res);
  if (*seq > 0) return 0;
  snprintf(errstr, en, "outbox_clock has no row (migration 007 not applied?)");
  return -1;
}

int dw_pg_sink_alerts(PGconn *pg, const dw_alert *alerts, size_t n, int64_t change_seq, char *errstr, size_t en) {
  if (n == 0) return 0;
  dw_buf b = {0};
  dw_pg_bin_begin(&b);
  for (size_t i = 0; i < n; i++) {
    const dw_alert *a = &alerts[i];
    /* columns in the order of the COPY below: texts, times, then detail */
    const char *const texts[] = {a->alert_id, dw_rule_name(a->rule), a->dossier_id, a->commune,
                                 a->agency,   a->procedure,          dw_severity_name(a->severity)};
    const int64_t times[] = {a->raised_at, a->due_at, a->cleared_at};
    dw_pg_bin_row(&b, 11);
    for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) dw_pg_bin_bytes(&b, texts[k], strlen(texts[k]));
    for (size_t k = 0; k < sizeof times / sizeof *times; k++) dw_pg_bin_time(&b, times[k]);
    dw_pg_bin_bytes(&b, a->detail, strlen(a->detail));
  }
  dw_pg_bin_end(&b);
  int rc = -1;
  if (b.oom) {
    snprintf(errstr, en, "out of memory");
    goto out;
  }
  if (dw_pg_copy(pg,
                 "COPY w_alerts (alert_id, rule, dossier_id, commune, agency, procedure, severity, raised_at,"
                 " due_at, cleared_at, detail) FROM STDIN (FORMAT binary)",
                 b.data, b.len, errstr, en))
    goto out;
  char seq[24];
  snprintf(seq, sizeof seq, "%lld", (long long)change_seq);
  const char *params[1] = {seq};
  PGresult *res = dw_pg_query(pg,
                 "INSERT INTO alerts (alert_id, rule, dossier_id, commune, agency, procedure, severity, raised_at,"
                 " due_at, cleared_at, detail, updated_at, change_seq)"
                 " SELECT alert_id, rule, dossier_id, commune, agency, procedure, severity, raised_at, due_at,"
                 " cleared_at, detail, now(), $1::bigint FROM w_alerts ORDER BY alert_id"
                 " ON CONFLICT (alert_id) DO UPDATE SET rule = EXCLUDED.rule, dossier_id = EXCLUDED.dossier_id,"
                 " commune = EXCLUDED.commune, agency = EXCLUDED.agency, procedure = EXCLUDED.procedure,"
                 " severity = EXCLUDED.severity, raised_at = EXCLUDED.raised_at, due_at = EXCLUDED.due_at,"
                 " cleared_at = EXCLUDED.cleared_at, detail = EXCLUDED.detail, updated_at = now(),"
                 " change_seq = EXCLUDED.change_seq",
                 1, params, errstr, en);
  if (!res) goto out;
  PQclear(res);
  rc = 0;
out:
  dw_buf_free(&b);
  return rc;
}

int dw_pg_sink_aggregates(PGconn *pg, const dw_agg_row *deltas, size_t n, int64_t change_seq, char *errstr,
                          size_t en) {
  dw_buf b = {0};
  size_t rows = 0;
  dw_pg_bin_begin(&b);
  for (size_t i = 0; i < n; i++) {
    const dw_agg_row *d = &deltas[i];
    if (d->period_kind == DW_PERIOD_ROLLING30) continue; /* derived, never stored */
    bool any = false;
    for (int c = 0; c < DW_C__COUNT; c++) any |= d->counters[c] != 0;
    if (!any) continue;
    const char *const key[] = {dw_unit_type_name(d->unit_type), d->unit, dw_period_kind_name(d->period_kind),
                               d->period};
    dw_pg_bin_row(&b, 4 + DW_C__COUNT);
    for (int k = 0; k < 4; k++) dw_pg_bin_bytes(&b, key[k], strlen(key[k]));
    for (int c = 0; c < DW_C__COUNT; c++) dw_pg_bin_int8(&b, d->counters[c]);
    rows++;
  }
  dw_pg_bin_end(&b);
  int rc = -1;
  dw_buf sql = {0};
  if (rows == 0) {
    rc = 0;
    goto out;
  }
  dw_buf_puts(&sql, "COPY w_agg (unit_type, unit, period_kind, period");
  for (int c = 0; c < DW_C__COUNT; c++) dw_buf_printf(&sql, ", %s", dw_counter_name((dw_counter)c));
  dw_buf_puts(&sql, ") FROM STDIN (FORMAT binary)");
  if (b.oom || sql.oom) {
    snprintf(errstr, en, "out of memory");
    goto out;
  }
  if (dw_pg_copy(pg, sql.data, b.data, b.len, errstr, en)) goto out;
  dw_buf_reset(&sql);
  dw_buf_puts(&sql, "INSERT INTO aggregates (unit_type, unit, period_kind, period");
  for (int c = 0; c < DW_C__COUNT; c++) dw_buf_printf(&sql, ", %s", dw_counter_name((dw_counter)c));
  dw_buf_puts(&sql, ", updated_at, change_seq) SELECT unit_type, unit, period_kind, period");
  for (int c = 0; c < DW_C__COUNT; c++) dw_buf_printf(&sql, ", sum(%s)", dw_counter_name((dw_counter)c));
  /* GROUP BY makes keys unique even if the caller repeated one; ORDER BY
   * gives every process the same lock order on shared rows (province). */
  dw_buf_printf(&sql, ", now(), %lld FROM w_agg GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4", (long long)change_seq);
  dw_buf_puts(&sql, ""
                      " ON CONFLICT (unit_type, unit, period_kind, period) DO UPDATE SET ");
  for (int c = 0; c < DW_C__COUNT; c++) {
    const char *name = dw_counter_name((dw_counter)c);
    dw_buf_printf(&sql, "%s = aggregates.%s + EXCLUDED.%s, ", name, name, name);
  }
  dw_buf_puts(&sql, "updated_at = now(), change_seq = EXCLUDED.change_seq");
  if (sql.oom) {
    snprintf(errstr, en, "out of memory");
    goto out;
  }
  if (dw_pg_exec(pg, sql.data, errstr, en)) goto out;
  rc = 0;
out:
  dw_buf_free(&b);
  dw_buf_free(&sql);
  return rc;
}

int dw_pg_sink_reject(PGconn *pg, const char *topic, int32_t partition, int64_t offset, const char *stage,
                      const char *error, const void *key, size_t key_len, char *errstr, size_t en) {
  char part[16], off[24];
  snprintf(part, sizeof part, "%d", (int)partition);
  snprintf(off, sizeof off, "%lld", (long long)offset);
  const char *params[6] = {topic, part, off, stage, error, key};
  int lengths[6] = {0, 0, 0, 0, 0, (int)key_len};
  int formats[6] = {0, 0, 0, 0, 0, 1};
  PGresult *res = PQexecParams(pg,
                               "INSERT INTO dlq_messages (topic, kafka_partition, kafka_offset, stage, error, msg_key)"
                               " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                               6, NULL, params, lengths, formats, 0);
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    set_err(errstr, en, pg, res, "insert dlq_messages");
    PQclear(res);
    return -1;
  }
  PQclear(res);
  return 0;
}

int dw_pg_sink_offset(PGconn *pg, const char *group, const char *topic, int32_t partition, int64_t expected,
                      int64_t next_offset, int64_t watermark_ms, char *errstr, size_t en) {
  char part[16], next[24], exp[24], wm[24];
  snprintf(part, sizeof part, "%d", (int)partition);
  snprintf(next, sizeof next, "%lld", (long long)next_offset);
  snprintf(exp, sizeof exp, "%lld", (long long)expected);
  snprintf(wm, sizeof wm, "%lld", (long long)watermark_ms);
  const char *params[6] = {group, topic, part, next, wm, exp};
  if (watermark_ms == DW_TIME_NONE) params[4] = NULL;
  /* The WHERE on the update is the fence: it only moves the offset we
   * loaded; a row moved by another consumer makes RETURNING empty. The
   * clock never goes back: a process that took the partition over at an
   * older clock (a rebalance) commits it too, but the partition's dossier
   * states stay as of the newer one (and nothing uncommitted precedes it);
   * the wall clock stores none. */
  PGresult *res = PQexecParams(pg,
                               "INSERT INTO kafka_offsets (consumer_group, topic, kafka_partition, next_offset,"
                               " watermark_ms, updated_at) VALUES ($1, $2, $3, $4, $5, now())"
                               " ON CONFLICT (consumer_group, topic, kafka_partition) DO UPDATE SET"
                               " next_offset = EXCLUDED.next_offset, watermark_ms = CASE WHEN EXCLUDED.watermark_ms IS NULL THEN NULL"
                               " ELSE GREATEST(kafka_offsets.watermark_ms, EXCLUDED.watermark_ms) END,"
                               " updated_at = now() WHERE kafka_offsets.next_offset = $6::bigint RETURNING 1",
                               6, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    set_err(errstr, en, pg, res, "upsert kafka_offsets");
    PQclear(res);
    return -1;
  }
  int moved = PQntuples(res) == 0;
  PQclear(res);
  if (moved) {
    snprintf(errstr, en, "offset of %s [%d] in group %s is no longer %lld: another consumer processed it", topic,
             (int)partition, group, (long long)expected);
    return 1;
  }
  return 0;
}
