/* Unit tests: the working calendar (CONTRACT §3): the shipped vn-YYYY.txt
 * files, working-time arithmetic around holidays, make-up Saturdays, office
 * hours and year boundaries, agreement with a minute-by-minute reference
 * walk, the outside-the-loaded-years error, and malformed calendar files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dw_calendar.h"
#include "dw_time.h"

#define OFF 420
#define HOURS "07:30-11:30,13:30-17:00"
#define MIN DW_MS_PER_MIN
#define HOUR (60 * MIN)
#define DAYMS 27000000LL

static char cal_dir[1024];

/* Local (UTC+07:00) wall-clock time to ms UTC. */
static int64_t T(int y, int mo, int d, int h, int mi) {
  return dw_days_from_civil(y, mo, d) * DW_MS_PER_DAY + (int64_t)(h * 60 + mi) * MIN - OFF * MIN;
}

static int64_t D(int y, int mo, int d) { return dw_days_from_civil(y, mo, d); }

static int group_setup(void **state) {
  (void)state;
  const char *src = getenv("DW_SOURCE_DIR");
  snprintf(cal_dir, sizeof cal_dir, "%s/deploy/calendars", src && *src ? src : DW_SOURCE_DIR);
  return 0;
}

static dw_calendar *load(void) {
  char err[512] = "";
  dw_calendar *cal = dw_calendar_new(cal_dir, HOURS, OFF, err, sizeof err);
  if (!cal) fail_msg("loading %s: %s", cal_dir, err);
  return cal;
}

static int64_t add(const dw_calendar *cal, int64_t from, int64_t w) {
  int64_t out = 0;
  char err[512] = "";
  if (dw_calendar_add_working(cal, from, w, &out, err, sizeof err)) fail_msg("add: %s", err);
  return out;
}

static int64_t sub(const dw_calendar *cal, int64_t to, int64_t w) {
  int64_t out = 0;
  char err[512] = "";
  if (dw_calendar_sub_working(cal, to, w, &out, err, sizeof err)) fail_msg("sub: %s", err);
  return out;
}

static int64_t between(const dw_calendar *cal, int64_t a, int64_t b) {
  int64_t out = -1;
  char err[512] = "";
  if (dw_calendar_working_between(cal, a, b, &out, err, sizeof err)) fail_msg("between: %s", err);
  return out;
}

static int64_t nws(const dw_calendar *cal, int64_t t) {
  int64_t out = 0;
  char err[512] = "";
  if (dw_calendar_next_working_start(cal, t, &out, err, sizeof err)) fail_msg("nws: %s", err);
  return out;
}

static void test_shipped_calendars(void **state) {
  (void)state;
  dw_calendar *cal = load();
  assert_int_equal(dw_calendar_day_ms(cal), DAYMS);
  assert_int_equal(dw_calendar_utc_offset_min(cal), OFF);
  /* Every listed day, in all three years. */
  static const int off[][3] = {
    {2024, 1, 1},  {2024, 2, 8},  {2024, 2, 9},  {2024, 2, 12}, {2024, 2, 13}, {2024, 2, 14},
    {2024, 4, 18}, {2024, 4, 29}, {2024, 4, 30}, {2024, 5, 1},  {2024, 9, 2},  {2024, 9, 3},
    {2025, 1, 1},  {2025, 1, 27}, {2025, 1, 28}, {2025, 1, 29}, {2025, 1, 30}, {2025, 1, 31},
    {2025, 4, 7},  {2025, 4, 30}, {2025, 5, 1},  {2025, 5, 2},  {2025, 9, 1},  {2025, 9, 2},
    {2026, 1, 1},  {2026, 1, 2},  {2026, 2, 16}, {2026, 2, 17}, {2026, 2, 18}, {2026, 2, 19},
    {2026, 2, 20}, {2026, 4, 27}, {2026, 4, 30}, {2026, 5, 1},  {2026, 8, 31}, {2026, 9, 1},
    {2026, 9, 2}};
  for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) {
    const int64_t d = D(off[i][0], off[i][1], off[i][2]);
    assert_true(dw_weekday(d) < 5); /* listed off only on weekdays */
    assert_int_equal(dw_calendar_is_working_day(cal, d), 0);
  }
  static const int work[][3] = {{2024, 5, 4}, {2025, 4, 26}, {2026, 1, 10}, {2026, 8, 22}};
  for (size_t i = 0; i < sizeof work / sizeof work[0]; i++) {
    const int64_t d = D(work[i][0], work[i][1], work[i][2]);
    assert_int_equal(dw_weekday(d), 5); /* make-up days are Saturdays */
    assert_int_equal(dw_calendar_is_working_day(cal, d), 1);
  }
  assert_int_equal(dw_calendar_is_working_day(cal, D(2025, 4, 28)), 1); /* plain Monday */
  assert_int_equal(dw_calendar_is_working_day(cal, D(2025, 5, 3)), 0);  /* plain Saturday */
  assert_int_equal(dw_calendar_is_working_day(cal, D(2025, 5, 4)), 0);  /* Sunday */
  assert_int_equal(dw_calendar_is_working_day(cal, D(2023, 12, 29)), -1);
  assert_int_equal(dw_calendar_is_working_day(cal, D(2027, 1, 1)), -1);
  /* Working days per year, counted independently from the files. */
  const int years[3] = {2024, 2025, 2026}, expect[3] = {251, 250, 250};
  for (int i = 0; i < 3; i++) {
    int n = 0;
    for (int64_t d = D(years[i], 1, 1); d < D(years[i] + 1, 1, 1); d++)
      n += dw_calendar_is_working_day(cal, d);
    assert_int_equal(n, expect[i]);
    /* and the same in working time over the whole year */
    assert_int_equal(between(cal, T(years[i], 1, 1, 0, 0), T(years[i], 12, 31, 23, 59)),
                     (int64_t)expect[i] * DAYMS);
  }
  dw_calendar_destroy(cal);
}

