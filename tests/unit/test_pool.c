/* Unit tests: dw_pool, the bookkeeping of watch's consumer-group source:
 * the watermark over partitions (and when the clock may reach it, a
 * partition at a stale cached end still holding it back), the
 * choice of the next chunk (event-time order, bad messages first, batch
 * limit, never past the watermark even with the pool full, the wall
 * clock's arrival order), the offsets to commit after a chunk, and flow
 * control (the partitions holding the watermark back never paused). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dw_pool.h"
#include "dw_time.h"

#define NP 4

static void parts_init(dw_part *p) {
  for (int i = 0; i < NP; i++) {
    p[i] = dw_part_unknown();
    p[i].assigned = true;
  }
}

/* A pool entry examined with event time at (bad: not an event). */
static void add(dw_pool *pool, int32_t part, int64_t off, int64_t at, int bad) {
  dw_pool_add(pool, NULL, part, off);
  dw_held *h = &pool->v[pool->n - 1];
  h->examined = true;
  h->at = at;
  if (bad) h->bad = strdup("bad");
}

static void test_watermark(void **state) {
  (void)state;
  dw_part p[NP];
  parts_init(p);
  bool incl;
  /* nothing fetched yet: every partition may hold more, none delivered */
  assert_int_equal(dw_parts_watermark(p, NP, &incl), DW_TIME_NONE);
  for (int i = 0; i < NP; i++) p[i].low = 0, p[i].high = 10, p[i].recv = 5;
  p[0].maxp = 100, p[1].maxp = 50, p[2].maxp = 70, p[3].maxp = 90;
  /* all pending: the least latest event; events at it may still come */
  assert_int_equal(dw_parts_watermark(p, NP, &incl), 50);
  assert_false(incl);
  /* partition 1 at its cached end: it still holds the watermark back
   * until the broker confirms the end, then no longer */
  p[1].recv = 10;
  assert_true(dw_part_at_cached_end(&p[1]));
  assert_int_equal(dw_parts_watermark(p, NP, &incl), 50);
  dw_part_confirm_end(&p[1], 10);
  assert_true(p[1].end_confirmed);
  assert_int_equal(dw_parts_watermark(p, NP, &incl), 70);
  assert_false(incl);
  /* a pending partition that delivered nothing holds everything */
  p[2].maxp = DW_TIME_NONE;
  assert_int_equal(dw_parts_watermark(p, NP, &incl), DW_TIME_NONE);
  p[2].maxp = 70;
  /* everything caught up: the latest event, inclusive */
  for (int i = 0; i < NP; i++) p[i].recv = 10, dw_part_confirm_end(&p[i], 10);
  assert_int_equal(dw_parts_watermark(p, NP, &incl), 100);
  assert_true(incl);
  /* an unassigned partition counts for nothing */
  p[0].assigned = false;
  assert_int_equal(dw_parts_watermark(p, NP, &incl), 90);
  /* empty partitions (high = low) are caught up, once confirmed */
  parts_init(p);
  for (int i = 0; i < NP; i++) p[i].low = p[i].high = 3;
  p[3].maxp = 7, p[3].high = 9, p[3].recv = 9;
  assert_int_equal(dw_parts_watermark(p, NP, &incl), DW_TIME_NONE); /* 0..2 delivered nothing */
  for (int i = 0; i < NP; i++) dw_part_confirm_end(&p[i], p[i].high);
  assert_int_equal(dw_parts_watermark(p, NP, &incl), 7);
  assert_true(incl);
}

/* The cache of high offsets is as old as the last fetch response: a
 * partition whose leader is away (or whose cache dates from an earlier
 * assignment) looks caught up while newer events wait for it. It holds the
 * watermark back until the broker's answer; an answer with more to come
 * makes it pending (its cached end grows, never shrinks). */
