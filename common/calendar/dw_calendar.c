/* dw_calendar: loads the Vietnamese working calendar (deploy/calendars/
 * vn-YYYY.txt, CONTRACT §3) and does working-time arithmetic on it.
 *
 * Representation (why: the engine calls this millions of times a second):
 * the loaded years are laid out as one run of days from 1 Jan of the first
 * loaded year to 31 Dec of the last, with
 *   cum[i]   = number of working days before day i (so day i works iff
 *              cum[i+1] > cum[i]; this is the bitmap and its prefix sums),
 *   wdays[k] = index of the k-th working day,
 *   block[i] = 0 for a day in a year without a file, else the number of the
 *              run of consecutive loaded years the day belongs to.
 * Working time is then a position P(t) = cum[day] * day_ms + time worked so far
 * that day, and "earliest/latest instant at position X" is a wdays[] lookup plus
 * a scan of at most 4 office-hour intervals: every operation is O(1). Two
 * instants are connected without crossing a missing year iff they share a
 * block, so the "outside the loaded years" check is O(1) too. The structure
 * is immutable after loading, hence safe to share between threads. */
#include "dw_calendar.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_config.h"
#include "dw_embedded.h"
#include "dw_paths.h"
#include "dw_time.h"


#define MAX_INTERVALS 4
#define MIN_YEAR 1900
#define MAX_YEAR 2999

struct dw_calendar {
  int utc_offset_min;
  int64_t offset_ms;
  int nint;
  int64_t istart[MAX_INTERVALS], iend[MAX_INTERVALS]; /* ms since local midnight */
  int64_t ibefore[MAX_INTERVALS]; /* working ms in the day before interval i */
  int64_t day_ms;
  int first_year, last_year;
  unsigned char *year_loaded; /* [last_year - first_year + 1] */
  int64_t first_day;          /* local day number of 1 Jan first_year */
  int32_t ndays;
  int32_t *cum;   /* [ndays + 1] */
  uint16_t *block; /* [ndays] */
  int32_t *wdays; /* [nwork] */
  int32_t nwork;
  char *dir;
};

static void seterr(char *errstr, size_t n, const char *fmt, ...) {
  if (!errstr || n == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errstr, n, fmt, ap);
  va_end(ap);
}

/* ---------------------------------------------------------------- hours */

static int parse_hhmm(const char **pp, int allow_24, int64_t *ms) {
  const char *p = *pp;
  if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) || p[2] != ':' ||
      !isdigit((unsigned char)p[3]) || !isdigit((unsigned char)p[4]))
    return -1;
  int h = (p[0] - '0') * 10 + (p[1] - '0'), m = (p[3] - '0') * 10 + (p[4] - '0');
  if (m > 59 || h > 24 || (h == 24 && (!allow_24 || m != 0))) return -1;
  *ms = (int64_t)(h * 60 + m) * DW_MS_PER_MIN;
  *pp = p + 5;
  return 0;
}

static int parse_hours(dw_calendar *cal, const char *hours, char *errstr, size_t n) {
  const char *p = hours;
  cal->nint = 0;
  cal->day_ms = 0;
  for (;;) {
    while (*p == ' ' || *p == '\t') p++;
    const char *start = p;
    int64_t s, e;
    if (cal->nint == MAX_INTERVALS) {
      seterr(errstr, n, "calendar hours '%s': more than %d intervals", hours, MAX_INTERVALS);
      return -1;
    }
    if (parse_hhmm(&p, 0, &s) || *p++ != '-' || parse_hhmm(&p, 1, &e)) {
      seterr(errstr, n, "calendar hours '%s': interval %d is not HH:MM-HH:MM (at '%.20s')", hours,
             cal->nint + 1, start);
      return -1;
    }
    if (e <= s) {
      seterr(errstr, n, "calendar hours '%s': interval %d '%.11s' does not end after it starts",
             hours, cal->nint + 1, start);
      return -1;
    }
    if (cal->nint > 0 && s < cal->iend[cal->nint - 1]) {
      seterr(errstr, n,
             "calendar hours '%s': interval %d '%.11s' overlaps or precedes the one before it", hours,
             cal->nint + 1, start);
      return -1;
    }
    cal->istart[cal->nint] = s;
    cal->iend[cal->nint] = e;
    cal->ibefore[cal->nint] = cal->day_ms;
    cal->day_ms += e - s;
    cal->nint++;
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '\0') break;
    if (*p != ',') {
      seterr(errstr, n, "calendar hours '%s': expected ',' between intervals (at '%.20s')", hours, p);
      return -1;
    }
    p++;
  }
  return 0;
}

