/* dw_group: the consumer-group source (see dw_group.h). */
#include "dw_group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_kafka.h"
#include "dw_log.h"
#include "dw_time.h"

struct dw_group {
  rd_kafka_t *rk;
  char topic[256];
  dw_group_hooks hooks;
  dw_part parts[DW_MAX_PARTITIONS];
  int64_t last_rebalance;
  bool closed;
  bool arrived;      /* a message arrived since the ends were last confirmed */
  bool in_rebalance; /* inside the rebalance callback: no broker queries */
};

dw_part *dw_group_parts(dw_group *g) { return g->parts; }
const char *dw_group_topic(const dw_group *g) { return g->topic; }
int64_t dw_group_last_rebalance(const dw_group *g) { return g->last_rebalance; }

size_t dw_group_assigned(const dw_group *g) {
  size_t n = 0;
  for (int p = 0; p < DW_MAX_PARTITIONS; p++) n += g->parts[p].assigned;
  return n;
}

/* The partitions of l that are ours (this topic, in range). */
static size_t ours(const dw_group *g, const rd_kafka_topic_partition_list_t *l, int32_t *ps) {
  size_t n = 0;
  for (int i = 0; i < l->cnt; i++) {
    int32_t p = l->elems[i].partition;
    if (strcmp(l->elems[i].topic, g->topic) != 0) continue;
    if (p < 0 || p >= DW_MAX_PARTITIONS) {
      DW_LOG_WARNING("partition %d out of range, ignored", (int)p);
      continue;
    }
    ps[n++] = p;
  }
  return n;
}

static void on_assign(dw_group *g, rd_kafka_topic_partition_list_t *l) {
  static int32_t ps[DW_MAX_PARTITIONS];
  size_t n = ours(g, l, ps);
  for (size_t i = 0; i < n; i++) {
    g->parts[ps[i]] = dw_part_unknown();
    g->parts[ps[i]].assigned = true;
  }
  if (g->hooks.assigned(g->hooks.opaque, ps, n)) {
    /* not loaded: from the beginning (filtered by offsets once the caller
     * has rebuilt and seeks) */
    for (size_t i = 0; i < n; i++) g->parts[ps[i]].next = g->parts[ps[i]].stored = -1;
  }
  for (size_t i = 0; i < n; i++) g->parts[ps[i]].recv = g->parts[ps[i]].next;
  for (int i = 0; i < l->cnt; i++) {
    int32_t p = l->elems[i].partition;
    if (p >= 0 && p < DW_MAX_PARTITIONS)
      l->elems[i].offset = g->parts[p].next >= 0 ? g->parts[p].next : RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_resp_err_t e = rd_kafka_assign(g->rk, l);
  if (e) DW_LOG_ERR("assign: %s", rd_kafka_err2str(e));
  /* a pause outlives a reassignment in librdkafka: start unpaused */
  rd_kafka_resume_partitions(g->rk, l);
  g->last_rebalance = dw_now_ms();
  DW_LOG_INF("assigned %d partition(s) of %s", l->cnt, g->topic);
}

static void on_revoke(dw_group *g, rd_kafka_topic_partition_list_t *l) {
  static int32_t ps[DW_MAX_PARTITIONS];
  size_t n = ours(g, l, ps);
  g->hooks.revoking(g->hooks.opaque, ps, n);
  for (size_t i = 0; i < n; i++) {
    dw_part *pi = &g->parts[ps[i]];
    pi->assigned = false;
    pi->recv = pi->next;
    pi->paused = false;
  }
  g->hooks.revoked(g->hooks.opaque);
  g->last_rebalance = dw_now_ms();
  DW_LOG_INF("revoked %d partition(s)", l->cnt);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *l, void *opaque) {
  dw_group *g = opaque;
  g->in_rebalance = true;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    on_assign(g, l);
  } else {
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) DW_LOG_ERR("rebalance error: %s", rd_kafka_err2str(err));
    on_revoke(g, l);
    rd_kafka_assign(rk, NULL);
  }
  g->in_rebalance = false;
}