static void test_brief_examples(void **state) {
  (void)state;
  dw_calendar *cal = load();
  assert_int_equal(add(cal, T(2025, 4, 28, 8, 0), DAYMS), T(2025, 4, 29, 8, 0));
  /* 30 Apr, 1 and 2 May off, 3-4 May weekend */
  assert_int_equal(add(cal, T(2025, 4, 29, 8, 0), DAYMS), T(2025, 5, 5, 8, 0));
  /* make-up Saturday */
  assert_int_equal(add(cal, T(2025, 4, 25, 10, 0), DAYMS), T(2025, 4, 26, 10, 0));
  /* lunch: counts from 13:30, the same time of day one working day later */
  assert_int_equal(add(cal, T(2025, 4, 28, 12, 0), DAYMS), T(2025, 4, 29, 13, 30));
  /* 17:00 and after: counts from Tue 07:30, so Wed 07:30 */
  assert_int_equal(add(cal, T(2025, 4, 28, 17, 0), DAYMS), T(2025, 5, 5, 7, 30));
  assert_int_equal(add(cal, T(2025, 4, 28, 18, 0), DAYMS), T(2025, 5, 5, 7, 30));
  assert_int_equal(add(cal, T(2025, 5, 5, 18, 0), DAYMS), T(2025, 5, 7, 7, 30));
  /* Tết 2025 */
  assert_int_equal(add(cal, T(2025, 1, 24, 9, 0), DAYMS), T(2025, 2, 3, 9, 0));
  /* year boundary: 1-2 Jan 2026 off, 3-4 weekend */
  assert_int_equal(add(cal, T(2025, 12, 31, 15, 0), DAYMS), T(2026, 1, 5, 15, 0));
  assert_int_equal(between(cal, T(2025, 4, 28, 8, 0), T(2025, 4, 28, 14, 0)), 4 * HOUR);
  dw_calendar_destroy(cal);
}