/* ---------------------------------------------------------------- loading */

typedef struct {
  unsigned char mark[366]; /* 0 unlisted, 1 off, 2 work */
  int line[366];           /* line of the first listing, for duplicate errors */
} year_marks;

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* Parses "YYYY-MM-DD" (exactly) into a day number; -1 if not a valid date. */
static int parse_date(const char *s, size_t len, int *year, int64_t *day) {
  if (len != 10 || s[4] != '-' || s[7] != '-') return -1;
  for (int i = 0; i < 10; i++)
    if (i != 4 && i != 7 && !isdigit((unsigned char)s[i])) return -1;
  int y = atoi(s), m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
  static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1) return -1;
  if (d > dim[m - 1] + (m == 2 && is_leap(y))) return -1;
  *year = y;
  *day = dw_days_from_civil(y, m, d);
  return 0;
}

/* Parses one year's file (its text; path names it in messages). */
static int load_text(const char *path, const char *text, int year, year_marks *ym, char *errstr, size_t n) {
  char line[1024];
  int lineno = 0, rc = 0;
  const int64_t jan1 = dw_days_from_civil(year, 1, 1);
  for (const char *t = text; *t;) {
    const char *nl = strchr(t, '\n');
    size_t ll = nl ? (size_t)(nl - t) : strlen(t);
    snprintf(line, sizeof line, "%.*s", (int)(ll < sizeof line ? ll : sizeof line - 1), t);
    t += ll + (nl ? 1 : 0);
    lineno++;
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    size_t len = strlen(line);
    while (len > 0 && isspace((unsigned char)line[len - 1])) line[--len] = '\0';
    char *p = line;
    while (isspace((unsigned char)*p)) p++;
    if (*p == '\0') continue;
    char *tok = p;
    while (*p && !isspace((unsigned char)*p)) p++;
    size_t toklen = (size_t)(p - tok);
    int y;
    int64_t day;
    if (parse_date(tok, toklen, &y, &day)) {
      seterr(errstr, n, "%s:%d: bad date '%.*s' (expected a valid YYYY-MM-DD)", path, lineno,
             (int)(toklen > 40 ? 40 : toklen), tok);
      rc = -1;
      break;
    }
    if (y != year) {
      seterr(errstr, n, "%s:%d: date %.10s is not in the file's year %d", path, lineno, tok, year);
      rc = -1;
      break;
    }
    while (isspace((unsigned char)*p)) p++;
    char *word = p;
    while (*p && !isspace((unsigned char)*p)) p++;
    size_t wlen = (size_t)(p - word);
    unsigned char mark;
    if (wlen == 3 && strncmp(word, "off", 3) == 0) {
      mark = 1;
    } else if (wlen == 4 && strncmp(word, "work", 4) == 0) {
      mark = 2;
    } else if (wlen == 0) {
      seterr(errstr, n, "%s:%d: missing 'off' or 'work' after date %.10s", path, lineno, tok);
      rc = -1;
      break;
    } else {
      seterr(errstr, n, "%s:%d: unknown word '%.*s' (expected 'off' or 'work')", path, lineno,
             (int)(wlen > 40 ? 40 : wlen), word);
      rc = -1;
      break;
    }
    while (isspace((unsigned char)*p)) p++;
    if (*p) {
      seterr(errstr, n, "%s:%d: unexpected text '%.40s' after '%.*s' (comments start with '#')",
             path, lineno, p, (int)wlen, word);
      rc = -1;
      break;
    }
    int doy = (int)(day - jan1);
    if (ym->mark[doy]) {
      seterr(errstr, n, "%s:%d: duplicate date %.10s (already listed on line %d)", path, lineno, tok,
             ym->line[doy]);
      rc = -1;
      break;
    }
    ym->mark[doy] = mark;
    ym->line[doy] = lineno;
  }
  return rc;
}


