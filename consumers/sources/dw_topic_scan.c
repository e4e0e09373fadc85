/* dw_replay_kafka: start offsets by time and bounded reading of a topic
 * (see dw_topic_scan.h). */
#include "dw_topic_scan.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dw_kafka.h"

#define PROBE_TIMEOUT_MS 15000
#define QUERY_TIMEOUT_MS 10000

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

rd_kafka_t *dw_replay_kafka_consumer_new(const dw_config *cfg, char *err, size_t n) {
  rd_kafka_conf_t *conf = dw_kafka_conf_new(cfg, err, n);
  if (!conf) return NULL;
  char why[512];
  /* group.id only because librdkafka's consumer wants one; nothing is ever
   * committed (assign() with explicit offsets, auto commit off). */
  const char *props[][2] = {
    {"group.id", "dossierwatch-replay"},
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
    {"enable.partition.eof", "true"},
    {"auto.offset.reset", "earliest"},
    /* a probe near the end of a partition otherwise waits out the broker's
     * long poll (500 ms by default) of the previous assignment's fetch */
    {"fetch.wait.max.ms", "10"},
    /* the whole topic is read as fast as it comes: librdkafka's default
     * (100000 messages queued per partition before it pauses fetching)
     * made the read of 214 k messages take 1.1 s instead of 0.23 s */
    {"queued.min.messages", "1000000"},
  };
  for (size_t i = 0; i < sizeof props / sizeof props[0]; i++) {
    char key[64];
    snprintf(key, sizeof key, "kafka.%s", props[i][0]);
    if (dw_config_get(cfg, key)) continue; /* the user's setting wins */
    if (rd_kafka_conf_set(conf, props[i][0], props[i][1], why, sizeof why) != RD_KAFKA_CONF_OK) {
      snprintf(err, n, "kafka %s: %s", props[i][0], why);
      rd_kafka_conf_destroy(conf);
      return NULL;
    }
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
  if (!rk) {
    snprintf(err, n, "cannot create Kafka consumer: %s", why);
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  rd_kafka_poll_set_consumer(rk);
  return rk;
}

static int assign_one(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t offset, char *err, size_t n) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
  rd_kafka_resp_err_t e = rd_kafka_assign(rk, l);
  rd_kafka_topic_partition_list_destroy(l);
  if (e) {
    snprintf(err, n, "assign %s [%d] at offset %lld: %s", topic, (int)partition, (long long)offset,
             rd_kafka_err2str(e));
    return -1;
  }
  return 0;
}

/* The first message at or after offset: 1 with its offset and timestamp, 0
 * when the partition ends before it, -1 on error. */
static int probe(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t offset, int64_t *got, int64_t *ts,
                 char *err, size_t n) {
  if (assign_one(rk, topic, partition, offset, err, n)) return -1;
  int64_t deadline = mono_ms() + PROBE_TIMEOUT_MS;
  while (mono_ms() < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
    if (!m) continue;
    /* after a reassignment librdkafka drops what was fetched for the old
     * one; the checks are a second line of defence */
    bool mine = m->rkt && strcmp(rd_kafka_topic_name(m->rkt), topic) == 0 && m->partition == partition;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      int64_t eof = m->offset;
      rd_kafka_message_destroy(m);
      if (mine && eof >= offset) return 0;
      continue;
    }
    if (m->err) {
      /* transient broker/transport errors surface here too; the consumer
       * retries by itself, so only remember the last one */
      snprintf(err, n, "probe %s [%d] offset %lld: %s", topic, (int)partition, (long long)offset,
               rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      continue;
    }
    if (!mine || m->offset < offset) {
      rd_kafka_message_destroy(m);
      continue;
    }
    rd_kafka_timestamp_type_t tt;
    *got = m->offset;
    *ts = rd_kafka_message_timestamp(m, &tt);
    rd_kafka_message_destroy(m);
    if (*ts < 0) {
      snprintf(err, n, "%s [%d] offset %lld has no timestamp", topic, (int)partition, (long long)*got);
      return -1;
    }
    return 1;
  }
  size_t l = strlen(err);
  snprintf(err + l, n - l, "%sno message at %s [%d] offset %lld within %d ms", l ? "; " : "", topic, (int)partition,
           (long long)offset, PROBE_TIMEOUT_MS);
  return -1;
}

int dw_replay_kafka_search_offset(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t low, int64_t high,
                                  int64_t ts, int64_t *out, int *probes, char *err, size_t n) {
  /* invariant: every message before offset a has a timestamp < ts, and
   * reading from b misses no message with a timestamp >= ts */
  int64_t a = low, b = high;
  int count = 0;
  /* the first probe at the start: a replay from before the partition's
   * first message (the whole topic, the common case) needs no other */
  for (bool first = true; a < b; first = false) {
    int64_t mid = first ? a : a + (b - a) / 2, got, mts;
    err[0] = '\0';
    int r = probe(rk, topic, partition, mid, &got, &mts, err, n);
    count++;
    if (r < 0) {
      rd_kafka_assign(rk, NULL);
      if (probes) *probes = count;
      return -1;
    }
    /* offsets in [mid, got) hold no message (compacted, aborted), so
     * starting at mid reads the same as starting at got: when the message
     * at got is late enough, mid is as good an answer as got */
    if (r == 0 || got >= b || mts >= ts) {
      b = mid;
    } else {
      a = got + 1;
    }
  }
  rd_kafka_assign(rk, NULL);
  *out = a;
  if (probes) *probes = count;
  return 0;
}

int dw_replay_kafka_plan(rd_kafka_t *rk, const char *topic, int64_t since, dw_replay_part **parts_out, size_t *n_out,
                         char *err, size_t n) {
  *parts_out = NULL;
  *n_out = 0;
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
  if (!rkt) {
    snprintf(err, n, "topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
    return -1;
  }
  const struct rd_kafka_metadata *md = NULL;
  int nparts = -1;
  /* the topic may still be being created, or a leader elected: retry */
  for (int attempt = 0; attempt < 20 && nparts < 0; attempt++) {
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, QUERY_TIMEOUT_MS);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topics[0].partition_cnt > 0) {
      nparts = md->topics[0].partition_cnt;
    } else {
      snprintf(err, n, "metadata of topic %s: %s", topic,
               e ? rd_kafka_err2str(e)
                 : md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "topic not in the answer");
      struct timespec ts = {0, 250 * 1000000L};
      nanosleep(&ts, NULL);
    }
    if (md) rd_kafka_metadata_destroy(md);
    md = NULL;
  }
  rd_kafka_topic_destroy(rkt);
  if (nparts < 0) return -1;

  dw_replay_part *parts = calloc((size_t)nparts, sizeof *parts);
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
  if (!parts || !l) {
    free(parts);
    if (l) rd_kafka_topic_partition_list_destroy(l);
    snprintf(err, n, "out of memory");
    return -1;
  }
  for (int p = 0; p < nparts; p++) {
    parts[p].partition = p;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(rk, topic, p, &parts[p].low, &parts[p].high, QUERY_TIMEOUT_MS);
    if (e) {
      snprintf(err, n, "watermarks of %s [%d]: %s", topic, p, rd_kafka_err2str(e));
      goto fail;
    }
    rd_kafka_topic_partition_list_add(l, topic, p)->offset = since;
  }
  rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, l, QUERY_TIMEOUT_MS);
  for (int p = 0; p < nparts; p++) {
    dw_replay_part *pt = &parts[p];
    if (pt->high <= pt->low) {
      pt->start = pt->high;
      pt->method = "empty";
      continue;
    }
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(l, topic, p);
    if (!e && tp && !tp->err && tp->offset >= 0) {
      pt->start = tp->offset < pt->low ? pt->low : tp->offset > pt->high ? pt->high : tp->offset;
      pt->method = "offsets_for_times";
      continue;
    }
    pt->method = "binary search";
    if (dw_replay_kafka_search_offset(rk, topic, p, pt->low, pt->high, since, &pt->start, &pt->probes, err, n))
      goto fail;
  }
  rd_kafka_topic_partition_list_destroy(l);
  *parts_out = parts;
  *n_out = (size_t)nparts;
  return 0;
