/* dw_sim_gen: dossier lifecycle planning on the working calendar and the
 * time-ordered merge of all dossiers' events (see dw_sim_gen.h).
 *
 * Memory: a planned event is a small record pointing at its dossier, and a
 * dossier lives only while it has events in the heap, so a long run holds
 * the open dossiers, not the whole history. Result digitization is decided
 * when RESULT_ISSUED is emitted, from the commune's quota, so that the rate
 * over the emitted results is exact (see dw_sim_quota). */
#include "dw_sim_gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_sim_prng.h"
#include "dw_time.h"

typedef struct sim_dossier {
  char id[80];
  int commune;
  int proc;
  char agency[2][DW_ID_MAX]; /* [0] receiving agency, [1] after a transfer */
  uint32_t pending;          /* events still in the heap */
  uint8_t next_seq;
  uint8_t final_agency;
} sim_dossier;

typedef struct pend {
  int64_t t;
  uint64_t order; /* tie-break: insertion order, so equal times stay deterministic */
  sim_dossier *d;
  uint8_t type;
  uint8_t seq;
  uint8_t agency_idx;
  int8_t channel;
  uint8_t flag; /* in_warehouse, online */
  uint8_t text; /* index of document / reason */
  int32_t num;  /* processing_days, score */
  int64_t aux;  /* due_at, new_due_at */
} pend;

typedef struct commune_state {
  dw_sim_rng rng;
  dw_sim_quota result_quota;
  char agency_cache[DW_SIM_MAX_PROCEDURES][DW_ID_MAX];
  char transfer_cache[DW_SIM_MAX_TRANSFER][DW_ID_MAX];
  double proc_weights[DW_SIM_MAX_PROCEDURES];
} commune_state;

struct dw_sim_gen {
  const dw_sim_profile *prof;
  const dw_calendar *cal;
  uint64_t seed;
  int64_t start_day;
  int days;
  int off_min;
  int64_t day_ms;
  int64_t start, end;
  commune_state *cs;
  pend *heap;
  size_t heap_n, heap_cap;
  uint64_t order;
  dw_sim_stats stats;
  char err[256];
};

static const char *const documents[] = {
  "Căn cước công dân", "Giấy khai sinh", "Giấy chứng nhận kết hôn", "Giấy xác nhận thông tin cư trú",
  "Giấy chứng nhận quyền sử dụng đất", "Bằng tốt nghiệp", "Giấy phép lái xe", "Giấy chứng tử",
};
static const char *const supplement_reasons[] = {
  "Thiếu bản sao giấy tờ tùy thân", "Tờ khai chưa đầy đủ thông tin", "Thiếu chữ ký xác nhận",
  "Bản vẽ chưa đúng quy định",
};
static const char *const rejection_reasons[] = {
  "Không đủ điều kiện theo quy định", "Không thuộc thẩm quyền giải quyết",
  "Giấy tờ không hợp lệ",
};
#define COUNT(a) ((int)(sizeof a / sizeof a[0]))

/* ---- heap ------------------------------------------------------------- */

static int before(const pend *a, const pend *b) {
  return a->t < b->t || (a->t == b->t && a->order < b->order);
}

static int heap_push(dw_sim_gen *g, pend *e) {
  if (g->heap_n == g->heap_cap) {
    size_t cap = g->heap_cap ? g->heap_cap * 2 : 4096;
    pend *h = realloc(g->heap, cap * sizeof *h);
    if (!h) return -1;
    g->heap = h;
    g->heap_cap = cap;
  }
  e->order = g->order++;
  size_t i = g->heap_n++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!before(e, &g->heap[parent])) break;
    g->heap[i] = g->heap[parent];
    i = parent;
  }
  g->heap[i] = *e;
  e->d->pending++;
  return 0;
}

static void heap_pop(dw_sim_gen *g, pend *out) {
  *out = g->heap[0];
  pend last = g->heap[--g->heap_n];
  size_t i = 0, n = g->heap_n;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    const pend *best = &last;
    if (l < n && before(&g->heap[l], best)) {
      m = l;
      best = &g->heap[l];
    }
    if (r < n && before(&g->heap[r], best)) m = r;
    if (m == i) break;
    g->heap[i] = g->heap[m];
    i = m;
  }
  if (n) g->heap[i] = last;
}