/* The calendars compiled in (deploy/calendars, CMakeLists.txt dw_embed). */
extern const dw_embedded_file dw_embedded_calendars[];
#define BUILTIN "(built-in)"

/* The year of a file name vn-YYYY.txt, or -1. */
static int year_of_name(const char *nm) {
  if (strlen(nm) != 11 || strncmp(nm, "vn-", 3) != 0 || strcmp(nm + 7, ".txt") != 0) return -1;
  for (int i = 3; i < 7; i++)
    if (!isdigit((unsigned char)nm[i])) return -1;
  return atoi(nm + 3);
}

/* Lists the years of the vn-YYYY.txt files in dir (BUILTIN: the compiled-in
 * set), sorted. */
static int list_years(const char *dir, int **years_out, int *count_out, char *errstr, size_t n) {
  if (strcmp(dir, BUILTIN) == 0) {
    int count = 0;
    for (const dw_embedded_file *f = dw_embedded_calendars; f->name; f++) count += year_of_name(f->name) >= 0;
    int *years = calloc((size_t)count + 1, sizeof *years);
    if (!years) {
      seterr(errstr, n, "out of memory");
      return -1;
    }
    count = 0;
    for (const dw_embedded_file *f = dw_embedded_calendars; f->name; f++)
      if (year_of_name(f->name) >= 0) years[count++] = year_of_name(f->name);
    qsort(years, (size_t)count, sizeof *years, cmp_int);
    *years_out = years;
    *count_out = count;
    return 0;
  }
  DIR *d = opendir(dir);
  if (!d) {
    seterr(errstr, n, "calendar folder %s: cannot open: %s", dir, strerror(errno));
    return -1;
  }
  int *years = NULL, count = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *nm = de->d_name;
    int y = year_of_name(nm);
    if (y < 0) continue;
    if (y < MIN_YEAR || y > MAX_YEAR) {
      seterr(errstr, n, "%s/%s: year %d is outside the supported range %d-%d", dir, nm, y, MIN_YEAR,
             MAX_YEAR);
      free(years);
      closedir(d);
      return -1;
    }
    if (count == cap) {
      cap = cap ? cap * 2 : 8;
      int *ny = realloc(years, (size_t)cap * sizeof *ny);
      if (!ny) {
        seterr(errstr, n, "out of memory");
        free(years);
        closedir(d);
        return -1;
      }
      years = ny;
    }
    years[count++] = y;
  }
  closedir(d);
  if (count == 0) {
    seterr(errstr, n, "calendar folder %s: no vn-YYYY.txt files", dir);
    free(years);
    return -1;
  }
  qsort(years, (size_t)count, sizeof *years, cmp_int);
  *years_out = years;
  *count_out = count;
  return 0;
}