static void test_holidays(void **state) {
  (void)state;
  dw_calendar *cal = load();
  /* Tết 2024 (8-14 Feb) and 2026 (14-22 Feb) */
  assert_int_equal(add(cal, T(2024, 2, 7, 10, 0), DAYMS), T(2024, 2, 15, 10, 0));
  assert_int_equal(add(cal, T(2026, 2, 13, 10, 0), DAYMS), T(2026, 2, 23, 10, 0));
  assert_int_equal(add(cal, T(2026, 2, 16, 10, 0), DAYMS), T(2026, 2, 24, 7, 30)); /* from Tết */
  /* make-up Saturdays */
  assert_int_equal(add(cal, T(2024, 5, 3, 10, 0), DAYMS), T(2024, 5, 4, 10, 0));
  assert_int_equal(add(cal, T(2026, 1, 9, 10, 0), DAYMS), T(2026, 1, 10, 10, 0));
  assert_int_equal(add(cal, T(2026, 8, 21, 10, 0), DAYMS), T(2026, 8, 22, 10, 0));
  assert_int_equal(add(cal, T(2026, 8, 22, 10, 0), DAYMS), T(2026, 8, 24, 10, 0));
  /* spans across holidays */
  assert_int_equal(add(cal, T(2024, 4, 26, 10, 0), DAYMS), T(2024, 5, 2, 10, 0));
  assert_int_equal(add(cal, T(2024, 8, 30, 10, 0), DAYMS), T(2024, 9, 4, 10, 0));
  assert_int_equal(add(cal, T(2024, 4, 17, 10, 0), DAYMS), T(2024, 4, 19, 10, 0));
  assert_int_equal(add(cal, T(2025, 4, 4, 10, 0), DAYMS), T(2025, 4, 8, 10, 0));
  assert_int_equal(add(cal, T(2025, 8, 29, 10, 0), DAYMS), T(2025, 9, 3, 10, 0));
  assert_int_equal(add(cal, T(2026, 4, 24, 10, 0), DAYMS), T(2026, 4, 28, 10, 0));
  assert_int_equal(add(cal, T(2026, 4, 29, 10, 0), DAYMS), T(2026, 5, 4, 10, 0));
  assert_int_equal(add(cal, T(2026, 8, 28, 10, 0), DAYMS), T(2026, 9, 3, 10, 0));
  /* 10 working days from Mon 21 Apr 2025: 22,23,24,25,26(Sat),28,29, 5,6,7 May */
  assert_int_equal(add(cal, T(2025, 4, 21, 8, 0), 10 * DAYMS), T(2025, 5, 7, 8, 0));
  assert_int_equal(between(cal, T(2025, 4, 21, 8, 0), T(2025, 5, 7, 8, 0)), 10 * DAYMS);
  assert_int_equal(between(cal, T(2025, 4, 29, 8, 0), T(2025, 5, 5, 8, 0)), DAYMS);
  /* half a day across the 2025 Tết break */
  assert_int_equal(add(cal, T(2025, 1, 24, 15, 0), 4 * HOUR), T(2025, 2, 3, 9, 30));
  dw_calendar_destroy(cal);
}

