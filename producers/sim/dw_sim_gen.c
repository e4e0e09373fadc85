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

/* One dossier's plan: its events, not yet in time order. Every random
 * draw comes from the commune's stream r, in a fixed order (the stages of
 * plan_dossier, in turn): the same seed gives the same bytes. */
typedef struct planner {
  dw_sim_gen *g;
  const dw_sim_params *P; /* the commune's parameters */
  dw_sim_rng *r;          /* the commune's stream */
  int64_t D;              /* a working day, ms */
  int64_t t0;
  int64_t sup_at, pause; /* active offset of the supplement request, pause length */
  pend ev[PLAN_MAX];
  int n;
  int failed;
} planner;

/* How a dossier ends and when, decided before its other events (which
 * must not come after the end). */
typedef struct outcome {
  int kind;      /* DW_EV_WITHDRAWN, DW_EV_REJECTED or DW_EV_RESULT_ISSUED */
  int late;      /* ends after its due time */
  int64_t work;  /* processing_days of working time, ms */
  int64_t a_end; /* active working offset of the end */
} outcome;

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

/* The dossier record: its procedure (drawn by weight) and the agency that
 * receives it. NULL when out of memory. */
static sim_dossier *new_dossier(dw_sim_gen *g, int ci, const char *id) {
  commune_state *cs = &g->cs[ci];
  sim_dossier *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  snprintf(d->id, sizeof d->id, "%s", id);
  d->commune = ci;
  d->proc = dw_sim_rng_pick(&cs->rng, cs->proc_weights, g->prof->communes[ci].p.n_procedures);
  snprintf(d->agency[0], DW_ID_MAX, "%s", cs->agency_cache[d->proc]);
  return d;
}

/* RECEIVED at t0, by a channel drawn by share, with its due time for a
 * share of dossiers. The due time (DW_TIME_NONE: off the calendar). */
static int64_t plan_receipt(planner *pl, int pd, int64_t work, dw_channel *ch) {
  *ch = (dw_channel)dw_sim_rng_pick(pl->r, pl->P->channels, DW_CH__COUNT);
  int64_t due = at_active(pl, work);
  pend *e = add(pl, DW_EV_RECEIVED, pl->t0);
  e->channel = (int8_t)*ch;
  e->num = pd;
  if (due != DW_TIME_NONE && dw_sim_rng_chance(pl->r, pl->P->due_at_share)) e->aux = due;
  return due;
}

/* How it ends, and when (active working offset). */
static outcome plan_outcome(planner *pl, int64_t work) {
  const dw_sim_params *P = pl->P;
  dw_sim_rng *r = pl->r;
  const int64_t D = pl->D;
  outcome o = {.work = work};
  double u = dw_sim_rng_double(r);
  o.kind = u < P->withdrawal ? DW_EV_WITHDRAWN
           : u < P->withdrawal + P->rejection ? DW_EV_REJECTED
                                               : DW_EV_RESULT_ISSUED;
  o.late = o.kind != DW_EV_WITHDRAWN && dw_sim_rng_chance(r, P->late);
  if (o.kind == DW_EV_WITHDRAWN)
    o.a_end = secs(r, work / 10, work * 9 / 10);
  else if (o.late)
    o.a_end = work + secs(r, D / 20, 3 * D);
  else
    o.a_end = secs(r, work * 3 / 10, work * 98 / 100);
  return o;
}

/* Intake: payment, digitization, reused and paper documents, in the first
 * working hour(s); none after the end. */