/* ---- setup -------------------------------------------------------------- */

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

dw_sim_gen *dw_sim_gen_new(const dw_sim_profile *prof, const dw_calendar *cal, uint64_t seed,
                           int64_t start_day, int days, char *errstr, size_t n) {
  if (days < 1 || prof->n_communes < 1) {
    snprintf(errstr, n, "days: must be >= 1");
    return NULL;
  }
  /* the whole window, plus room for due times, must be on the calendar */
  for (int64_t d = start_day; d < start_day + days; d++)
    if (dw_calendar_is_working_day(cal, d) < 0) {
      int y, m, dd;
      dw_civil_from_days(d, &y, &m, &dd);
      snprintf(errstr, n, "calendar: no calendar file covers %04d-%02d-%02d", y, m, dd);
      return NULL;
    }
  dw_sim_gen *g = calloc(1, sizeof *g);
  if (!g) goto oom;
  g->prof = prof;
  g->cal = cal;
  g->seed = seed;
  g->start_day = start_day;
  g->days = days;
  g->off_min = dw_calendar_utc_offset_min(cal);
  g->day_ms = dw_calendar_day_ms(cal);
  g->start = start_day * DW_MS_PER_DAY - (int64_t)g->off_min * DW_MS_PER_MIN;
  g->end = g->start + (int64_t)days * DW_MS_PER_DAY;
  g->cs = calloc((size_t)prof->n_communes, sizeof *g->cs);
  g->stats.communes = calloc((size_t)prof->n_communes, sizeof *g->stats.communes);
  if (!g->cs || !g->stats.communes) goto oom;
  g->stats.n_communes = prof->n_communes;
  for (int i = 0; i < prof->n_communes; i++) {
    const dw_sim_commune *c = &prof->communes[i];
    commune_state *s = &g->cs[i];
    dw_sim_rng_derive(&s->rng, seed, hash_str(c->code));
    dw_sim_quota_init(&s->result_quota, c->p.result_digitization);
    for (int p = 0; p < c->p.n_procedures; p++) {
      dw_sim_agency(prof, c, c->p.procedures[p].agency, s->agency_cache[p], DW_ID_MAX);
      s->proc_weights[p] = c->p.procedures[p].weight;
    }
    for (int t = 0; t < c->p.n_transfer; t++)
      dw_sim_agency(prof, c, c->p.transfer_agencies[t], s->transfer_cache[t], DW_ID_MAX);
  }
  return g;
oom:
  snprintf(errstr, n, "out of memory");
  dw_sim_gen_destroy(g);
  return NULL;
}

/* ---- planning ------------------------------------------------------------ */

#define PLAN_MAX 24

typedef struct planner {
  dw_sim_gen *g;
  int64_t t0;
  int64_t sup_at, pause; /* active offset of the supplement request, pause length */
  pend ev[PLAN_MAX];
  int n;
  int failed;
} planner;

/* Working-time position (ms after receipt, pause excluded) -> instant. */
static int64_t at_active(planner *pl, int64_t a) {
  int64_t eff = a + (pl->pause && a > pl->sup_at ? pl->pause : 0);
  int64_t out;
  char err[128];
  if (eff <= 0) return pl->t0;
  if (dw_calendar_add_working(pl->g->cal, pl->t0, eff, &out, err, sizeof err)) {
    pl->failed = 1;
    return DW_TIME_NONE;
  }
  return out;
}

static pend *add(planner *pl, dw_event_type type, int64_t t) {
  if (t == DW_TIME_NONE || pl->n == PLAN_MAX) return NULL;
  pend *e = &pl->ev[pl->n++];
  memset(e, 0, sizeof *e);
  e->type = (uint8_t)type;
  e->t = t;
  e->channel = -1;
  e->aux = DW_TIME_NONE;
  e->num = -1;
  return e;
}

