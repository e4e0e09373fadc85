/* dw_notify_match: labels, matchers, durations, time intervals and route
 * matching of the notify configuration (see dw_notify_config.h). Pure:
 * every instant is passed in. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_notify_config.h"
#include "dw_time.h"

static const char *const label_names[DW_NL__COUNT] = {"rule", "severity", "dossier_id", "commune", "agency",
                                                      "procedure"};

const char *dw_notify_label_name(dw_notify_label l) { return (unsigned)l < DW_NL__COUNT ? label_names[l] : "?"; }

int dw_notify_label_parse(const char *name, dw_notify_label *out) {
  for (int i = 0; i < DW_NL__COUNT; i++)
    if (strcmp(name, label_names[i]) == 0) {
      *out = (dw_notify_label)i;
      return 0;
    }
  return -1;
}

const char *dw_notify_label_value(const dw_alert *a, dw_notify_label l) {
  switch (l) {
  case DW_NL_RULE: return dw_rule_name(a->rule);
  case DW_NL_SEVERITY: return dw_severity_name(a->severity);
  case DW_NL_DOSSIER_ID: return a->dossier_id;
  case DW_NL_COMMUNE: return a->commune;
  case DW_NL_AGENCY: return a->agency;
  case DW_NL_PROCEDURE: return a->procedure;
  default: return "";
  }
}

const char *dw_notify_op_name(dw_notify_op op) {
  static const char *const names[] = {"=", "!=", "=~", "!~"};
  return (unsigned)op < 4 ? names[op] : "?";
}

/* ---- matchers ---- */

/* glibc's regcomp, unlike the RE2 engine of Alertmanager, takes time
 * exponential in nested quantifiers ("((a*)*){250}" and even
 * "((a||b)*){101}" do not finish), memory in the product of nested counts
 * ("(((a{100}){100}){100}){10}": 2 GB) and stack in the depth of groups (30,000
 * nested groups crash it). A matcher comes from a token's silence or the
 * routing file, and the service compiling it must not stall or fall over,
 * so a regular expression is held to what label values need:
 *   - at most DW_RE_MAX_LEN bytes, and at most DW_RE_MAX_SIZE once every
 *     count is written out ("[0-9]{5}" counts as five "[0-9]");
 *   - groups nested at most DW_RE_MAX_DEPTH deep;
 *   - a count ({m}, {m,}, {m,n}: at most DW_RE_MAX_COUNT, more than any
 *     label value needs) only over what holds no quantifier, as nested
 *     counts ("e{0,3}{0,3}{3}{42}": 1.2 GB) are what blows up; *, + and ?
 *     over what holds at most one level of them - an empty branch
 *     ("(a|||b){20,}": 6 s) counting as a ?, "{m,}" as a count and a star;
 *   - parentheses balanced (an unmatched ')' would close the anchoring
 *     "^(...)$" and leave the rest unanchored), and a '{' only as a count;
 *   - no back-references (RE2 has none either).
 * Returns 0, or with the reason -1 (refused) or -2 (not one we read:
 * unbalanced parentheses, a stray brace). */
#define DW_RE_MAX_LEN 1024
#define DW_RE_MAX_SIZE 2048
#define DW_RE_MAX_DEPTH 32
#define DW_RE_MAX_COUNT 100

typedef struct re_item {
  long size;  /* its bytes with every count written out */
  int stars;  /* levels of *, + and ? nested in it, its own included (an
               * empty branch, as in "(a||b)", counts as a ?) */
  bool count; /* a count is in it */
  int branch; /* of an open group: items in its current branch */
} re_item;

/* The end of the bracket expression opening at p ("[...]"), or NULL. */
static const char *re_bracket_end(const char *p) {
  p++;
  if (*p == '^') p++;
  if (*p == ']') p++; /* a leading ']' is a member */
  for (; *p && *p != ']'; p++)
    if (p[0] == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
      const char *e = strchr(p + 2, p[1]);
      while (e && e[1] != ']') e = strchr(e + 1, p[1]);
      if (!e) return NULL;
      p = e + 1;
    }
  return *p ? p : NULL;
}

/* A count at p - "{m}", "{m,}", "{m,n}", and glibc's "{,n}" and "{,}" -:
 * its largest bound (m for "{m,}", which is also a star: *open) and its
 * end, or -1 when p is not one. */