static void plan_intake(planner *pl, dw_channel ch, const outcome *o) {
  const dw_sim_params *P = pl->P;
  dw_sim_rng *r = pl->r;
  const int64_t D = pl->D;
  pend *e;
  if (dw_sim_rng_chance(r, P->payment)) {
    e = add(pl, DW_EV_PAYMENT, at_active(pl, secs(r, 60000, 1800000)));
    if (e) e->flag = dw_sim_rng_chance(r, P->payment_online);
  }
  if (ch != DW_CH_ONLINE_FULL && dw_sim_rng_chance(r, P->intake_digitization)) {
    int64_t a = dw_sim_rng_chance(r, P->intake_digitization_slow) ? secs(r, D * 105 / 100, 2 * D)
                                                                   : secs(r, 120000, 5400000);
    if (a < o->a_end) add(pl, DW_EV_DIGITIZED, at_active(pl, a));
  }
  if (dw_sim_rng_chance(r, P->reuse)) {
    int k = (int)dw_sim_rng_range(r, 1, 2);
    int first = (int)dw_sim_rng_below(r, COUNT(documents));
    for (int i = 0; i < k; i++) {
      int64_t a = secs(r, 60000, 3600000);
      if (a >= o->a_end) continue;
      e = add(pl, DW_EV_DOC_REUSED, at_active(pl, a));
      if (e) e->text = (uint8_t)((first + i) % COUNT(documents));
    }
  }
  for (int inw = 1; inw >= 0; inw--) {
    if (!dw_sim_rng_chance(r, inw ? P->paper_in_warehouse : P->paper_not_in_warehouse)) continue;
    int64_t a = secs(r, 60000, 3600000);
    if (a >= o->a_end) continue;
    e = add(pl, DW_EV_PAPER_REQUESTED, at_active(pl, a));
    if (e) {
      e->flag = (uint8_t)inw;
      e->text = (uint8_t)dw_sim_rng_below(r, COUNT(documents));
    }
  }
}

/* A supplement request pauses the processing: every later active offset
 * (at_active) moves by the pause. */
static void plan_supplement(planner *pl, const outcome *o) {
  const dw_sim_params *P = pl->P;
  dw_sim_rng *r = pl->r;
  if (o->kind == DW_EV_WITHDRAWN || !dw_sim_rng_chance(r, P->supplement)) return;
  int64_t s = secs(r, o->a_end / 5, o->a_end * 7 / 10);
  int64_t pause = dw_sim_rng_range(r, 1, 3) * pl->D;
  pend *e = add(pl, DW_EV_SUPPLEMENT_REQUESTED, at_active(pl, s));
  if (!e) return;
  e->text = (uint8_t)dw_sim_rng_below(r, COUNT(supplement_reasons));
  pl->sup_at = s;
  pl->pause = pause;
  /* resumes `pause` of working time later; the due time moves by the
   * same working time (CONTRACT §4) */
  int64_t resumed;
  char err[128];
  if (dw_calendar_add_working(pl->g->cal, e->t, pause, &resumed, err, sizeof err) == 0) {
    int64_t due_eff = at_active(pl, o->work);
    pend *rcv = add(pl, DW_EV_SUPPLEMENT_RECEIVED, resumed);
    if (rcv && due_eff != DW_TIME_NONE && dw_sim_rng_chance(r, P->due_at_share)) rcv->aux = due_eff;
  } else {
    pl->failed = 1;
  }
}

/* A transfer to another agency of the commune's list (never to the one
 * that has it). */
static void plan_transfer(planner *pl, sim_dossier *d, const commune_state *cs, const outcome *o) {
  const dw_sim_params *P = pl->P;
  dw_sim_rng *r = pl->r;
  if (o->kind == DW_EV_WITHDRAWN || P->n_transfer <= 0 || !dw_sim_rng_chance(r, P->transfer)) return;
  int ti = (int)dw_sim_rng_below(r, (uint64_t)P->n_transfer);
  if (strcmp(cs->transfer_cache[ti], d->agency[0]) == 0) ti = (ti + 1) % P->n_transfer;
  if (strcmp(cs->transfer_cache[ti], d->agency[0]) != 0) {
    snprintf(d->agency[1], DW_ID_MAX, "%s", cs->transfer_cache[ti]);
    add(pl, DW_EV_TRANSFERRED, at_active(pl, secs(r, o->a_end / 10, o->a_end * 6 / 10)));
  }
}

/* A late dossier's apology with a new due time, kept or not. */
static void plan_apology(planner *pl, const outcome *o) {
  const dw_sim_params *P = pl->P;
  dw_sim_rng *r = pl->r;
  const int64_t D = pl->D, work = o->work;
  if (!o->late || !dw_sim_rng_chance(r, P->apology_when_late)) return;
  /* before the due time, once lateness is foreseeable */
  int64_t a = work - secs(r, D / 10, D / 2);
  if (a < work / 2) a = work / 2;
  pend *e = add(pl, DW_EV_APOLOGY_ISSUED, at_active(pl, a));
  if (!e) return;
  if (dw_sim_rng_chance(r, P->promise_kept))
    e->aux = at_active(pl, o->a_end + secs(r, D / 20, D));
  else
    e->aux = at_active(pl, work + (o->a_end - work) * (int64_t)dw_sim_rng_range(r, 20, 80) / 100);
  if (e->aux == DW_TIME_NONE) pl->n--; /* drop an apology we cannot date */
}