static void test_stale_end(void **state) {
  (void)state;
  dw_part p[NP];
  parts_init(p);
  for (int i = 0; i < NP; i++) p[i].low = 0, p[i].high = 10, p[i].recv = 10, dw_part_confirm_end(&p[i], 10);
  p[0].maxp = 100, p[1].maxp = 100, p[2].maxp = 100, p[3].maxp = 100;
  bool incl;
  assert_int_equal(dw_parts_watermark(p, NP, &incl), 100);
  assert_true(incl);
  /* new events arrive on 0 and 1 (up to 300); 2 and 3 look caught up by
   * their cache, but the arrival made their confirmation old */
  p[0].high = p[1].high = 20;
  p[0].recv = 15, p[0].maxp = 300, p[1].recv = 20, p[1].maxp = 250;
  for (int i = 0; i < NP; i++) p[i].end_confirmed = false;
  assert_int_equal(dw_parts_watermark(p, NP, &incl), 100);
  assert_false(incl);
  /* the broker: 2 really ends at 10, 3 has 5 more (its leader was away) */
  dw_part_confirm_end(&p[1], 20);
  dw_part_confirm_end(&p[2], 10);
  dw_part_confirm_end(&p[3], 15);
  assert_true(p[2].end_confirmed);
  assert_false(p[3].end_confirmed);
  assert_false(dw_part_at_cached_end(&p[3]));
  assert_int_equal(p[3].high, 15);
  assert_int_equal(dw_parts_watermark(p, NP, &incl), 100); /* 3 still holds it at 100 */
  assert_true(dw_part_holds_watermark(p, NP, 3));
  assert_false(dw_part_holds_watermark(p, NP, 2));
  /* a confirmed end never lowers the cached one */
  dw_part_confirm_end(&p[3], 12);
  assert_int_equal(p[3].high, 15);
  /* 3 delivers up to 15 (latest 280) and is confirmed there */
  p[3].recv = 15, p[3].maxp = 280;
  dw_part_confirm_end(&p[3], 15);
  assert_int_equal(dw_parts_watermark(p, NP, &incl), 300); /* 0 pending at 300, the least pending */
  assert_false(incl);
  /* nothing received yet from the beginning (recv -1): caught up only
   * where the partition is empty */
  parts_init(p);
  p[0].low = 5, p[0].high = 5;
  dw_part_confirm_end(&p[0], 5);
  assert_true(p[0].end_confirmed);
  p[1].low = 5, p[1].high = 5;
  dw_part_confirm_end(&p[1], 8);
  assert_false(p[1].end_confirmed);
}

static void test_choose_event_clock(void **state) {
  (void)state;
  dw_pool pool;
  assert_int_equal(dw_pool_init(&pool, 100), 0);
  add(&pool, 0, 10, 300, 0);
  add(&pool, 1, 20, 100, 0);
  add(&pool, 0, 11, 0, 1); /* bad: first */
  add(&pool, 1, 21, 200, 0);
  add(&pool, 2, 30, 200, 0); /* same instant as 21: arrival order */
  add(&pool, 2, 31, 500, 0); /* after the watermark */
  bool more;
  size_t n = dw_pool_choose(&pool, true, 300, 10, &more);
  assert_int_equal(n, 5);
  assert_false(more);
  const int64_t want[] = {11, 20, 21, 30, 10};
  for (size_t k = 0; k < n; k++) assert_int_equal(pool.v[pool.cand[k]].offset, want[k]);
  assert_false(pool.v[5].in_chunk);
  /* a batch limit: the oldest first, more to come */
  n = dw_pool_choose(&pool, true, 300, 2, &more);
  assert_int_equal(n, 2);
  assert_true(more);
  assert_int_equal(pool.v[pool.cand[0]].offset, 11);
  assert_int_equal(pool.v[pool.cand[1]].offset, 20);
  /* no watermark yet: only the bad ones can go */
  n = dw_pool_choose(&pool, true, DW_TIME_NONE, 10, &more);
  assert_int_equal(n, 1);
  assert_int_equal(pool.v[pool.cand[0]].offset, 11);
  dw_pool_free(&pool, NULL);
}

static void test_choose_full_and_wall(void **state) {
  (void)state;
  dw_pool pool;
  assert_int_equal(dw_pool_init(&pool, 4), 0);
  add(&pool, 0, 1, 400, 0);
  add(&pool, 1, 1, 300, 0);
  add(&pool, 2, 1, 200, 0);
  add(&pool, 3, 1, 100, 0);
  bool more;
  /* full pool, watermark 150: still only what is at or before it (the
   * run must equal one that never filled its pool) */
  size_t n = dw_pool_choose(&pool, true, 150, 10, &more);
  assert_int_equal(n, 1);
  assert_false(more);
  assert_int_equal(pool.v[pool.cand[0]].partition, 3);
  /* nothing known of the watermark: nothing */
  assert_int_equal(dw_pool_choose(&pool, true, DW_TIME_NONE, 10, &more), 0);
  /* past max the pool grows rather than lose a message */
  for (int i = 0; i < 9; i++) add(&pool, 3, 2 + i, 110 + i, 0);
  assert_int_equal(pool.n, 13);
  assert_int_equal(pool.v[12].offset, 10);
  assert_int_equal(pool.v[0].offset, 1);
  n = dw_pool_choose(&pool, true, 150, 100, &more);
  assert_int_equal(n, 10);
  /* the wall clock: arrival order, no watermark */
  n = dw_pool_choose(&pool, false, INT64_MAX, 3, &more);
  assert_int_equal(n, 3);
  assert_true(more);
  assert_int_equal(pool.v[pool.cand[0]].partition, 0);
  assert_int_equal(pool.v[pool.cand[2]].partition, 2);
  dw_pool_free(&pool, NULL);
}