static long re_count(const char *p, const char **end, bool *open) {
  if (*p != '{' || !(isdigit((unsigned char)p[1]) || p[1] == ',')) return -1;
  char *e = (char *)p + 1;
  long m = isdigit((unsigned char)*e) ? strtol(e, &e, 10) : 0, hi = m;
  *open = false;
  if (*e == ',') {
    e++;
    if (isdigit((unsigned char)*e))
      hi = strtol(e, &e, 10);
    else
      *open = true;
  }
  if (*e != '}') return -1;
  *end = e + 1;
  return hi > m ? hi : m;
}

static int re_bounded(const char *re, char *why, size_t n) {
  if (strlen(re) > DW_RE_MAX_LEN) return snprintf(why, n, "longer than %d bytes", DW_RE_MAX_LEN), -1;
  re_item group[DW_RE_MAX_DEPTH + 1] = {{0, 0, false, 0}}; /* what each open group holds so far */
  int depth = 0;
  re_item last = {-1, 0, false, 0}; /* the item a quantifier would apply to (size -1: none) */
  for (const char *p = re; *p;) {
    const char *next = p + 1;
    re_item it = {1, 0, false, 0};
    bool open = false;
    long cnt = *p == '{' ? re_count(p, &next, &open) : -1;
    re_item *g = &group[depth];
    if (*p == '{' && cnt < 0) {
      /* glibc reads more than digits between braces ("{0,3\0\03}" is
       * {0,30003}), so a brace is a count we can read or nothing */
      return snprintf(why, n, "a '{' that does not open a count {m}, {m,} or {m,n} (\\{ is the character)"), -2;
    } else if (*p == '\\') {
      if (isdigit((unsigned char)p[1]) && p[1] != '0') return snprintf(why, n, "back-references are not supported"), -1;
      if (p[1]) next = p + 2;
    } else if (*p == '[') {
      const char *e = re_bracket_end(p);
      if (e) next = e + 1; /* else regcomp reports it */
    } else if (*p == '(') {
      if (depth == DW_RE_MAX_DEPTH) return snprintf(why, n, "groups nested more than %d deep", DW_RE_MAX_DEPTH), -1;
      group[++depth] = (re_item){0, 0, false, 0};
      last.size = -1;
      p = next;
      continue;
    } else if (*p == ')') {
      /* unmatched, it would close the anchoring "^(...)$" around it */
      if (depth == 0) return snprintf(why, n, "a ')' without its '('"), -2;
      if (group[depth].branch == 0 && group[depth].stars < 1) group[depth].stars = 1; /* "(a|)", "()" */
      it = group[depth--];
      g = &group[depth];
    } else if (*p == '|') {
      g->size++;
      if (g->branch == 0 && g->stars < 1) g->stars = 1; /* an empty branch: "(|a)", "(a||b)" */
      g->branch = 0;
      last.size = -1;
      p = next;
      continue;
    } else if (*p == '*' || *p == '+' || *p == '?' || cnt >= 0) {
      if (cnt > DW_RE_MAX_COUNT) return snprintf(why, n, "a count above %d", DW_RE_MAX_COUNT), -1;
      if (last.size < 0) { /* nothing to repeat: regcomp decides */
        p = next;
        continue;
      }
      if (cnt >= 0 && (last.stars > 0 || last.count)) return snprintf(why, n, "a count over a quantifier"), -1;
      if (cnt < 0 && last.stars > 1) return snprintf(why, n, "*, + or ? nested three deep"), -1;
      /* "{m,}" is m copies and a star */
      it = cnt >= 0 ? (re_item){last.size * (cnt > 0 ? cnt : 1) + (open ? last.size : 0), open, true, 0}
                    : (re_item){2 * last.size, last.stars + 1, last.count, 0};
      g->size -= last.size; /* replaced by its repetition */
    }
    g->size += it.size;
    g->branch++;
    if (it.stars > g->stars) g->stars = it.stars;
    g->count |= it.count;
    if (g->size > DW_RE_MAX_SIZE) /* an inner group's size reaches the outer one at its ')' */
      return snprintf(why, n, "more than %d bytes once its counts are written out", DW_RE_MAX_SIZE), -1;
    last = it;
    p = next;
  }
  if (depth > 0) return snprintf(why, n, "a '(' without its ')'"), -2;
  return 0;
}

