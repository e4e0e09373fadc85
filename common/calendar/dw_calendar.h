/* dw_calendar: the Vietnamese working calendar (CONTRACT §3) and
 * working-time arithmetic. Loaded from deploy/calendars/vn-YYYY.txt (one file
 * a year: "YYYY-MM-DD off|work  # comment"). A working day is Mon-Fri unless
 * listed "off", plus days listed "work"; working hours are the office hours
 * (default 07:30-11:30,13:30-17:00) in local time. An instant whose day lies
 * outside the loaded years is an error, never a guess.
 *
 * Boundary convention: working time is a position on a line that only
 * advances inside office hours. Adding working time follows CONTRACT §3
 * literally: from inside working hours, the same time of day N working days
 * later; from outside, count from the next working start. Where a position
 * has several instants (an interval's end and the next one's start), adding
 * returns the START of the next interval (07:30 + 1 day = 07:30 next working
 * day; 12:00 + 1 day = 13:30 next working day; 17:00 or 18:00 Mon + 1 day =
 * 07:30 Wed). Subtracting returns the EARLIEST instant (see below). */
#ifndef DW_CALENDAR_H
#define DW_CALENDAR_H

#include <stddef.h>
#include <stdint.h>

typedef struct dw_calendar dw_calendar;

/* dir: folder of vn-YYYY.txt; hours: "07:30-11:30,13:30-17:00";
 * utc_offset_min: 420 for Asia/Ho_Chi_Minh. NULL on error (reason in errstr,
 * naming file and line). */
dw_calendar *dw_calendar_new(const char *dir, const char *hours, int utc_offset_min,
                             char *errstr, size_t errstr_size);
void dw_calendar_destroy(dw_calendar *cal);

/* Length of one working day in ms (27,000,000 for the default hours). */
int64_t dw_calendar_day_ms(const dw_calendar *cal);
int dw_calendar_utc_offset_min(const dw_calendar *cal);

/* Is the local day (days since epoch, local time) a working day? -1 if the
 * day is outside the loaded years. */
int dw_calendar_is_working_day(const dw_calendar *cal, int64_t local_day);

/* The instant `working_ms` (> 0) of working time after `from`, per the
 * boundary convention above (an interval end becomes the next start). working_ms == 0
 * returns `from` unchanged. Returns 0, or -1 if the walk leaves the loaded
 * years. */
int dw_calendar_add_working(const dw_calendar *cal, int64_t from, int64_t working_ms, int64_t *out,
                            char *errstr, size_t errstr_size);

/* The earliest instant t such that the working time between t and `to` is
 * <= working_ms. Used for "N working days before the due time" (DUE_SOON).
 * Returns 0 or -1 as above. */
int dw_calendar_sub_working(const dw_calendar *cal, int64_t to, int64_t working_ms, int64_t *out,
                            char *errstr, size_t errstr_size);

/* Working time in ms between a and b (0 if b <= a). Returns 0 or -1. */
int dw_calendar_working_between(const dw_calendar *cal, int64_t a, int64_t b, int64_t *out_ms,
                                char *errstr, size_t errstr_size);

/* The first instant >= t that is inside working hours. Returns 0 or -1. */
int dw_calendar_next_working_start(const dw_calendar *cal, int64_t t, int64_t *out,
                                   char *errstr, size_t errstr_size);

/* Default calendars when calendar.dir is not set: $DW_CALENDAR_DIR, else
 * the installed copy (PREFIX/share/dossierwatch/calendars), else the set
 * compiled into the binary from deploy/calendars ("(built-in)"). */
const char *dw_calendar_default_dir(void);

/* The calendar the configuration asks for (calendar.dir, calendar.hours,
 * calendar.utc_offset_min), as every command loads it. */
struct dw_config;
dw_calendar *dw_calendar_from_config(const struct dw_config *cfg, char *errstr, size_t errstr_size);

#endif