static void test_offsets_and_drop(void **state) {
  (void)state;
  dw_part p[NP];
  parts_init(p);
  p[0].recv = 13, p[1].recv = 22, p[2].recv = 32, p[3].recv = -1;
  p[3].assigned = false;
  dw_pool pool;
  assert_int_equal(dw_pool_init(&pool, 100), 0);
  add(&pool, 0, 10, 100, 0);
  add(&pool, 0, 11, 500, 0);
  add(&pool, 0, 12, 150, 0);
  add(&pool, 1, 20, 120, 0);
  add(&pool, 1, 21, 130, 0);
  add(&pool, 2, 30, 600, 0);
  add(&pool, 2, 31, 700, 0);
  bool more;
  size_t n = dw_pool_choose(&pool, true, 200, 100, &more);
  assert_int_equal(n, 4); /* 10, 20, 21, 12 */
  int64_t next[NP];
  dw_pool_next_offsets(&pool, p, NP, next);
  /* partition 0: 11 waits in the pool (a crash re-consumes from it, and 12
   * again, which dedupe ignores); 1: everything received is in the chunk;
   * 2: nothing chosen, from its first held offset; 3: not ours */
  assert_int_equal(next[0], 11);
  assert_int_equal(next[1], 22);
  assert_int_equal(next[2], 30);
  assert_int_equal(next[3], -1);
  dw_pool_drop_chunk(&pool, NULL);
  assert_int_equal(pool.n, 3);
  assert_int_equal(pool.v[0].offset, 11); /* the order of the rest kept */
  assert_int_equal(pool.v[1].offset, 30);
  assert_int_equal(pool.v[2].offset, 31);
  dw_pool_free(&pool, NULL);
}

static void test_flow(void **state) {
  (void)state;
  dw_part p[NP];
  parts_init(p);
  for (int i = 0; i < NP; i++) p[i].low = 0, p[i].high = 1000, p[i].recv = 10;
  p[0].maxp = 109, p[1].maxp = 102, p[2].maxp = 150, p[3].maxp = 120;
  dw_pool pool;
  assert_int_equal(dw_pool_init(&pool, 80), 0); /* share: 80 / (2 * 4) = 10 */
  for (int i = 0; i < 10; i++) add(&pool, 0, i, 100 + i, 0);
  for (int i = 0; i < 3; i++) add(&pool, 1, i, 100 + i, 0);
  p[2].paused = true; /* holds nothing: to be resumed */
  int32_t pause[NP], resume[NP];
  int np, nr;
  dw_pool_flow(&pool, p, NP, true, pause, &np, resume, &nr);
  assert_int_equal(np, 1);
  assert_int_equal(pause[0], 0);
  assert_int_equal(nr, 1);
  assert_int_equal(resume[0], 2);
  /* the partition holding the watermark back (1, at 102) is never paused,
   * whatever it holds */
  assert_true(dw_part_holds_watermark(p, NP, 1));
  assert_false(dw_part_holds_watermark(p, NP, 0));
  for (int i = 3; i < 40; i++) add(&pool, 1, i, 100, 0);
  dw_pool_flow(&pool, p, NP, true, pause, &np, resume, &nr);
  assert_int_equal(np, 1);
  assert_int_equal(pause[0], 0);
  /* the pool full: every partition but the one waited for is paused (2,
   * paused and holding nothing, stays paused) */
  for (int i = 0; i < 40; i++) add(&pool, 3, 10 + i, 120, 0);
  assert_true(pool.n >= pool.max);
  dw_pool_flow(&pool, p, NP, true, pause, &np, resume, &nr);
  assert_int_equal(np, 2);
  assert_int_equal(pause[0], 0);
  assert_int_equal(pause[1], 3);
  assert_int_equal(nr, 0);
  /* ... and one waited for is resumed even with the pool full; a
   * partition that delivered nothing yet is waited for too */
  for (int i = 0; i < NP; i++) p[i].paused = i != 3;
  p[1].maxp = DW_TIME_NONE;
  dw_pool_flow(&pool, p, NP, true, pause, &np, resume, &nr);
  assert_int_equal(np, 1);
  assert_int_equal(pause[0], 3);
  assert_int_equal(nr, 1);
  assert_int_equal(resume[0], 1);
  /* the wall clock never pauses (nothing waits for a watermark) */
  for (int i = 0; i < NP; i++) p[i].paused = false;
  dw_pool_flow(&pool, p, NP, false, pause, &np, resume, &nr);
  assert_int_equal(np, 0);
  dw_pool_free(&pool, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_watermark),          cmocka_unit_test(test_choose_event_clock),
    cmocka_unit_test(test_choose_full_and_wall), cmocka_unit_test(test_offsets_and_drop),
    cmocka_unit_test(test_flow),               cmocka_unit_test(test_stale_end),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