static void test_outside_hours_and_boundaries(void **state) {
  (void)state;
  dw_calendar *cal = load();
  /* before 07:30: counts from 07:30 the same day */
  assert_int_equal(add(cal, T(2025, 4, 28, 6, 0), DAYMS), T(2025, 4, 29, 7, 30));
  assert_int_equal(add(cal, T(2025, 4, 28, 6, 0), HOUR), T(2025, 4, 28, 8, 30));
  /* weekend: counts from Monday 07:30 */
  assert_int_equal(add(cal, T(2025, 5, 10, 10, 0), DAYMS), T(2025, 5, 13, 7, 30));
  assert_int_equal(add(cal, T(2025, 5, 10, 10, 0), 2 * HOUR), T(2025, 5, 12, 9, 30));
  /* lunch */
  assert_int_equal(add(cal, T(2025, 4, 28, 12, 0), HOUR), T(2025, 4, 28, 14, 30));
  /* across lunch */
  assert_int_equal(add(cal, T(2025, 4, 28, 11, 0), HOUR), T(2025, 4, 28, 14, 0));
  /* same-time-of-day convention at the edges: an interval end becomes the
   * next interval's start */
  assert_int_equal(add(cal, T(2025, 4, 28, 11, 0), 30 * MIN), T(2025, 4, 28, 13, 30));
  assert_int_equal(add(cal, T(2025, 4, 28, 7, 30), 4 * HOUR), T(2025, 4, 28, 13, 30));
  assert_int_equal(add(cal, T(2025, 4, 28, 7, 30), DAYMS), T(2025, 4, 29, 7, 30));
  assert_int_equal(add(cal, T(2025, 4, 28, 11, 30), DAYMS), T(2025, 4, 29, 13, 30));
  assert_int_equal(add(cal, T(2025, 4, 28, 13, 30), DAYMS), T(2025, 4, 29, 13, 30));
  assert_int_equal(add(cal, T(2025, 4, 28, 13, 30), 1), T(2025, 4, 28, 13, 30) + 1);
  assert_int_equal(add(cal, T(2025, 4, 28, 16, 0), HOUR), T(2025, 4, 29, 7, 30));
  assert_int_equal(add(cal, T(2025, 4, 28, 16, 0), 2 * HOUR), T(2025, 4, 29, 8, 30));
  assert_int_equal(add(cal, T(2025, 4, 28, 17, 0), 1), T(2025, 4, 29, 7, 30) + 1);
  /* zero returns the instant unchanged, even outside hours */
  assert_int_equal(add(cal, T(2025, 4, 28, 18, 0), 0), T(2025, 4, 28, 18, 0));
  /* working_between at the edges */
  assert_int_equal(between(cal, T(2025, 4, 28, 11, 30), T(2025, 4, 28, 13, 30)), 0);
  assert_int_equal(between(cal, T(2025, 4, 28, 7, 30), T(2025, 4, 28, 17, 0)), DAYMS);
  assert_int_equal(between(cal, T(2025, 4, 28, 0, 0), T(2025, 4, 29, 0, 0)), DAYMS);
  assert_int_equal(between(cal, T(2025, 4, 28, 17, 0), T(2025, 4, 29, 7, 30)), 0);
  assert_int_equal(between(cal, T(2025, 4, 28, 14, 0), T(2025, 4, 28, 8, 0)), 0); /* b < a */
  assert_int_equal(between(cal, T(2025, 5, 3, 8, 0), T(2025, 5, 4, 16, 0)), 0);  /* weekend */
  /* next working start */
  assert_int_equal(nws(cal, T(2025, 4, 28, 6, 0)), T(2025, 4, 28, 7, 30));
  assert_int_equal(nws(cal, T(2025, 4, 28, 7, 30)), T(2025, 4, 28, 7, 30));
  assert_int_equal(nws(cal, T(2025, 4, 28, 10, 0)), T(2025, 4, 28, 10, 0));
  assert_int_equal(nws(cal, T(2025, 4, 28, 11, 30)), T(2025, 4, 28, 13, 30));
  assert_int_equal(nws(cal, T(2025, 4, 28, 12, 0)), T(2025, 4, 28, 13, 30));
  assert_int_equal(nws(cal, T(2025, 4, 28, 13, 30)), T(2025, 4, 28, 13, 30));
  assert_int_equal(nws(cal, T(2025, 4, 28, 17, 0)), T(2025, 4, 29, 7, 30));
  assert_int_equal(nws(cal, T(2025, 4, 25, 17, 0)), T(2025, 4, 26, 7, 30)); /* make-up Sat */
  assert_int_equal(nws(cal, T(2025, 4, 29, 17, 0)), T(2025, 5, 5, 7, 30));
  assert_int_equal(nws(cal, T(2025, 12, 31, 23, 59)), T(2026, 1, 5, 7, 30));
  /* local day is UTC+7: 2025-04-27T23:30Z is Monday 06:30 local */
  assert_int_equal(nws(cal, T(2025, 4, 28, 6, 30)), T(2025, 4, 28, 7, 30));
  dw_calendar_destroy(cal);
}

static void test_sub_working(void **state) {
  (void)state;
  dw_calendar *cal = load();
  assert_int_equal(sub(cal, T(2025, 5, 5, 8, 0), DAYMS), T(2025, 4, 29, 8, 0));
  assert_int_equal(sub(cal, T(2025, 4, 29, 8, 0), DAYMS), T(2025, 4, 28, 8, 0));
  assert_int_equal(sub(cal, T(2025, 4, 28, 8, 0), DAYMS), T(2025, 4, 26, 8, 0)); /* make-up Sat */
  assert_int_equal(sub(cal, T(2026, 1, 5, 15, 0), DAYMS), T(2025, 12, 31, 15, 0));
  assert_int_equal(sub(cal, T(2025, 2, 3, 9, 0), DAYMS), T(2025, 1, 24, 9, 0));
  /* earliest t: a due time at 07:30 or at 14:00 Tuesday */
  assert_int_equal(sub(cal, T(2025, 4, 29, 7, 30), 0), T(2025, 4, 28, 17, 0));
  assert_int_equal(sub(cal, T(2025, 4, 29, 10, 0), 0), T(2025, 4, 29, 10, 0));
  assert_int_equal(sub(cal, T(2025, 4, 29, 14, 0), HOUR), T(2025, 4, 29, 11, 0));
  assert_int_equal(sub(cal, T(2025, 4, 29, 12, 0), 4 * HOUR), T(2025, 4, 28, 17, 0));
  assert_int_equal(sub(cal, T(2025, 4, 29, 12, 0), 4 * HOUR + 1), T(2025, 4, 28, 17, 0) - 1);
  /* Definition: the earliest t with working_between(t, to) <= w */
  const int64_t to = T(2025, 5, 6, 9, 0), t = sub(cal, to, 2 * DAYMS);
  assert_true(between(cal, t, to) <= 2 * DAYMS);
  assert_true(between(cal, t - 1, to) > 2 * DAYMS);
  dw_calendar_destroy(cal);
}

