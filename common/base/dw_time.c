/* dw_time: civil-date arithmetic (Howard Hinnant's algorithms) and RFC 3339. */
#include "dw_time.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t dw_days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void dw_civil_from_days(int64_t z, int *y, int *m, int *d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = (int)(yoe + era * 400 + (*m <= 2));
}

int dw_weekday(int64_t days) {
  /* 1970-01-01 was a Thursday (3 when Monday is 0). */
  int64_t w = (days + 3) % 7;
  return (int)(w < 0 ? w + 7 : w);
}

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i])) return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

static int days_in_month(int y, int m) {
  static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return dim[m - 1];
}

int dw_time_parse_rfc3339(const char *s, int64_t *ms, char *errstr, size_t n) {
  int y, mo, d, h, mi, sec, frac = 0;
  size_t len = strlen(s);
  if (len < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
      digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
      digits(s + 17, 2, &sec)) {
    snprintf(errstr, n, "'%.40s' is not an RFC 3339 timestamp (YYYY-MM-DDThh:mm:ss±hh:mm)", s);
    return -1;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60) {
    snprintf(errstr, n, "'%.40s' has an out-of-range date or time", s);
    return -1;
  }
  if (sec == 60) sec = 59; /* leap second: clamp */
  const char *p = s + 19;
  if (*p == '.') {
    p++;
    int nd = 0;
    while (isdigit((unsigned char)*p)) {
      if (nd < 3) frac = frac * 10 + (*p - '0');
      nd++;
      p++;
    }
    if (nd == 0) {
      snprintf(errstr, n, "'%.40s' has an empty fraction of a second", s);
      return -1;
    }
    for (; nd < 3; nd++) frac *= 10;
  }
  int off_min;
  if (*p == 'Z' || *p == 'z') {
    off_min = 0;
    p++;
  } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
    int oh, om;
    if (digits(p + 1, 2, &oh) || digits(p + 4, 2, &om) || oh > 23 || om > 59) {
      snprintf(errstr, n, "'%.40s' has a bad UTC offset", s);
      return -1;
    }
    off_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
    p += 6;
  } else {
    snprintf(errstr, n, "'%.40s' lacks a UTC offset (Z or ±hh:mm)", s);
    return -1;
  }
  if (*p) {
    snprintf(errstr, n, "'%.40s' has trailing characters", s);
    return -1;
  }
  int64_t days = dw_days_from_civil(y, mo, d);
  *ms = ((days * 86400 + h * 3600 + mi * 60 + sec) - (int64_t)off_min * 60) * 1000 + frac;
  return 0;
}

/* floor(local / one day), without negating (which overflows near INT64_MIN,
 * e.g. for DW_TIME_NONE). */
static int64_t floor_days(int64_t local) {
  int64_t days = local / DW_MS_PER_DAY;
  return (local % DW_MS_PER_DAY < 0) ? days - 1 : days;
}

void dw_time_format(int64_t ms, int off, char *buf, size_t bufsize) {
  int64_t local = ms + (int64_t)off * DW_MS_PER_MIN;
  int64_t days = floor_days(local);
  int64_t rem = local - days * DW_MS_PER_DAY;
  int y, m, d;
  dw_civil_from_days(days, &y, &m, &d);
  int h = (int)(rem / 3600000), mi = (int)(rem / 60000 % 60), s = (int)(rem / 1000 % 60);
  int msec = (int)(rem % 1000);
  char frac[8] = "";
  if (msec) snprintf(frac, sizeof frac, ".%03d", msec);
  int aoff = off < 0 ? -off : off;
  if (off == 0)
    snprintf(buf, bufsize, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", y, m, d, h, mi, s, frac);
  else
    snprintf(buf, bufsize, "%04d-%02d-%02dT%02d:%02d:%02d%s%c%02d:%02d", y, m, d, h, mi, s, frac,
             off < 0 ? '-' : '+', aoff / 60, aoff % 60);
}

int64_t dw_local_day(int64_t ms, int off) { return floor_days(ms + (int64_t)off * DW_MS_PER_MIN); }

int64_t dw_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