dw_calendar *dw_calendar_new(const char *dir, const char *hours, int utc_offset_min, char *errstr,
                             size_t errstr_size) {
  if (!dir) dir = dw_calendar_default_dir();
  if (!hours) hours = "07:30-11:30,13:30-17:00";
  if (utc_offset_min < -14 * 60 || utc_offset_min > 14 * 60) {
    seterr(errstr, errstr_size, "calendar utc_offset_min %d is outside -840..840", utc_offset_min);
    return NULL;
  }
  dw_calendar *cal = calloc(1, sizeof *cal);
  if (!cal) {
    seterr(errstr, errstr_size, "out of memory");
    return NULL;
  }
  cal->utc_offset_min = utc_offset_min;
  cal->offset_ms = (int64_t)utc_offset_min * DW_MS_PER_MIN;
  int *years = NULL, nyears = 0;
  year_marks *marks = NULL;
  if (parse_hours(cal, hours, errstr, errstr_size)) goto fail;
  if (list_years(dir, &years, &nyears, errstr, errstr_size)) goto fail;
  cal->dir = strdup(dir);
  cal->first_year = years[0];
  cal->last_year = years[nyears - 1];
  const int span = cal->last_year - cal->first_year + 1;
  cal->first_day = dw_days_from_civil(cal->first_year, 1, 1);
  cal->ndays = (int32_t)(dw_days_from_civil(cal->last_year + 1, 1, 1) - cal->first_day);
  cal->year_loaded = calloc((size_t)span, 1);
  cal->cum = calloc((size_t)cal->ndays + 1, sizeof *cal->cum);
  cal->block = calloc((size_t)cal->ndays, sizeof *cal->block);
  cal->wdays = malloc(((size_t)cal->ndays + 1) * sizeof *cal->wdays);
  marks = malloc(sizeof *marks);
  if (!cal->dir || !cal->year_loaded || !cal->cum || !cal->block || !cal->wdays || !marks) {
    seterr(errstr, errstr_size, "out of memory");
    goto fail;
  }
  for (int i = 0; i < nyears; i++) cal->year_loaded[years[i] - cal->first_year] = 1;

  int32_t idx = 0, nwork = 0;
  uint16_t blk = 0;
  int prev_loaded = 0;
  char path[4096];
  for (int y = cal->first_year; y <= cal->last_year; y++) {
    const int ylen = is_leap(y) ? 366 : 365;
    const int loaded = cal->year_loaded[y - cal->first_year];
    if (loaded) {
      if (!prev_loaded) blk++;
      memset(marks, 0, sizeof *marks);
      snprintf(path, sizeof path, "%s/vn-%04d.txt", dir, y);
      if (strcmp(dir, BUILTIN) == 0) {
        const dw_embedded_file *f = dw_embedded_find(dw_embedded_calendars, path + strlen(BUILTIN) + 1);
        if (!f || load_text(path, f->data, y, marks, errstr, errstr_size)) goto fail;
      } else {
        char *text = dw_read_text_file(path, NULL, errstr, errstr_size);
        int bad = !text || load_text(path, text, y, marks, errstr, errstr_size);
        free(text);
        if (bad) goto fail;
      }
    }
    prev_loaded = loaded;
    for (int doy = 0; doy < ylen; doy++, idx++) {
      int working = 0;
      if (loaded) {
        cal->block[idx] = blk;
        const int wd = dw_weekday(cal->first_day + idx);
        working = marks->mark[doy] == 2 || (wd < 5 && marks->mark[doy] != 1);
      }
      cal->cum[idx] = nwork;
      if (working) cal->wdays[nwork++] = idx;
    }
  }
  cal->cum[idx] = nwork;
  cal->nwork = nwork;
  free(years);
  free(marks);
  return cal;
fail:
  free(years);
  free(marks);
  dw_calendar_destroy(cal);
  return NULL;
}

void dw_calendar_destroy(dw_calendar *cal) {
  if (!cal) return;
  free(cal->year_loaded);
  free(cal->cum);
  free(cal->block);
  free(cal->wdays);
  free(cal->dir);
  free(cal);
}

int64_t dw_calendar_day_ms(const dw_calendar *cal) { return cal->day_ms; }
int dw_calendar_utc_offset_min(const dw_calendar *cal) { return cal->utc_offset_min; }

const char *dw_calendar_default_dir(void) {
  static char installed[4096];
  const char *env = getenv("DW_CALENDAR_DIR");
  if (env && *env) return env;
  const char *d = dw_paths_share_sub("calendars", installed, sizeof installed);
  return d ? d : BUILTIN;
}

/* ---------------------------------------------------------------- arithmetic */

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Names the day (local day number) that is outside the loaded years. */
static void err_outside_day(const dw_calendar *cal, int64_t day, char *errstr, size_t n) {
  int y, m, d;
  dw_civil_from_days(day, &y, &m, &d);
  seterr(errstr, n, "%04d-%02d-%02d is outside the loaded calendar years (no vn-%04d.txt in %s)", y,
         m, d, y, cal->dir);
}

/* Splits t into a day index (into cum/block) and ms since local midnight;
 * -1 if the day is outside the loaded years. */