/* Reference: a minute-by-minute walk using only is_working_day and the
 * default office hours. */
static int in_hours(const dw_calendar *cal, int64_t t) {
  const int64_t day = dw_local_day(t, OFF);
  const int64_t tod = t + OFF * MIN - day * DW_MS_PER_DAY;
  if (dw_calendar_is_working_day(cal, day) != 1) return 0;
  return (tod >= 450 * MIN && tod < 690 * MIN) || (tod >= 810 * MIN && tod < 1020 * MIN);
}

static int64_t ref_add_minutes(const dw_calendar *cal, int64_t t, int minutes) {
  while (minutes > 0) {
    if (in_hours(cal, t)) minutes--;
    t += MIN;
  }
  return t;
}

/* t inside (start, end] of an interval on a working day: the only instants
 * that are the earliest at their working-time position. */
static int earliest_at_position(const dw_calendar *cal, int64_t t) { return in_hours(cal, t - 1); }

static void test_properties(void **state) {
  (void)state;
  dw_calendar *cal = load();
  srand(20250429);
  /* far enough from the ends of 2024-2026 that 40 working days fit */
  const int64_t lo = T(2024, 3, 1, 0, 0), span = T(2026, 10, 15, 0, 0) - lo;
  /* Against the reference walk, minute granularity. */
  for (int i = 0; i < 300; i++) {
    const int64_t t = lo + ((int64_t)rand() * RAND_MAX + rand()) % (span / MIN) * MIN;
    const int minutes = 1 + rand() % (3 * 450);
    assert_int_equal(add(cal, t, minutes * MIN), nws(cal, ref_add_minutes(cal, t, minutes)));
  }
  /* Inverse properties, ms granularity, spans up to 40 working days. */
  int round_trips = 0;
  for (int i = 0; i < 20000; i++) {
    const int64_t t = lo + ((int64_t)rand() * RAND_MAX + rand()) % span;
    int64_t w = ((int64_t)rand() * RAND_MAX + rand()) % (40 * DAYMS);
    if (i % 5 == 0) w = (w / DAYMS) * DAYMS; /* whole days */
    const int64_t a = add(cal, t, w);
    assert_true(a >= t);
    assert_int_equal(between(cal, t, a), w);
    const int64_t s = sub(cal, t, w);
    assert_true(s <= t);
    assert_int_equal(between(cal, s, t), w);
    assert_true(between(cal, s - 1, t) > w); /* earliest */
    if (earliest_at_position(cal, t)) {
      round_trips++;
      assert_int_equal(sub(cal, a, w), t);
      if (w > 0 && in_hours(cal, t)) assert_int_equal(add(cal, s, w), t);
    }
    /* next_working_start is in hours and nothing between is working time */
    const int64_t n = nws(cal, t);
    assert_true(n >= t && in_hours(cal, n));
    assert_int_equal(between(cal, t, n), 0);
  }
  assert_true(round_trips > 1000);
  dw_calendar_destroy(cal);
}