/* The end, then return and rating after a result. */
static void plan_end(planner *pl, const outcome *o) {
  const dw_sim_params *P = pl->P;
  dw_sim_rng *r = pl->r;
  const int64_t D = pl->D;
  int64_t t_end = at_active(pl, o->a_end);
  pend *e = add(pl, (dw_event_type)o->kind, t_end);
  if (e && o->kind == DW_EV_REJECTED) e->text = (uint8_t)dw_sim_rng_below(r, COUNT(rejection_reasons));
  if (!e || o->kind != DW_EV_RESULT_ISSUED) return;
  int64_t a_after = o->a_end;
  if (dw_sim_rng_chance(r, P->returned)) {
    a_after = o->a_end + secs(r, 600000, 2 * D);
    add(pl, DW_EV_RETURNED, at_active(pl, a_after));
  }
  if (dw_sim_rng_chance(r, P->rating)) {
    e = add(pl, DW_EV_RATED, at_active(pl, a_after + secs(r, 60000, 7200000)));
    if (e) e->num = 1 + dw_sim_rng_pick(r, P->rating_weights, 5);
  }
}

/* Orders the dossier's own events (stable: planning order breaks ties),
 * numbers them, and tracks the responsible agency through a transfer. */
static void order_events(planner *pl, sim_dossier *d) {
  for (int i = 1; i < pl->n; i++) {
    pend x = pl->ev[i];
    int j = i - 1;
    while (j >= 0 && pl->ev[j].t > x.t) {
      pl->ev[j + 1] = pl->ev[j];
      j--;
    }
    pl->ev[j + 1] = x;
  }
  uint8_t cur = 0;
  for (int i = 0; i < pl->n; i++) {
    if (pl->ev[i].type == DW_EV_TRANSFERRED) cur = 1;
    pl->ev[i].agency_idx = cur;
    pl->ev[i].seq = (uint8_t)(i + 1);
  }
  d->final_agency = cur;
  d->next_seq = (uint8_t)(pl->n + 1);
}

/* Into the heap, those inside the window; a dossier with none left there
 * is freed here. 0, or -1 out of memory. */
static int schedule(dw_sim_gen *g, planner *pl, sim_dossier *d) {
  for (int i = 0; i < pl->n; i++) {
    if (pl->ev[i].t >= g->end) continue; /* after the window: never emitted */
    pl->ev[i].d = d;
    if (heap_push(g, &pl->ev[i])) {
      if (!d->pending) free(d);
      return -1;
    }
  }
  if (!d->pending) free(d);
  return 0;
}

/* Plans one dossier received at t0 and schedules its events. 0, or -1 out
 * of memory. */
static int plan_dossier(dw_sim_gen *g, int ci, int64_t t0, const char *id) {
  const dw_sim_params *P = &g->prof->communes[ci].p;
  sim_dossier *d = new_dossier(g, ci, id);
  if (!d) return -1;
  int pd = P->procedures[d->proc].processing_days;
  int64_t work = (int64_t)pd * g->day_ms;
  planner pl = {.g = g, .P = P, .r = &g->cs[ci].rng, .D = g->day_ms, .t0 = t0};
  dw_channel ch;
  if (plan_receipt(&pl, pd, work, &ch) != DW_TIME_NONE) {
    outcome o = plan_outcome(&pl, work);
    plan_intake(&pl, ch, &o);
    plan_supplement(&pl, &o);
    plan_transfer(&pl, d, &g->cs[ci], &o);
    plan_apology(&pl, &o);
    plan_end(&pl, &o);
  }
  order_events(&pl, d);
  g->stats.dossiers++;
  return schedule(g, &pl, d);
}

/* ---- emission ------------------------------------------------------------ */

/* RESULT_ISSUED: digitized or not by the commune's quota (exact over the
 * results emitted, so decided here, not when planned); part of the
 * digitized ones get a RESULT_DIGITIZED later instead. 0, or -1 out of
 * memory. */