static int locate(const dw_calendar *cal, int64_t t, int32_t *idx, int64_t *tod, char *errstr,
                  size_t n) {
  /* Far-out instants (and DW_TIME_NONE) cannot be in a loaded year; checking
   * first keeps t + offset from overflowing. */
  if (t < -((int64_t)1 << 52) || t > ((int64_t)1 << 52)) {
    seterr(errstr, n, "instant %lld ms is outside the loaded calendar years (%d-%d)", (long long)t,
           cal->first_year, cal->last_year);
    return -1;
  }
  const int64_t local = t + cal->offset_ms;
  const int64_t day = floor_div(local, DW_MS_PER_DAY);
  const int64_t i = day - cal->first_day;
  if (i < 0 || i >= cal->ndays || cal->block[i] == 0) {
    err_outside_day(cal, day, errstr, n);
    return -1;
  }
  *idx = (int32_t)i;
  *tod = local - day * DW_MS_PER_DAY;
  return 0;
}

static int day_works(const dw_calendar *cal, int32_t idx) { return cal->cum[idx + 1] > cal->cum[idx]; }

/* Working ms elapsed on a working day at ms-of-day tod. */
static int64_t worked_by(const dw_calendar *cal, int64_t tod) {
  int64_t w = 0;
  for (int i = 0; i < cal->nint; i++) {
    if (tod <= cal->istart[i]) break;
    w += (tod < cal->iend[i] ? tod : cal->iend[i]) - cal->istart[i];
  }
  return w;
}

/* Working-time position of (idx, tod) from the start of the loaded range. */
static int64_t position(const dw_calendar *cal, int32_t idx, int64_t tod) {
  int64_t p = (int64_t)cal->cum[idx] * cal->day_ms;
  if (day_works(cal, idx)) p += worked_by(cal, tod);
  return p;
}

static int64_t instant_of(const dw_calendar *cal, int32_t idx, int64_t tod) {
  return (cal->first_day + idx) * DW_MS_PER_DAY + tod - cal->offset_ms;
}

/* Reports the first year without a file between day indexes a and b. */
static void err_gap(const dw_calendar *cal, int32_t a, int32_t b, char *errstr, size_t n) {
  int ya, yb, m, d;
  dw_civil_from_days(cal->first_day + (a < b ? a : b), &ya, &m, &d);
  dw_civil_from_days(cal->first_day + (a < b ? b : a), &yb, &m, &d);
  for (int y = ya; y <= yb; y++) {
    if (!cal->year_loaded[y - cal->first_year]) {
      seterr(errstr, n, "working-time walk crosses %d, outside the loaded calendar years (no vn-%04d.txt in %s)",
             y, y, cal->dir);
      return;
    }
  }
  seterr(errstr, n, "working-time walk leaves the loaded calendar years");
}

/* The instant at working-time position `target`, reached from day index
 * `from_idx` without crossing a year that has no file. Where a position has
 * two instants (an interval's end and the next interval's start):
 * - latest: the START of the next interval. This is CONTRACT §3's "same time
 *   of day N working days later" (07:30 + 1 day is 07:30 the next working
 *   day, not 17:00 the same day; from outside working hours the count starts
 *   at the next working start, so 18:00 Mon + 1 day is 07:30 Wed);
 * - earliest: the END of the interval (for "the first instant with at most
 *   w of working time left"). */
static int instant_at(const dw_calendar *cal, int64_t target, int32_t from_idx, int latest, int64_t *out,
                      char *errstr, size_t n) {
  if (!latest && target < 1) {
    /* Position 0 is reached at the very start of the range, so "earliest"
     * would lie before it. */
    seterr(errstr, n, "working-time walk goes before the first loaded calendar year %d (%s)",
           cal->first_year, cal->dir);
    return -1;
  }
  const int64_t k = latest ? target / cal->day_ms : (target - 1) / cal->day_ms;
  if (k >= cal->nwork) {
    seterr(errstr, n, "working-time walk goes past the last loaded calendar year %d (no vn-%04d.txt in %s)",
           cal->last_year, cal->last_year + 1, cal->dir);
    return -1;
  }
  const int32_t idx = cal->wdays[k];
  if (cal->block[idx] != cal->block[from_idx]) {
    err_gap(cal, from_idx, idx, errstr, n);
    return -1;
  }
  const int64_t r = target - k * cal->day_ms; /* latest: 0 .. day_ms-1; earliest: 1 .. day_ms */
  int i = 0;
  while (i < cal->nint - 1 && cal->ibefore[i] + (cal->iend[i] - cal->istart[i]) + (latest ? 0 : 1) <= r) i++;
  *out = instant_of(cal, idx, cal->istart[i] + (r - cal->ibefore[i]));
  return 0;
}

