/* dw_pg_state: loads offsets and dossier states of assigned partitions. */
#include "dw_pg_state.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_event.h"
#include "dw_pg_sink.h"

static void part_array(dw_buf *b, const int32_t *parts, size_t n) {
  dw_buf_puts(b, "{");
  for (size_t i = 0; i < n; i++) dw_buf_printf(b, "%s%d", i ? "," : "", (int)parts[i]);
  dw_buf_puts(b, "}");
}

static void one_line(char *s) {
  for (; *s; s++)
    if (*s == '\n') *s = ' ';
}

int dw_pg_state_load_offsets(PGconn *pg, const char *group, const char *topic, const int32_t *parts, size_t n,
                             int64_t *next_offsets, int64_t *watermarks, char *errstr, size_t en) {
  for (size_t i = 0; i < n; i++) {
    next_offsets[i] = -1;
    watermarks[i] = DW_TIME_NONE;
  }
  if (n == 0) return 0;
  dw_buf arr = {0};
  part_array(&arr, parts, n);
  const char *params[3] = {group, topic, arr.data};
  PGresult *res = PQexecParams(pg,
                               "SELECT kafka_partition, next_offset, watermark_ms FROM kafka_offsets"
                               " WHERE consumer_group = $1 AND topic = $2 AND kafka_partition = ANY($3::int[])",
                               3, NULL, params, NULL, NULL, 0);
  dw_buf_free(&arr);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    snprintf(errstr, en, "load kafka_offsets: %s", PQresultErrorMessage(res));
    one_line(errstr);
    PQclear(res);
    return -1;
  }
  for (int r = 0; r < PQntuples(res); r++) {
    int32_t p = (int32_t)atol(PQgetvalue(res, r, 0));
    for (size_t i = 0; i < n; i++)
      if (parts[i] == p) {
        next_offsets[i] = atoll(PQgetvalue(res, r, 1));
        if (!PQgetisnull(res, r, 2)) watermarks[i] = atoll(PQgetvalue(res, r, 2));
      }
  }
  PQclear(res);
  return 0;
}

long dw_pg_state_load_dossiers(PGconn *pg, const int32_t *parts, size_t n, dw_pg_state_fn fn, void *opaque,
                               long *failed, char *errstr, size_t en) {
  *failed = 0;
  if (n == 0) return 0;
  dw_buf arr = {0};
  part_array(&arr, parts, n);
  const char *params[1] = {arr.data};
  /* Binary results: the blob arrives as raw bytes, ints in network order. */
  int ok = PQsendQueryParams(pg,
                             "SELECT dossier_id, kafka_partition, state, COALESCE(open, false) FROM dossier_state"
                             " WHERE kafka_partition = ANY($1::int[])",
                             1, NULL, params, NULL, NULL, 1);
  dw_buf_free(&arr);
  if (!ok) {
    snprintf(errstr, en, "load dossier_state: %s", PQerrorMessage(pg));
    one_line(errstr);
    return -1;
  }
  PQsetSingleRowMode(pg);
  long rows = 0;
  int rc = 0;
  PGresult *res;
  char id[DW_ID_MAX * 2];
  while ((res = PQgetResult(pg))) {
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_SINGLE_TUPLE) {
      int idlen = PQgetlength(res, 0, 0);
      if (idlen >= (int)sizeof id) idlen = (int)sizeof id - 1;
      memcpy(id, PQgetvalue(res, 0, 0), (size_t)idlen);
      id[idlen] = '\0';
      uint32_t be;
      memcpy(&be, PQgetvalue(res, 0, 1), 4);
      int32_t part = (int32_t)ntohl(be);
      int open = PQgetvalue(res, 0, 3)[0] != 0;
      if (fn(id, part, PQgetvalue(res, 0, 2), (size_t)PQgetlength(res, 0, 2), open, opaque)) (*failed)++;
      rows++;
    } else if (st != PGRES_TUPLES_OK && rc == 0) {
      snprintf(errstr, en, "load dossier_state: %s", PQresultErrorMessage(res));
      one_line(errstr);
      rc = -1;
    }
    PQclear(res);
  }
  return rc ? -1 : rows;
}