fail:
  rd_kafka_topic_partition_list_destroy(l);
  free(parts);
  return -1;
}

int dw_replay_kafka_read(rd_kafka_t *rk, const char *topic, const dw_replay_part *parts, size_t n,
                         int idle_timeout_ms, dw_replay_msg_fn fn, void *opaque, char *err, size_t en) {
  int32_t maxp = -1;
  for (size_t i = 0; i < n; i++)
    if (parts[i].partition > maxp) maxp = parts[i].partition;
  int64_t *next = calloc((size_t)maxp + 2, sizeof *next), *end = calloc((size_t)maxp + 2, sizeof *end);
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n + 1);
  int rc = -1;
  if (!next || !end || !l) {
    snprintf(err, en, "out of memory");
    goto out;
  }
  size_t pending = 0;
  for (size_t i = 0; i < n; i++) {
    const dw_replay_part *p = &parts[i];
    next[p->partition] = p->start;
    end[p->partition] = p->high;
    if (p->start < p->high) {
      rd_kafka_topic_partition_list_add(l, topic, p->partition)->offset = p->start;
      pending++;
    }
  }
  if (pending == 0) {
    rc = 0;
    goto out;
  }
  rd_kafka_resp_err_t e = rd_kafka_assign(rk, l);
  if (e) {
    snprintf(err, en, "assign %s: %s", topic, rd_kafka_err2str(e));
    goto out;
  }
  int64_t last = mono_ms();
  char lasterr[256] = "";
  while (pending > 0) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
    if (!m) {
      if (mono_ms() - last > idle_timeout_ms) {
        snprintf(err, en, "no message from %s for %d ms with %zu partition(s) unfinished%s%s", topic,
                 idle_timeout_ms, pending, lasterr[0] ? "; last error: " : "", lasterr);
        goto out;
      }
      continue;
    }
    int32_t p = m->partition;
    bool mine = m->rkt && strcmp(rd_kafka_topic_name(m->rkt), topic) == 0 && p >= 0 && p <= maxp;
    if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      snprintf(lasterr, sizeof lasterr, "%s", rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      continue;
    }
    if (!mine || next[p] >= end[p]) {
      rd_kafka_message_destroy(m);
      continue;
    }
    last = mono_ms();
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      /* the log ends before the captured high watermark (truncated?) */
      if (m->offset >= end[p]) {
        next[p] = end[p];
        pending--;
      }
      rd_kafka_message_destroy(m);
      continue;
    }
    if (m->offset < next[p]) {
      rd_kafka_message_destroy(m);
      continue;
    }
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    int r = m->offset < end[p] ? fn(opaque, p, m->offset, m->payload, m->len, ts) : 0;
    next[p] = m->offset + 1;
    rd_kafka_message_destroy(m);
    if (r) {
      rc = r;
      goto out;
    }
    if (next[p] >= end[p]) pending--;
  }
  rc = 0;
out:
  if (l) {
    rd_kafka_assign(rk, NULL);
    rd_kafka_topic_partition_list_destroy(l);
  }
  free(next);
  free(end);
  return rc;
}
