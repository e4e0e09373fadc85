/* dw_pool: the bookkeeping of a consumer-group source, without librdkafka,
 * so that every decision in it is a pure function with unit tests
 * (tests/unit/test_pool.c):
 * - the partition table: what is assigned, where each partition stands
 *   (next offset to process, stored offset, next to receive, latest event
 *   time received, the broker's low/high offsets), paused or not;
 * - the event-time watermark over the partitions;
 * - the reorder pool of received messages and the choice of the next chunk
 *   to apply;
 * - the offsets to commit after a chunk;
 * - flow control (which partitions to pause or resume).
 *
 * Watermark: producers write each partition in event-time order, so once
 * every assigned partition with messages still to receive has delivered
 * one, W = the least of their latest received occurred_at bounds every
 * event still to come from them: events at or before W may be applied, but
 * events *at* W may still arrive, so the clock may go only to just before W.
 * When nothing is left to receive anywhere, W is the latest event received
 * and the clock may go to W itself.
 *
 * "Nothing left to receive" needs the broker's word, not librdkafka's
 * cached high offset: that cache is as old as the partition's last fetch
 * response, which can be seconds old (its leader away, or an assignment
 * whose cache dates from an earlier one) while the other partitions
 * deliver newer events. A partition whose cached end it has reached still
 * holds the watermark back until the broker confirms the end (a query made
 * after the last message arrived from any partition, dw_part_confirm_end);
 * every arrival makes the confirmations old again. */
#ifndef DW_POOL_H
#define DW_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DW_MAX_PARTITIONS 4096

typedef struct dw_part {
  bool assigned;
  bool paused;       /* fetching paused: too far ahead of the watermark */
  int64_t next;      /* next offset to process; -1: from the beginning */
  int64_t stored;    /* value in the offset store when loaded/committed; -1: no row */
  int64_t recv;      /* next offset to receive; -1 unknown */
  int64_t maxp;      /* latest occurred_at received, DW_TIME_NONE */
  int64_t low, high; /* the broker's watermark offsets, -1 unknown */
  bool end_confirmed; /* the broker said, after the last arrival, that recv is the end */
} dw_part;

/* A partition before anything is known of it. */
dw_part dw_part_unknown(void);

/* Has the partition received everything up to its cached high offset?
 * (Then it holds the watermark back only until its end is confirmed.) */
bool dw_part_at_cached_end(const dw_part *pi);
/* The broker says the partition ends at offset end (asked after the last
 * arrival): high becomes at least end, and end_confirmed tells whether
 * everything up to it was received. */
void dw_part_confirm_end(dw_part *pi, int64_t end);

/* The watermark (see above): DW_TIME_NONE while some partition with
 * messages pending (or its end not confirmed) has delivered none. *inclusive: nothing is pending, so
 * the clock may reach W itself (else only W - 1 ms). */
int64_t dw_parts_watermark(const dw_part *parts, int nparts, bool *inclusive);

/* A received message waiting in the pool. */
typedef struct dw_held {
  void *msg; /* the caller's (an rd_kafka_message_t) */
  int32_t partition;
  int64_t offset;
  int64_t at;   /* occurred_at once examined */
  uint64_t seq; /* arrival order */
  char *bad;    /* why it is not an event (it went to the DLQ), or NULL */
  bool examined, in_chunk;
} dw_held;

typedef struct dw_pool {
  dw_held *v;
  size_t n, max; /* max: the nominal size (flow control keeps to it) */
  size_t cap;    /* allocated entries of v and cand */
  uint64_t seq;
  size_t *cand; /* scratch for the chunk, cap entries */
} dw_pool;

int dw_pool_init(dw_pool *p, size_t max);
void dw_pool_free(dw_pool *p, void (*free_msg)(void *msg));
/* Adds a received message. With the event clock the pool may go past max
 * while the partitions holding the watermark back deliver (the others are
 * paused, dw_pool_flow); it grows rather than lose a message. */
void dw_pool_add(dw_pool *p, void *msg, int32_t partition, int64_t offset);
/* Drops every message (a rebuild or revoke: they will be received again). */
void dw_pool_clear(dw_pool *p, void (*free_msg)(void *msg));

/* The next chunk: indices into p->v in p->cand[0..*n). With the event
 * clock: the bad messages first, then events at or before wm in
 * (occurred_at, arrival) order, at most batch_max; never an event past the
 * watermark, even with the pool full (applying one would move the clock
 * past events still to come from a slow partition: they would apply late,
 * and the run would differ from an uninterrupted one). With the wall clock:
 * every message in arrival order, at most batch_max. *more: another chunk
 * is ready right after this one. Marks the chosen in_chunk. */
size_t dw_pool_choose(dw_pool *p, bool event_clock, int64_t wm, size_t batch_max, bool *more);

/* The offsets to commit once the chunk is: for each assigned partition, the
 * first offset still in the pool (it is re-consumed after a crash), else
 * what was received; -1 where nothing is known. */
void dw_pool_next_offsets(const dw_pool *p, const dw_part *parts, int nparts, int64_t *next);

/* Removes the chunk from the pool, keeping the order of the rest. */
void dw_pool_drop_chunk(dw_pool *p, void (*free_msg)(void *msg));

/* Does partition q hold the watermark back (pending, and it delivered
 * nothing yet or its latest event is the watermark)? */
bool dw_part_holds_watermark(const dw_part *parts, int nparts, int32_t q);

/* Flow control, with the event clock only (the wall clock holds nothing
 * back): a partition holding the watermark back is never paused (and is
 * resumed if it was), so the watermark always moves. Of the others, one
 * holding more than its share of the pool (max / 2 per assigned partition)
 * is to be paused, and with the pool full every one is; a paused one
 * holding less than half its share is to be resumed once the pool is no
 * longer full. Fills pause[] and resume[] (partition numbers); returns how
 * many of each in *np and *nr. */
void dw_pool_flow(const dw_pool *p, const dw_part *parts, int nparts, bool event_clock, int32_t *pause, int *np,
                  int32_t *resume, int *nr);

#endif