/* Uniform whole seconds in [lo, hi] ms. */
static int64_t secs(dw_sim_rng *r, int64_t lo_ms, int64_t hi_ms) {
  return dw_sim_rng_range(r, lo_ms / 1000, hi_ms / 1000) * 1000;
}

static int plan_dossier(dw_sim_gen *g, int ci, int64_t t0, const char *id) {
  const dw_sim_commune *c = &g->prof->communes[ci];
  const dw_sim_params *P = &c->p;
  commune_state *cs = &g->cs[ci];
  dw_sim_rng *r = &cs->rng;
  const int64_t D = g->day_ms;

  sim_dossier *d = calloc(1, sizeof *d);
  if (!d) return -1;
  snprintf(d->id, sizeof d->id, "%s", id);
  d->commune = ci;
  d->proc = dw_sim_rng_pick(r, cs->proc_weights, P->n_procedures);
  snprintf(d->agency[0], DW_ID_MAX, "%s", cs->agency_cache[d->proc]);
  int pd = P->procedures[d->proc].processing_days;
  int64_t work = (int64_t)pd * D;

  planner pl = {.g = g, .t0 = t0};
  dw_channel ch = (dw_channel)dw_sim_rng_pick(r, P->channels, DW_CH__COUNT);
  int64_t due = at_active(&pl, work);

  pend *e = add(&pl, DW_EV_RECEIVED, t0);
  e->channel = (int8_t)ch;
  e->num = pd;
  if (due != DW_TIME_NONE && dw_sim_rng_chance(r, P->due_at_share)) e->aux = due;

  if (due != DW_TIME_NONE) {
    /* how it ends, and when (active working offset) */
    double u = dw_sim_rng_double(r);
    int kind = u < P->withdrawal ? DW_EV_WITHDRAWN
               : u < P->withdrawal + P->rejection ? DW_EV_REJECTED
                                                   : DW_EV_RESULT_ISSUED;
    int late = kind != DW_EV_WITHDRAWN && dw_sim_rng_chance(r, P->late);
    int64_t a_end;
    if (kind == DW_EV_WITHDRAWN)
      a_end = secs(r, work / 10, work * 9 / 10);
    else if (late)
      a_end = work + secs(r, D / 20, 3 * D);
    else
      a_end = secs(r, work * 3 / 10, work * 98 / 100);

    /* intake: events in the first working hour(s); none after the end */
    if (dw_sim_rng_chance(r, P->payment)) {
      e = add(&pl, DW_EV_PAYMENT, at_active(&pl, secs(r, 60000, 1800000)));
      if (e) e->flag = dw_sim_rng_chance(r, P->payment_online);
    }
    if (ch != DW_CH_ONLINE_FULL && dw_sim_rng_chance(r, P->intake_digitization)) {
      int64_t a = dw_sim_rng_chance(r, P->intake_digitization_slow) ? secs(r, D * 105 / 100, 2 * D)
                                                                     : secs(r, 120000, 5400000);
      if (a < a_end) add(&pl, DW_EV_DIGITIZED, at_active(&pl, a));
    }
    if (dw_sim_rng_chance(r, P->reuse)) {
      int k = (int)dw_sim_rng_range(r, 1, 2);
      int first = (int)dw_sim_rng_below(r, COUNT(documents));
      for (int i = 0; i < k; i++) {
        int64_t a = secs(r, 60000, 3600000);
        if (a >= a_end) continue;
        e = add(&pl, DW_EV_DOC_REUSED, at_active(&pl, a));
        if (e) e->text = (uint8_t)((first + i) % COUNT(documents));
      }
    }
    for (int inw = 1; inw >= 0; inw--) {
      if (!dw_sim_rng_chance(r, inw ? P->paper_in_warehouse : P->paper_not_in_warehouse)) continue;
      int64_t a = secs(r, 60000, 3600000);
      if (a >= a_end) continue;
      e = add(&pl, DW_EV_PAPER_REQUESTED, at_active(&pl, a));
      if (e) {
        e->flag = (uint8_t)inw;
        e->text = (uint8_t)dw_sim_rng_below(r, COUNT(documents));
      }
    }

    /* processing: supplement pause, transfer, apology */
    int64_t due_eff = due;
    if (kind != DW_EV_WITHDRAWN && dw_sim_rng_chance(r, P->supplement)) {
      int64_t s = secs(r, a_end / 5, a_end * 7 / 10);
      int64_t pause = dw_sim_rng_range(r, 1, 3) * D;
      e = add(&pl, DW_EV_SUPPLEMENT_REQUESTED, at_active(&pl, s));
      if (e) {
        e->text = (uint8_t)dw_sim_rng_below(r, COUNT(supplement_reasons));
        pl.sup_at = s;
        pl.pause = pause;
        /* resumes `pause` of working time later; the due time moves by the
         * same working time (CONTRACT §4) */
        int64_t resumed;
        char err[128];
        if (dw_calendar_add_working(g->cal, e->t, pause, &resumed, err, sizeof err) == 0) {
          due_eff = at_active(&pl, work);
          pend *rcv = add(&pl, DW_EV_SUPPLEMENT_RECEIVED, resumed);
          if (rcv && due_eff != DW_TIME_NONE && dw_sim_rng_chance(r, P->due_at_share)) rcv->aux = due_eff;
        } else {
          pl.failed = 1;
        }
      }
    }
    if (kind != DW_EV_WITHDRAWN && P->n_transfer > 0 && dw_sim_rng_chance(r, P->transfer)) {
      int ti = (int)dw_sim_rng_below(r, (uint64_t)P->n_transfer);
      if (strcmp(cs->transfer_cache[ti], d->agency[0]) == 0) ti = (ti + 1) % P->n_transfer;
      if (strcmp(cs->transfer_cache[ti], d->agency[0]) != 0) {
        snprintf(d->agency[1], DW_ID_MAX, "%s", cs->transfer_cache[ti]);
        add(&pl, DW_EV_TRANSFERRED, at_active(&pl, secs(r, a_end / 10, a_end * 6 / 10)));
      }
    }
    if (late && dw_sim_rng_chance(r, P->apology_when_late)) {
      /* before the due time, once lateness is foreseeable */
      int64_t a = work - secs(r, D / 10, D / 2);
      if (a < work / 2) a = work / 2;
      e = add(&pl, DW_EV_APOLOGY_ISSUED, at_active(&pl, a));
      if (e) {
        if (dw_sim_rng_chance(r, P->promise_kept))
          e->aux = at_active(&pl, a_end + secs(r, D / 20, D));
        else
          e->aux = at_active(&pl, work + (a_end - work) * (int64_t)dw_sim_rng_range(r, 20, 80) / 100);
        if (e->aux == DW_TIME_NONE) pl.n--; /* drop an apology we cannot date */
      }
    }

    /* the end, then return and rating after a result */
    int64_t t_end = at_active(&pl, a_end);
    e = add(&pl, (dw_event_type)kind, t_end);
    if (e && kind == DW_EV_REJECTED) e->text = (uint8_t)dw_sim_rng_below(r, COUNT(rejection_reasons));
    if (e && kind == DW_EV_RESULT_ISSUED) {
      int64_t a_after = a_end;
      if (dw_sim_rng_chance(r, P->returned)) {
        a_after = a_end + secs(r, 600000, 2 * D);
        add(&pl, DW_EV_RETURNED, at_active(&pl, a_after));
      }
      if (dw_sim_rng_chance(r, P->rating)) {
        e = add(&pl, DW_EV_RATED, at_active(&pl, a_after + secs(r, 60000, 7200000)));
        if (e) e->num = 1 + dw_sim_rng_pick(r, P->rating_weights, 5);
      }
    }
  }

  /* order the dossier's own events (stable: planning order breaks ties),
   * number them, and track the responsible agency through a transfer */
  for (int i = 1; i < pl.n; i++) {
    pend x = pl.ev[i];
    int j = i - 1;
    while (j >= 0 && pl.ev[j].t > x.t) {
      pl.ev[j + 1] = pl.ev[j];
      j--;
    }
    pl.ev[j + 1] = x;
  }
  uint8_t cur = 0;
  for (int i = 0; i < pl.n; i++) {
    if (pl.ev[i].type == DW_EV_TRANSFERRED) cur = 1;
    pl.ev[i].agency_idx = cur;
    pl.ev[i].seq = (uint8_t)(i + 1);
  }
  d->final_agency = cur;
  d->next_seq = (uint8_t)(pl.n + 1);
  g->stats.dossiers++;
  for (int i = 0; i < pl.n; i++) {
    if (pl.ev[i].t >= g->end) continue; /* after the window: never emitted */
    pl.ev[i].d = d;
    if (heap_push(g, &pl.ev[i])) {
      if (!d->pending) free(d);
      return -1;
    }
  }
  if (!d->pending) free(d);
  return 0;
}