int dw_calendar_is_working_day(const dw_calendar *cal, int64_t local_day) {
  const int64_t i = local_day - cal->first_day;
  if (i < 0 || i >= cal->ndays || cal->block[i] == 0) return -1;
  return day_works(cal, (int32_t)i);
}

int dw_calendar_add_working(const dw_calendar *cal, int64_t from, int64_t working_ms, int64_t *out,
                            char *errstr, size_t errstr_size) {
  int32_t idx;
  int64_t tod;
  if (working_ms < 0) {
    seterr(errstr, errstr_size, "negative working time %lld ms to add", (long long)working_ms);
    return -1;
  }
  if (locate(cal, from, &idx, &tod, errstr, errstr_size)) return -1;
  if (working_ms == 0) {
    *out = from;
    return 0;
  }
  if (working_ms > (int64_t)cal->nwork * cal->day_ms) {
    seterr(errstr, errstr_size, "working time %lld ms goes past the last loaded calendar year %d",
           (long long)working_ms, cal->last_year);
    return -1;
  }
  return instant_at(cal, position(cal, idx, tod) + working_ms, idx, 1, out, errstr, errstr_size);
}

int dw_calendar_sub_working(const dw_calendar *cal, int64_t to, int64_t working_ms, int64_t *out,
                            char *errstr, size_t errstr_size) {
  int32_t idx;
  int64_t tod;
  if (working_ms < 0) {
    seterr(errstr, errstr_size, "negative working time %lld ms to subtract", (long long)working_ms);
    return -1;
  }
  if (locate(cal, to, &idx, &tod, errstr, errstr_size)) return -1;
  return instant_at(cal, position(cal, idx, tod) - working_ms, idx, 0, out, errstr, errstr_size);
}

int dw_calendar_working_between(const dw_calendar *cal, int64_t a, int64_t b, int64_t *out_ms,
                                char *errstr, size_t errstr_size) {
  if (b <= a) {
    *out_ms = 0;
    return 0;
  }
  int32_t ia, ib;
  int64_t ta, tb;
  if (locate(cal, a, &ia, &ta, errstr, errstr_size) || locate(cal, b, &ib, &tb, errstr, errstr_size))
    return -1;
  if (cal->block[ia] != cal->block[ib]) {
    err_gap(cal, ia, ib, errstr, errstr_size);
    return -1;
  }
  *out_ms = position(cal, ib, tb) - position(cal, ia, ta);
  return 0;
}

int dw_calendar_next_working_start(const dw_calendar *cal, int64_t t, int64_t *out, char *errstr,
                                   size_t errstr_size) {
  int32_t idx;
  int64_t tod;
  if (locate(cal, t, &idx, &tod, errstr, errstr_size)) return -1;
  if (day_works(cal, idx)) {
    for (int i = 0; i < cal->nint; i++) {
      if (tod < cal->iend[i]) {
        *out = tod >= cal->istart[i] ? t : instant_of(cal, idx, cal->istart[i]);
        return 0;
      }
    }
  }
  const int32_t k = cal->cum[idx + 1];
  if (k >= cal->nwork) {
    seterr(errstr, errstr_size,
           "no working day after %d in the loaded calendar years (no vn-%04d.txt in %s)",
           cal->last_year, cal->last_year + 1, cal->dir);
    return -1;
  }
  const int32_t next = cal->wdays[k];
  if (cal->block[next] != cal->block[idx]) {
    err_gap(cal, idx, next, errstr, errstr_size);
    return -1;
  }
  *out = instant_of(cal, next, cal->istart[0]);
  return 0;
}

dw_calendar *dw_calendar_from_config(const dw_config *cfg, char *errstr, size_t n) {
  const char *dir = dw_config_get(cfg, "calendar.dir");
  return dw_calendar_new(dir && *dir ? dir : dw_calendar_default_dir(), dw_config_get(cfg, "calendar.hours"),
                         (int)dw_config_get_int(cfg, "calendar.utc_offset_min"), errstr, n);
}