dw_group *dw_group_new(const dw_config *cfg, dw_group_hooks hooks, char *err, size_t n) {
  dw_group *g = calloc(1, sizeof *g);
  if (!g) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  g->hooks = hooks;
  snprintf(g->topic, sizeof g->topic, "%s", dw_config_get(cfg, "topic.events"));
  for (int p = 0; p < DW_MAX_PARTITIONS; p++) g->parts[p] = dw_part_unknown();
  rd_kafka_conf_t *conf = dw_kafka_conf_new(cfg, err, n);
  if (!conf) {
    free(g);
    return NULL;
  }
  /* Offsets are the caller's (PostgreSQL); eager assignment so that a
   * revoke is a full stop the caller can commit at. A broker holds an empty
   * fetch up to fetch.wait.max.ms (500 ms by default): a shorter wait keeps
   * alert latency low after a quiet spell. Smaller per-partition fetches
   * interleave partitions more finely, so the reorder pool holds less while
   * the watermark catches up. Both only when not configured. */
  const char *props[][2] = {{"enable.auto.commit", "false"},
                            {"enable.auto.offset.store", "false"},
                            {"auto.offset.reset", "earliest"},
                            {"partition.assignment.strategy", "range"},
                            {"enable.partition.eof", "false"},
                            {"fetch.wait.max.ms", "20"},
                            {"max.partition.fetch.bytes", "262144"}};
  for (size_t i = 0; i < sizeof props / sizeof props[0]; i++) {
    char key[128];
    snprintf(key, sizeof key, "kafka.%s", props[i][0]);
    if (i >= 5 && dw_config_get(cfg, key)) continue;
    if (rd_kafka_conf_set(conf, props[i][0], props[i][1], err, n) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      free(g);
      return NULL;
    }
  }
  rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
  rd_kafka_conf_set_opaque(conf, g);
  if (!(g->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, n))) {
    rd_kafka_conf_destroy(conf);
    free(g);
    return NULL;
  }
  rd_kafka_poll_set_consumer(g->rk);
  rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(sub, g->topic, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t se = rd_kafka_subscribe(g->rk, sub);
  rd_kafka_topic_partition_list_destroy(sub);
  if (se) {
    snprintf(err, n, "subscribe to %s: %s", g->topic, rd_kafka_err2str(se));
    rd_kafka_destroy(g->rk);
    free(g);
    return NULL;
  }
  return g;
}

void dw_group_close(dw_group *g) {
  if (!g) return;
  rd_kafka_consumer_close(g->rk);
  rd_kafka_destroy(g->rk);
  free(g);
}

rd_kafka_message_t *dw_group_poll(dw_group *g, int timeout_ms) {
  for (;;) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(g->rk, timeout_ms);
    if (!m) return NULL;
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) DW_LOG_WARNING("consumer: %s", rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      continue;
    }
    int32_t p = m->partition;
    if (p < 0 || p >= DW_MAX_PARTITIONS || !g->parts[p].assigned || strcmp(rd_kafka_topic_name(m->rkt), g->topic) != 0 ||
        (g->parts[p].recv >= 0 && m->offset < g->parts[p].recv)) {
      rd_kafka_message_destroy(m); /* already received or committed, or not ours any more */
      continue;
    }
    g->parts[p].recv = m->offset + 1;
    g->arrived = true;
    return m;
  }
}