/* ---- emission ------------------------------------------------------------ */

static int emit_one(dw_sim_gen *g, pend *p, dw_sim_emit_fn emit, void *opaque, char *errstr, size_t n) {
  sim_dossier *d = p->d;
  const dw_sim_commune *c = &g->prof->communes[d->commune];
  commune_state *cs = &g->cs[d->commune];
  dw_sim_commune_stats *st = &g->stats.communes[d->commune];
  dw_event ev;
  dw_event_init(&ev);
  snprintf(ev.event_id, sizeof ev.event_id, "%s-%02u", d->id, (unsigned)p->seq);
  snprintf(ev.dossier_id, sizeof ev.dossier_id, "%s", d->id);
  ev.type = (dw_event_type)p->type;
  ev.occurred_at = p->t;
  snprintf(ev.commune, sizeof ev.commune, "%s", c->code);
  snprintf(ev.agency, sizeof ev.agency, "%s", d->agency[p->agency_idx]);
  snprintf(ev.procedure, sizeof ev.procedure, "%s", c->p.procedures[d->proc].code);
  switch (ev.type) {
  case DW_EV_RECEIVED:
    ev.channel = (dw_channel)p->channel;
    ev.processing_days = p->num;
    ev.due_at = p->aux;
    st->received++;
    break;
  case DW_EV_DOC_REUSED:
    snprintf(ev.document, sizeof ev.document, "%s", documents[p->text]);
    break;
  case DW_EV_PAPER_REQUESTED:
    snprintf(ev.document, sizeof ev.document, "%s", documents[p->text]);
    ev.in_warehouse = p->flag;
    break;
  case DW_EV_TRANSFERRED:
    snprintf(ev.to_agency, sizeof ev.to_agency, "%s", d->agency[1]);
    break;
  case DW_EV_SUPPLEMENT_REQUESTED:
    snprintf(ev.reason, sizeof ev.reason, "%s", supplement_reasons[p->text]);
    break;
  case DW_EV_SUPPLEMENT_RECEIVED:
    ev.due_at = p->aux;
    break;
  case DW_EV_APOLOGY_ISSUED:
    ev.new_due_at = p->aux;
    break;
  case DW_EV_RESULT_ISSUED: {
    st->results_issued++;
    g->stats.closed++;
    if (dw_sim_quota_draw(&cs->result_quota)) {
      st->results_digitized++;
      ev.digitized = true;
      if (dw_sim_rng_chance(&cs->rng, c->p.result_digitized_later)) {
        /* digitized afterwards, if that still falls inside the window;
         * otherwise at issue, so the quota stays exact */
        int64_t later;
        char err[128];
        int64_t wait = secs(&cs->rng, 1800000, 2 * g->day_ms);
        if (dw_calendar_add_working(g->cal, p->t, wait, &later, err, sizeof err) == 0 && later < g->end) {
          pend q;
          memset(&q, 0, sizeof q);
          q.t = later;
          q.d = d;
          q.type = DW_EV_RESULT_DIGITIZED;
          q.seq = d->next_seq++;
          q.agency_idx = d->final_agency;
          q.channel = -1;
          q.aux = DW_TIME_NONE;
          if (heap_push(g, &q)) {
            snprintf(errstr, n, "out of memory");
            return -1;
          }
          ev.digitized = false;
        }
      }
    }
    break;
  }
  case DW_EV_REJECTED:
    snprintf(ev.reason, sizeof ev.reason, "%s", rejection_reasons[p->text]);
    g->stats.closed++;
    break;
  case DW_EV_WITHDRAWN:
    g->stats.closed++;
    break;
  case DW_EV_PAYMENT:
    ev.online = p->flag;
    break;
  case DW_EV_RATED:
    ev.score = p->num;
    break;
  default:
    break;
  }
  g->stats.events++;
  g->stats.by_type[ev.type]++;
  if (--d->pending == 0) free(d);
  if (emit(&ev, opaque)) {
    snprintf(errstr, n, "output failed at event %s", ev.event_id);
    return -1;
  }
  return 0;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

int dw_sim_gen_run(dw_sim_gen *g, dw_sim_emit_fn emit, void *opaque, char *errstr, size_t n) {
  int64_t *times = NULL;
  size_t times_cap = 0;
  int rc = 0;
  for (int64_t day = g->start_day; day < g->start_day + g->days && rc == 0; day++) {
    int64_t day_start = day * DW_MS_PER_DAY - (int64_t)g->off_min * DW_MS_PER_MIN;
    int64_t next = day_start + DW_MS_PER_DAY;
    if (dw_calendar_is_working_day(g->cal, day) == 1) {
      int64_t ws;
      char err[128];
      if (dw_calendar_next_working_start(g->cal, day_start, &ws, err, sizeof err)) {
        snprintf(errstr, n, "calendar: %s", err);
        rc = -1;
        break;
      }
      int y, m, dd;
      dw_civil_from_days(day, &y, &m, &dd);
      for (int ci = 0; ci < g->prof->n_communes && rc == 0; ci++) {
        commune_state *cs = &g->cs[ci];
        uint32_t k = dw_sim_rng_poisson(&cs->rng, g->prof->communes[ci].p.daily_intake_mean);
        if (k > times_cap) {
          size_t cap = k * 2;
          int64_t *t = realloc(times, cap * sizeof *t);
          if (!t) {
            snprintf(errstr, n, "out of memory");
            rc = -1;
            break;
          }
          times = t;
          times_cap = cap;
        }
        for (uint32_t i = 0; i < k; i++) {
          int64_t off = secs(&cs->rng, 0, g->day_ms - 1000), t;
          if (dw_calendar_add_working(g->cal, ws, off, &t, err, sizeof err)) t = ws;
          times[i] = t;
        }
        qsort(times, k, sizeof *times, cmp_i64);
        for (uint32_t i = 0; i < k; i++) {
          char id[80];
          snprintf(id, sizeof id, "%s-%04d%02d%02d-%04u", g->prof->communes[ci].code, y, m, dd, i + 1);
          if (plan_dossier(g, ci, times[i], id)) {
            snprintf(errstr, n, "out of memory");
            rc = -1;
            break;
          }
        }
      }
    }
    while (rc == 0 && g->heap_n > 0 && g->heap[0].t < next) {
      pend p;
      heap_pop(g, &p);
      rc = emit_one(g, &p, emit, opaque, errstr, n);
    }
  }
  free(times);
  return rc;
}

const dw_sim_stats *dw_sim_gen_stats(const dw_sim_gen *g) { return &g->stats; }
int64_t dw_sim_gen_start(const dw_sim_gen *g) { return g->start; }
int64_t dw_sim_gen_end(const dw_sim_gen *g) { return g->end; }

void dw_sim_gen_destroy(dw_sim_gen *g) {
  if (!g) return;
  /* after an aborted run the heap still references dossiers: free each once */
  while (g->heap_n > 0) {
    pend p;
    heap_pop(g, &p);
    if (--p.d->pending == 0) free(p.d);
  }
  free(g->heap);
  free(g->cs);
  free(g->stats.communes);
  free(g);
}