int dw_notify_matcher_parse(const char *text, dw_notify_matcher *m, char *err, size_t n) {
  memset(m, 0, sizeof *m);
  const char *p = text;
  while (isspace((unsigned char)*p)) p++;
  const char *name = p;
  while (isalnum((unsigned char)*p) || *p == '_') p++;
  size_t nl = (size_t)(p - name);
  char label[32];
  if (nl == 0 || nl >= sizeof label) {
    snprintf(err, n, "matcher '%s': expected a label name first", text);
    return -1;
  }
  memcpy(label, name, nl);
  label[nl] = 0;
  if (dw_notify_label_parse(label, &m->label)) {
    snprintf(err, n, "matcher '%s': unknown label '%s' (rule, severity, dossier_id, commune, agency, procedure)",
             text, label);
    return -1;
  }
  while (isspace((unsigned char)*p)) p++;
  if (p[0] == '=' && p[1] == '~')
    m->op = DW_NOP_RE, p += 2;
  else if (p[0] == '!' && p[1] == '~')
    m->op = DW_NOP_NRE, p += 2;
  else if (p[0] == '!' && p[1] == '=')
    m->op = DW_NOP_NE, p += 2;
  else if (p[0] == '=')
    m->op = DW_NOP_EQ, p += 1;
  else {
    snprintf(err, n, "matcher '%s': expected =, !=, =~ or !~ after '%s'", text, label);
    return -1;
  }
  while (isspace((unsigned char)*p)) p++;
  size_t cap = strlen(p) + 1, len = 0;
  char *v = malloc(cap);
  if (!v) {
    snprintf(err, n, "out of memory");
    return -1;
  }
  if (*p == '"') {
    p++;
    while (*p && *p != '"') {
      if (*p == '\\' && p[1]) {
        p++;
        v[len++] = *p == 'n' ? '\n' : *p;
      } else {
        v[len++] = *p;
      }
      p++;
    }
    if (*p != '"') {
      free(v);
      snprintf(err, n, "matcher '%s': unterminated quoted value", text);
      return -1;
    }
    p++;
    while (isspace((unsigned char)*p)) p++;
    if (*p) {
      free(v);
      snprintf(err, n, "matcher '%s': unexpected text after the value", text);
      return -1;
    }
  } else {
    memcpy(v, p, cap);
    len = cap - 1;
    while (len && isspace((unsigned char)v[len - 1])) len--;
    if (memchr(v, '"', len)) {
      free(v);
      snprintf(err, n, "matcher '%s': a value with a double quote must be quoted", text);
      return -1;
    }
  }
  v[len] = 0;
  m->value = v;
  if (m->op == DW_NOP_RE || m->op == DW_NOP_NRE) {
    char why[96];
    int bounded = re_bounded(v, why, sizeof why);
    if (bounded) {
      free(m->value);
      m->value = NULL;
      /* the reason must fit: a long matcher is quoted by its start */
      snprintf(err, n, "matcher '%.80s%s': %s: %s", text, strlen(text) > 80 ? "..." : "",
               bounded == -2 ? "bad regular expression" : "regular expression refused", why);
      return -1;
    }
    size_t rl = len + 8;
    char *anch = malloc(rl);
    if (!anch) {
      dw_notify_matcher_free(m);
      snprintf(err, n, "out of memory");
      return -1;
    }
    snprintf(anch, rl, "^(%s)$", v);
    int rc = regcomp(&m->re, anch, REG_EXTENDED | REG_NOSUB);
    free(anch);
    if (rc) {
      char why[128];
      regerror(rc, &m->re, why, sizeof why);
      free(m->value);
      m->value = NULL;
      snprintf(err, n, "matcher '%s': bad regular expression: %s", text, why);
      return -1;
    }
    m->has_re = true;
  }
  return 0;
}

void dw_notify_matcher_free(dw_notify_matcher *m) {
  if (!m) return;
  if (m->has_re) regfree(&m->re);
  free(m->value);
  memset(m, 0, sizeof *m);
}

bool dw_notify_matcher_matches(const dw_notify_matcher *m, const dw_alert *a) {
  const char *v = dw_notify_label_value(a, m->label);
  switch (m->op) {
  case DW_NOP_EQ: return strcmp(v, m->value) == 0;
  case DW_NOP_NE: return strcmp(v, m->value) != 0;
  case DW_NOP_RE: return regexec(&m->re, v, 0, NULL, 0) == 0;
  case DW_NOP_NRE: return regexec(&m->re, v, 0, NULL, 0) != 0;
  }
  return false;
}