void dw_group_refresh_offsets(dw_group *g) {
  const bool arrived = g->arrived;
  g->arrived = false;
  for (int p = 0; p < DW_MAX_PARTITIONS; p++) {
    dw_part *pi = &g->parts[p];
    if (!pi->assigned) continue;
    if (arrived) pi->end_confirmed = false; /* a confirmation holds only until the next arrival */
    int64_t low = -1, high = -1;
    if (rd_kafka_get_watermark_offsets(g->rk, g->topic, p, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      pi->low = low;
      /* the cache may be older than a confirmed end: the end only grows */
      if (high > pi->high) pi->high = high;
    }
  }
}

int dw_group_confirm_ends(dw_group *g, int timeout_ms) {
  rd_kafka_topic_partition_list_t *l = NULL;
  int asked = 0, unsettled = 0;
  for (int p = 0; p < DW_MAX_PARTITIONS; p++) {
    const dw_part *pi = &g->parts[p];
    if (!pi->assigned || pi->end_confirmed || !dw_part_at_cached_end(pi)) continue;
    unsettled++;
    if (g->in_rebalance) continue; /* no blocking query inside the callback: they keep holding */
    if (!l) l = rd_kafka_topic_partition_list_new(8);
    rd_kafka_topic_partition_list_add(l, g->topic, p)->offset = RD_KAFKA_OFFSET_END; /* timestamp -1: latest */
    asked++;
  }
  if (!l) return unsettled;
  /* ListOffsets to each leader: an answer is as new as the query, which
   * follows every message received so far */
  rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(g->rk, l, timeout_ms);
  if (e) {
    DW_LOG_DBG("end offsets of %d partition(s) not confirmed: %s", asked, rd_kafka_err2str(e));
  } else {
    for (int i = 0; i < l->cnt; i++) {
      const rd_kafka_topic_partition_t *t = &l->elems[i];
      if (t->partition < 0 || t->partition >= DW_MAX_PARTITIONS) continue;
      if (t->err || t->offset < 0) {
        DW_LOG_DBG("end offset of %s [%d] not confirmed: %s", g->topic, (int)t->partition, rd_kafka_err2str(t->err));
        continue;
      }
      dw_part *pi = &g->parts[t->partition];
      dw_part_confirm_end(pi, t->offset);
      if (pi->end_confirmed || !dw_part_at_cached_end(pi)) unsettled--; /* settled, or it has more to deliver */
    }
  }
  rd_kafka_topic_partition_list_destroy(l);
  return unsettled;
}

static void pause_resume(dw_group *g, int32_t p, bool pause) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, g->topic, p);
  rd_kafka_resp_err_t e = pause ? rd_kafka_pause_partitions(g->rk, l) : rd_kafka_resume_partitions(g->rk, l);
  rd_kafka_topic_partition_list_destroy(l);
  if (e)
    DW_LOG_WARNING("%s %s [%d]: %s", pause ? "pause" : "resume", g->topic, (int)p, rd_kafka_err2str(e));
  else
    g->parts[p].paused = pause;
}

void dw_group_flow(dw_group *g, const dw_pool *pool, bool event_clock) {
  static int32_t pause[DW_MAX_PARTITIONS], resume[DW_MAX_PARTITIONS];
  int np, nr;
  dw_pool_flow(pool, g->parts, DW_MAX_PARTITIONS, event_clock, pause, &np, resume, &nr);
  for (int i = 0; i < np; i++) pause_resume(g, pause[i], true);
  for (int i = 0; i < nr; i++) pause_resume(g, resume[i], false);
}

void dw_group_resume_all(dw_group *g) {
  for (int p = 0; p < DW_MAX_PARTITIONS; p++)
    if (g->parts[p].paused) pause_resume(g, p, false);
}

int dw_group_seek(dw_group *g, char *err, size_t n) {
  size_t count = dw_group_assigned(g);
  if (!count) return 0;
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)count);
  for (int p = 0; p < DW_MAX_PARTITIONS; p++)
    if (g->parts[p].assigned)
      rd_kafka_topic_partition_list_add(l, g->topic, p)->offset =
          g->parts[p].next >= 0 ? g->parts[p].next : RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_error_t *e = rd_kafka_seek_partitions(g->rk, l, 10000);
  int rc = 0;
  if (e) {
    snprintf(err, n, "seek: %s", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    rc = -1;
  }
  for (int i = 0; i < l->cnt && rc == 0; i++)
    if (l->elems[i].err) {
      snprintf(err, n, "seek %s [%d]: %s", g->topic, (int)l->elems[i].partition, rd_kafka_err2str(l->elems[i].err));
      rc = -1;
    }
  rd_kafka_topic_partition_list_destroy(l);
  return rc;
}
