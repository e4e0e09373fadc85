/* dw_time: instants as int64 milliseconds since the Unix epoch (UTC), civil
 * dates, and RFC 3339 text. Vietnam has had a fixed UTC+07:00 offset since
 * 1975, so local time is a fixed offset (configurable) rather than a tz
 * database lookup: fast, thread-safe and deterministic. */
#ifndef DW_TIME_H
#define DW_TIME_H

#include <stddef.h>
#include <stdint.h>

#define DW_TIME_NONE INT64_MIN /* an absent optional timestamp */
#define DW_MS_PER_MIN 60000LL
#define DW_MS_PER_DAY 86400000LL
#define DW_DEFAULT_UTC_OFFSET_MIN 420 /* Asia/Ho_Chi_Minh */

/* Days since 1970-01-01 for a proleptic Gregorian date, and back. */
int64_t dw_days_from_civil(int y, int m, int d);
void dw_civil_from_days(int64_t days, int *y, int *m, int *d);
/* 0 = Monday .. 6 = Sunday */
int dw_weekday(int64_t days);

/* Parses RFC 3339 ("2025-04-29T08:00:00+07:00", "…Z", optional fraction up to
 * ms). An offset is required. Returns 0, or -1 with a reason in errstr. */
int dw_time_parse_rfc3339(const char *s, int64_t *ms, char *errstr, size_t errstr_size);

/* Formats as RFC 3339 at the given offset: "2025-04-29T08:00:00+07:00", with
 * ".sss" only when the milliseconds are not zero. buf needs 32 bytes. */
void dw_time_format(int64_t ms, int utc_offset_min, char *buf, size_t bufsize);

/* Local calendar day number (days since epoch in local time) of an instant. */
int64_t dw_local_day(int64_t ms, int utc_offset_min);

/* Current wall-clock time in ms. */
int64_t dw_now_ms(void);

#endif