bool dw_notify_matchers_match(const dw_notify_matcher *m, size_t n, const dw_alert *a) {
  for (size_t i = 0; i < n; i++)
    if (!dw_notify_matcher_matches(&m[i], a)) return false;
  return true;
}

void dw_notify_matcher_format(const dw_notify_matcher *m, dw_buf *out) {
  dw_buf_puts(out, dw_notify_label_name(m->label));
  dw_buf_puts(out, dw_notify_op_name(m->op));
  dw_buf_putc(out, '"');
  for (const char *p = m->value; p && *p; p++) {
    if (*p == '"' || *p == '\\') dw_buf_putc(out, '\\');
    if (*p == '\n')
      dw_buf_puts(out, "\\n");
    else
      dw_buf_putc(out, *p);
  }
  dw_buf_putc(out, '"');
}

/* ---- durations ---- */

int dw_notify_duration_parse(const char *s, int64_t *ms) {
  static const struct {
    const char *unit;
    int64_t ms;
  } units[] = {{"y", 365 * DW_MS_PER_DAY}, {"w", 7 * DW_MS_PER_DAY}, {"d", DW_MS_PER_DAY}, {"h", 3600000},
               {"ms", 1}, {"m", 60000}, {"s", 1000}};
  if (!s || !*s) return -1;
  if (strcmp(s, "0") == 0) {
    *ms = 0;
    return 0;
  }
  int64_t total = 0;
  int last = -1; /* units in decreasing order, each once */
  const char *p = s;
  while (*p) {
    if (!isdigit((unsigned char)*p)) return -1;
    int64_t v = 0;
    while (isdigit((unsigned char)*p)) {
      v = v * 10 + (*p - '0');
      if (v > 1000000000LL) return -1;
      p++;
    }
    int u = -1;
    for (int i = 0; i < (int)(sizeof units / sizeof units[0]); i++) {
      size_t ul = strlen(units[i].unit);
      if (strncmp(p, units[i].unit, ul) == 0 && !(ul == 1 && units[i].unit[0] == 'm' && p[1] == 's')) {
        u = i;
        p += ul;
        break;
      }
    }
    /* order: y w d h m s ms (table order differs for the ms/m prefix) */
    static const int rank[] = {0, 1, 2, 3, 6, 4, 5};
    if (u < 0 || rank[u] <= last) return -1;
    last = rank[u];
    total += v * units[u].ms;
  }
  *ms = total;
  return 0;
}

/* ---- time intervals ---- */

static bool in_ranges(const dw_notify_range *r, size_t n, int v) {
  if (n == 0) return true;
  for (size_t i = 0; i < n; i++)
    if (v >= r[i].lo && v <= r[i].hi) return true;
  return false;
}

static int days_in_month(int y, int m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return d[m - 1];
}

static bool spec_contains(const dw_notify_timespec *s, int64_t t) {
  int64_t local = t + (int64_t)s->utc_offset_min * DW_MS_PER_MIN;
  int64_t day = local >= 0 ? local / DW_MS_PER_DAY : -((-local + DW_MS_PER_DAY - 1) / DW_MS_PER_DAY);
  int minute = (int)((local - day * DW_MS_PER_DAY) / DW_MS_PER_MIN);
  int y, m, d;
  dw_civil_from_days(day, &y, &m, &d);
  if (s->ntimes) {
    bool in = false;
    for (size_t i = 0; i < s->ntimes && !in; i++) in = minute >= s->times[i].lo && minute < s->times[i].hi;
    if (!in) return false;
  }
  int wd = (dw_weekday(day) + 1) % 7; /* dw_weekday: 0 = Monday; ours: 0 = Sunday */
  if (!in_ranges(s->weekdays, s->nweekdays, wd)) return false;
  if (s->ndays_of_month) {
    int dim = days_in_month(y, m);
    bool in = false;
    for (size_t i = 0; i < s->ndays_of_month && !in; i++) {
      int lo = s->days_of_month[i].lo, hi = s->days_of_month[i].hi;
      if (lo < 0) lo = dim + 1 + lo;
      if (hi < 0) hi = dim + 1 + hi;
      in = d >= lo && d <= hi;
    }
    if (!in) return false;
  }
  return in_ranges(s->months, s->nmonths, m) && in_ranges(s->years, s->nyears, y);
}