static void test_outside_loaded_years(void **state) {
  (void)state;
  dw_calendar *cal = load();
  char err[512];
  int64_t out;
  assert_int_equal(dw_calendar_add_working(cal, T(2023, 12, 29, 10, 0), DAYMS, &out, err, sizeof err), -1);
  assert_non_null(strstr(err, "2023-12-29"));
  assert_non_null(strstr(err, "vn-2023.txt"));
  /* local day, not UTC day: 2024-01-01T06:00+07:00 is 2023-12-31 in UTC but loaded */
  assert_int_equal(dw_calendar_add_working(cal, T(2024, 1, 1, 6, 0), DAYMS, &out, err, sizeof err), 0);
  assert_int_equal(out, T(2024, 1, 3, 7, 30));
  assert_int_equal(dw_calendar_add_working(cal, T(2023, 12, 31, 23, 59), DAYMS, &out, err, sizeof err), -1);
  /* walking off the end */
  assert_int_equal(dw_calendar_add_working(cal, T(2026, 12, 31, 10, 0), DAYMS, &out, err, sizeof err), -1);
  assert_non_null(strstr(err, "2026"));
  assert_int_equal(dw_calendar_add_working(cal, T(2026, 12, 31, 10, 0), HOUR, &out, err, sizeof err), 0);
  assert_int_equal(out, T(2026, 12, 31, 11, 0));
  assert_int_equal(dw_calendar_add_working(cal, T(2024, 1, 2, 8, 0), INT64_MAX, &out, err, sizeof err), -1);
  assert_int_equal(dw_calendar_add_working(cal, T(2024, 1, 2, 8, 0), -1, &out, err, sizeof err), -1);
  assert_int_equal(dw_calendar_add_working(cal, INT64_MIN, DAYMS, &out, err, sizeof err), -1);
  assert_int_equal(dw_calendar_add_working(cal, INT64_MAX, DAYMS, &out, err, sizeof err), -1);
  /* walking off the start */
  assert_int_equal(dw_calendar_sub_working(cal, T(2024, 1, 2, 8, 0), DAYMS, &out, err, sizeof err), -1);
  assert_non_null(strstr(err, "2024"));
  assert_int_equal(dw_calendar_sub_working(cal, T(2024, 1, 2, 8, 0), INT64_MAX, &out, err, sizeof err), -1);
  assert_int_equal(dw_calendar_sub_working(cal, T(2024, 1, 2, 8, 0), 20 * MIN, &out, err, sizeof err), 0);
  assert_int_equal(out, T(2024, 1, 2, 7, 40));
  /* position 0: every instant from 1 Jan 00:00 qualifies, so the earliest
   * lies before the loaded years */
  assert_int_equal(dw_calendar_sub_working(cal, T(2024, 1, 2, 8, 0), 30 * MIN, &out, err, sizeof err), -1);
  assert_int_equal(dw_calendar_working_between(cal, T(2023, 12, 1, 8, 0), T(2024, 1, 3, 8, 0), &out, err, sizeof err), -1);
  assert_int_equal(dw_calendar_working_between(cal, T(2026, 12, 1, 8, 0), T(2027, 1, 3, 8, 0), &out, err, sizeof err), -1);
  assert_non_null(strstr(err, "2027-01-03"));
  assert_int_equal(dw_calendar_next_working_start(cal, T(2026, 12, 31, 17, 0), &out, err, sizeof err), -1);
  assert_int_equal(dw_calendar_next_working_start(cal, T(2027, 1, 4, 7, 0), &out, err, sizeof err), -1);
  dw_calendar_destroy(cal);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_gap_in_years(void **state) {
  (void)state;
  char dir[] = "/tmp/dwcalXXXXXX", p24[600], p26[600], err[512];
  assert_non_null(mkdtemp(dir));
  snprintf(p24, sizeof p24, "%s/vn-2024.txt", dir);
  snprintf(p26, sizeof p26, "%s/vn-2026.txt", dir);
  write_file(p24, "# only a comment\n\n");
  write_file(p26, "2026-01-01 off # New Year\n");
  dw_calendar *cal = dw_calendar_new(dir, HOURS, OFF, err, sizeof err);
  assert_non_null(cal);
  int64_t out;
  assert_int_equal(dw_calendar_is_working_day(cal, D(2025, 6, 2)), -1);
  assert_int_equal(dw_calendar_is_working_day(cal, D(2024, 12, 31)), 1);
  assert_int_equal(dw_calendar_is_working_day(cal, D(2026, 1, 1)), 0);
  assert_int_equal(dw_calendar_add_working(cal, T(2024, 12, 31, 10, 0), DAYMS, &out, err, sizeof err), -1);
  assert_non_null(strstr(err, "2025"));
  assert_int_equal(dw_calendar_add_working(cal, T(2024, 12, 31, 10, 0), HOUR, &out, err, sizeof err), 0);
  assert_int_equal(dw_calendar_sub_working(cal, T(2026, 1, 2, 10, 0), DAYMS, &out, err, sizeof err), -1);
  assert_non_null(strstr(err, "2025"));
  assert_int_equal(dw_calendar_working_between(cal, T(2024, 12, 31, 10, 0), T(2026, 1, 2, 10, 0), &out, err, sizeof err), -1);
  assert_int_equal(dw_calendar_next_working_start(cal, T(2024, 12, 31, 18, 0), &out, err, sizeof err), -1);
  assert_int_equal(dw_calendar_add_working(cal, T(2025, 6, 2, 10, 0), HOUR, &out, err, sizeof err), -1);
  assert_non_null(strstr(err, "2025-06-02"));
  assert_int_equal(dw_calendar_add_working(cal, T(2026, 1, 1, 10, 0), DAYMS, &out, err, sizeof err), 0);
  assert_int_equal(out, T(2026, 1, 5, 7, 30));
  dw_calendar_destroy(cal);
  unlink(p24);
  unlink(p26);
  rmdir(dir);
}

/* Each malformed file gives an error naming file:line and the reason. */
static void test_malformed_files(void **state) {
  (void)state;
  char dir[] = "/tmp/dwcalXXXXXX", path[600], err[512];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/vn-2025.txt", dir);
  static const struct {
    const char *text, *where, *reason;
  } cases[] = {
    {"2025-01-01 off\n2025-02-30 off\n", "vn-2025.txt:2:", "bad date '2025-02-30'"},
    {"2025-13-01 off\n", "vn-2025.txt:1:", "bad date"},
    {"# c\n25-01-01 off\n", "vn-2025.txt:2:", "bad date '25-01-01'"},
    {"2025-1-1 off\n", "vn-2025.txt:1:", "bad date"},
    {"\n\n2024-12-31 off\n", "vn-2025.txt:3:", "not in the file's year 2025"},
    {"2025-01-01 of\n", "vn-2025.txt:1:", "unknown word 'of'"},
    {"2025-01-01 OFF\n", "vn-2025.txt:1:", "unknown word 'OFF'"},
    {"2025-01-01\n", "vn-2025.txt:1:", "missing 'off' or 'work'"},
    {"2025-01-01 off holiday\n", "vn-2025.txt:1:", "unexpected text 'holiday'"},
    {"2025-01-01 off\n# x\n2025-01-01 work\n", "vn-2025.txt:3:", "duplicate date 2025-01-01 (already listed on line 1)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_file(path, cases[i].text);
    err[0] = '\0';
    dw_calendar *cal = dw_calendar_new(dir, HOURS, OFF, err, sizeof err);
    if (cal || !strstr(err, cases[i].where) || !strstr(err, cases[i].reason))
      fail_msg("case %zu: got '%s', want '%s' and '%s'", i, err, cases[i].where, cases[i].reason);
  }
  /* a well-formed file: comments, blank lines, CRLF, tabs, no final newline */
  write_file(path, "# 2025\r\n\r\n2025-01-01\toff\t# New Year\r\n  2025-04-26 work\r\n2025-05-02 off");
  dw_calendar *cal = dw_calendar_new(dir, HOURS, OFF, err, sizeof err);
  assert_non_null(cal);
  assert_int_equal(dw_calendar_is_working_day(cal, D(2025, 1, 1)), 0);
  assert_int_equal(dw_calendar_is_working_day(cal, D(2025, 4, 26)), 1);
  assert_int_equal(dw_calendar_is_working_day(cal, D(2025, 5, 2)), 0);
  assert_int_equal(dw_calendar_is_working_day(cal, D(2025, 1, 2)), 1);
  dw_calendar_destroy(cal);
  /* other files in the folder are ignored */
  char other[600];
  snprintf(other, sizeof other, "%s/vn-2025.txt.bak", dir);
  write_file(other, "garbage\n");
  cal = dw_calendar_new(dir, HOURS, OFF, err, sizeof err);
  assert_non_null(cal);
  dw_calendar_destroy(cal);
  unlink(other);
  unlink(path);
  /* an empty folder, a missing folder */
  assert_null(dw_calendar_new(dir, HOURS, OFF, err, sizeof err));
  assert_non_null(strstr(err, "no vn-YYYY.txt"));
  rmdir(dir);
  assert_null(dw_calendar_new(dir, HOURS, OFF, err, sizeof err));
  assert_non_null(strstr(err, dir));
}

static void test_hours(void **state) {
  (void)state;
  char err[512];
  static const struct {
    const char *hours, *reason;
  } bad[] = {
    {"", "not HH:MM-HH:MM"},
    {"7:30-11:30", "not HH:MM-HH:MM"},
    {"07:30-11:30;13:30-17:00", "expected ','"},
    {"07:30-11:30,", "interval 2"},
    {"11:30-07:30", "does not end after it starts"},
    {"07:30-07:30", "does not end after it starts"},
    {"07:30-11:30,11:00-17:00", "overlaps"},
    {"13:30-17:00,07:30-11:30", "overlaps or precedes"},
    {"07:60-11:30", "not HH:MM-HH:MM"},
    {"24:00-24:00", "not HH:MM-HH:MM"},
    {"01:00-02:00,03:00-04:00,05:00-06:00,07:00-08:00,09:00-10:00", "more than 4"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    dw_calendar *cal = dw_calendar_new(cal_dir, bad[i].hours, OFF, err, sizeof err);
    if (cal || !strstr(err, bad[i].reason))
      fail_msg("hours '%s': got '%s', want '%s'", bad[i].hours, err, bad[i].reason);
  }
  assert_null(dw_calendar_new(cal_dir, HOURS, 2000, err, sizeof err));
  assert_non_null(strstr(err, "utc_offset_min"));
  /* one interval, UTC: 08:00-12:00 */
  dw_calendar *cal = dw_calendar_new(cal_dir, " 08:00-12:00 ", 0, err, sizeof err);
  assert_non_null(cal);
  assert_int_equal(dw_calendar_day_ms(cal), 4 * HOUR);
  const int64_t mon = D(2025, 4, 28) * DW_MS_PER_DAY;
  int64_t out;
  assert_int_equal(dw_calendar_add_working(cal, mon + 10 * HOUR, 4 * HOUR, &out, err, sizeof err), 0);
  assert_int_equal(out, mon + DW_MS_PER_DAY + 10 * HOUR);
  dw_calendar_destroy(cal);
  /* four intervals, touching, up to 24:00 */
  cal = dw_calendar_new(cal_dir, "00:00-06:00,06:00-12:00,12:00-18:00,18:00-24:00", OFF, err, sizeof err);
  assert_non_null(cal);
  assert_int_equal(dw_calendar_day_ms(cal), DW_MS_PER_DAY);
  assert_int_equal(dw_calendar_add_working(cal, T(2025, 4, 28, 6, 0), 2 * DW_MS_PER_DAY, &out, err, sizeof err), 0);
  assert_int_equal(out, T(2025, 5, 5, 6, 0)); /* 29 Apr, then 5 May */
  dw_calendar_destroy(cal);
}

static void test_default_dir(void **state) {
  (void)state;
  setenv("DW_CALENDAR_DIR", "/somewhere/calendars", 1);
  assert_string_equal(dw_calendar_default_dir(), "/somewhere/calendars");
  unsetenv("DW_CALENDAR_DIR");
  /* no installed copy next to a build-tree binary: the compiled-in set,
   * which must give exactly what the files give */
  const char *d = dw_calendar_default_dir();
  assert_string_equal(d, "(built-in)");
  char err[512];
  dw_calendar *builtin = dw_calendar_new(d, HOURS, OFF, err, sizeof err);
  assert_non_null(builtin);
  dw_calendar *files = dw_calendar_new(cal_dir, HOURS, OFF, err, sizeof err);
  assert_non_null(files);
  for (int64_t t = T(2024, 1, 1, 0, 0); t < T(2027, 1, 1, 0, 0); t += 6 * 3600000LL) {
    int64_t a, b;
    int ra = dw_calendar_add_working(builtin, t, 7 * 3600000LL, &a, err, sizeof err);
    int rb = dw_calendar_add_working(files, t, 7 * 3600000LL, &b, err, sizeof err);
    assert_int_equal(ra, rb);
    if (ra == 0) assert_int_equal(a, b);
  }
  dw_calendar_destroy(builtin);
  dw_calendar_destroy(files);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_shipped_calendars),
    cmocka_unit_test(test_brief_examples),
    cmocka_unit_test(test_holidays),
    cmocka_unit_test(test_outside_hours_and_boundaries),
    cmocka_unit_test(test_sub_working),
    cmocka_unit_test(test_properties),
    cmocka_unit_test(test_outside_loaded_years),
    cmocka_unit_test(test_gap_in_years),
    cmocka_unit_test(test_malformed_files),
    cmocka_unit_test(test_hours),
    cmocka_unit_test(test_default_dir),
  };
  return cmocka_run_group_tests(tests, group_setup, NULL);
}