static int issue_result(dw_sim_gen *g, const pend *p, dw_event *ev, char *errstr, size_t n) {
  sim_dossier *d = p->d;
  const dw_sim_commune *c = &g->prof->communes[d->commune];
  commune_state *cs = &g->cs[d->commune];
  dw_sim_commune_stats *st = &g->stats.communes[d->commune];
  st->results_issued++;
  g->stats.closed++;
  if (!dw_sim_quota_draw(&cs->result_quota)) return 0;
  st->results_digitized++;
  ev->digitized = true;
  if (!dw_sim_rng_chance(&cs->rng, c->p.result_digitized_later)) return 0;
  /* digitized afterwards, if that still falls inside the window;
   * otherwise at issue, so the quota stays exact */
  int64_t later;
  char err[128];
  int64_t wait = secs(&cs->rng, 1800000, 2 * g->day_ms);
  if (dw_calendar_add_working(g->cal, p->t, wait, &later, err, sizeof err) || later >= g->end) return 0;
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
  ev->digitized = false;
  return 0;
}

/* The fields every event has, from its dossier. */
static void fill_common(const dw_sim_gen *g, const pend *p, dw_event *ev) {
  const sim_dossier *d = p->d;
  const dw_sim_commune *c = &g->prof->communes[d->commune];
  dw_event_init(ev);
  snprintf(ev->event_id, sizeof ev->event_id, "%s-%02u", d->id, (unsigned)p->seq);
  snprintf(ev->dossier_id, sizeof ev->dossier_id, "%s", d->id);
  ev->type = (dw_event_type)p->type;
  ev->occurred_at = p->t;
  snprintf(ev->commune, sizeof ev->commune, "%s", c->code);
  snprintf(ev->agency, sizeof ev->agency, "%s", d->agency[p->agency_idx]);
  snprintf(ev->procedure, sizeof ev->procedure, "%s", c->p.procedures[d->proc].code);
}

/* The fields of the event's type, and the counts they make. 0, or -1 out
 * of memory. */
static int fill_type_fields(dw_sim_gen *g, const pend *p, dw_event *ev, char *errstr, size_t n) {
  switch (ev->type) {
  case DW_EV_RECEIVED:
    ev->channel = (dw_channel)p->channel;
    ev->processing_days = p->num;
    ev->due_at = p->aux;
    g->stats.communes[p->d->commune].received++;
    break;
  case DW_EV_DOC_REUSED:
    snprintf(ev->document, sizeof ev->document, "%s", documents[p->text]);
    break;
  case DW_EV_PAPER_REQUESTED:
    snprintf(ev->document, sizeof ev->document, "%s", documents[p->text]);
    ev->in_warehouse = p->flag;
    break;
  case DW_EV_TRANSFERRED:
    snprintf(ev->to_agency, sizeof ev->to_agency, "%s", p->d->agency[1]);
    break;
  case DW_EV_SUPPLEMENT_REQUESTED:
    snprintf(ev->reason, sizeof ev->reason, "%s", supplement_reasons[p->text]);
    break;
  case DW_EV_SUPPLEMENT_RECEIVED:
    ev->due_at = p->aux;
    break;
  case DW_EV_APOLOGY_ISSUED:
    ev->new_due_at = p->aux;
    break;
  case DW_EV_RESULT_ISSUED:
    return issue_result(g, p, ev, errstr, n);
  case DW_EV_REJECTED:
    snprintf(ev->reason, sizeof ev->reason, "%s", rejection_reasons[p->text]);
    g->stats.closed++;
    break;
  case DW_EV_WITHDRAWN:
    g->stats.closed++;
    break;
  case DW_EV_PAYMENT:
    ev->online = p->flag;
    break;
  case DW_EV_RATED:
    ev->score = p->num;
    break;
  default:
    break;
  }
  return 0;
}

/* Turns a planned event into an event and hands it to emit; the dossier is
 * freed with its last event. 0, or -1 with errstr. */
static int emit_one(dw_sim_gen *g, pend *p, dw_sim_emit_fn emit, void *opaque, char *errstr, size_t n) {
  sim_dossier *d = p->d;
  dw_event ev;
  fill_common(g, p, &ev);
  if (fill_type_fields(g, p, &ev, errstr, n)) return -1;
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