bool dw_notify_interval_contains(const dw_notify_interval *iv, int64_t t) {
  for (size_t i = 0; i < iv->nspecs; i++)
    if (spec_contains(&iv->specs[i], t)) return true;
  return false;
}

bool dw_notify_route_muted(const dw_notify_config *cfg, const dw_notify_route *r, const dw_calendar *cal, int64_t t) {
  for (size_t i = 0; i < r->nmute; i++)
    if (dw_notify_interval_contains(&cfg->intervals[r->mute[i]], t)) return true;
  if (r->nactive) {
    bool in = false;
    for (size_t i = 0; i < r->nactive && !in; i++) in = dw_notify_interval_contains(&cfg->intervals[r->active[i]], t);
    if (!in) return true;
  }
  if (r->office_hours && cal) {
    int64_t next;
    char err[128];
    /* outside the loaded years: not working time (never a guess) */
    if (dw_calendar_next_working_start(cal, t, &next, err, sizeof err) || next != t) return true;
  }
  return false;
}

int64_t dw_notify_route_next_unmuted(const dw_notify_config *cfg, const dw_notify_route *r, const dw_calendar *cal,
                                     int64_t t) {
  if (!dw_notify_route_muted(cfg, r, cal, t)) return t;
  if (r->office_hours && cal && r->nmute == 0 && r->nactive == 0) {
    int64_t next;
    char err[128];
    return dw_calendar_next_working_start(cal, t, &next, err, sizeof err) ? DW_TIME_NONE : next;
  }
  /* intervals change on minute boundaries; working time starts on minutes too */
  int64_t m = (t / DW_MS_PER_MIN + 1) * DW_MS_PER_MIN;
  for (int i = 0; i < 60 * 24 * 60; i++, m += DW_MS_PER_MIN) {
    if (r->office_hours && cal) {
      /* jump to the next working start instead of walking nights and Tết */
      int64_t next;
      char err[128];
      if (dw_calendar_next_working_start(cal, m, &next, err, sizeof err)) return DW_TIME_NONE;
      if (next > m) m = next;
    }
    if (!dw_notify_route_muted(cfg, r, cal, m)) return m;
  }
  return DW_TIME_NONE;
}

/* ---- routes ---- */

static void foreach_rec(const dw_notify_route *r, void (*fn)(const dw_notify_route *, void *), void *opaque) {
  fn(r, opaque);
  for (size_t i = 0; i < r->nchildren; i++) foreach_rec(&r->children[i], fn, opaque);
}

void dw_notify_routes_foreach(const dw_notify_route *root, void (*fn)(const dw_notify_route *r, void *opaque),
                              void *opaque) {
  foreach_rec(root, fn, opaque);
}

/* Alertmanager's Route.Match: a route that matches descends into its
 * children; if none of them matches, the route itself is the result. */
static size_t match_rec(const dw_notify_route *r, const dw_alert *a, const dw_notify_route **out, size_t max,
                        size_t used) {
  if (!dw_notify_matchers_match(r->matchers, r->nmatchers, a)) return used;
  size_t before = used;
  for (size_t i = 0; i < r->nchildren; i++) {
    size_t got = match_rec(&r->children[i], a, out, max, used);
    bool matched = got > used;
    used = got;
    if (matched && !r->children[i].cont) break;
  }
  if (used == before && used < max) out[used++] = r;
  return used;
}

size_t dw_notify_route_match(const dw_notify_route *root, const dw_alert *a, const dw_notify_route **out, size_t max) {
  /* the root matches everything (Alertmanager requires it) */
  return match_rec(root, a, out, max, 0);
}

const char *dw_notify_unit_name(const dw_notify_config *cfg, const char *code) {
  for (size_t i = 0; i < cfg->nunit_names; i++)
    if (strcmp(cfg->unit_names[i].code, code) == 0) return cfg->unit_names[i].name;
  return NULL;
}

int64_t dw_notify_escalation_after(const dw_notify_route *r, const dw_calendar *cal) {
  int64_t day = cal ? dw_calendar_day_ms(cal) : 27000000LL;
  return r->escalate_days_x100 * day / 100 + r->escalate_hours_ms;
}
