/* dw_rules: derives a dossier's timeline and each rule's alert intervals
 * from its facts (see dw_rules.h for the conventions). One function per rule
 * below; the engine diffs their output against what it already emitted. */
#include "dw_rules.h"

#include <string.h>

#define INF INT64_MAX

static int64_t min_t(int64_t a, int64_t b) {
  if (a == DW_TIME_NONE) return b;
  if (b == DW_TIME_NONE) return a;
  return a < b ? a : b;
}
static int64_t max_t(int64_t a, int64_t b) { return a > b ? a : b; }

void dw_rules_timeline(const dw_rules_cfg *cfg, const dw_dossier *d, dw_timeline *tl) {
  char err[8];
  tl->n = 0;
  tl->received = d->received_at != DW_TIME_NONE;
  tl->close_at = DW_TIME_NONE;
  tl->close_kind = DW_CLOSE_NONE;
  if (d->issued_at != DW_TIME_NONE) {
    tl->close_at = d->issued_at;
    tl->close_kind = DW_CLOSE_ISSUED;
  }
  if (d->end_at != DW_TIME_NONE && (tl->close_at == DW_TIME_NONE || d->end_at < tl->close_at)) {
    tl->close_at = d->end_at;
    tl->close_kind = (d->flags & DW_DF_END_REJECTED) ? DW_CLOSE_REJECTED : DW_CLOSE_WITHDRAWN;
  }
  if (!tl->received) return;
  const int64_t lim = tl->close_at == DW_TIME_NONE ? INF : tl->close_at;
  int64_t a = d->received_at, due = d->base_due, pause_start = 0;
  int paused = 0;
  const dw_pause_ev *p = dw_dossier_pauses(d);
  /* Pause events before receipt are meaningless and ignored; requests pair
   * with the next receipt in time order; a repeated request while paused or
   * a receipt while running is ignored. */
  for (unsigned i = 0; i < d->n_pause; i++) {
    if (p[i].at < d->received_at) continue;
    if (p[i].at >= lim) break;
    if (p[i].due == DW_PAUSE_REQ) {
      if (paused) continue;
      if (tl->n < DW_MAX_STRETCH - 1) tl->s[tl->n++] = (dw_stretch){a, p[i].at, due, DW_END_PAUSE};
      paused = 1;
      pause_start = p[i].at;
    } else {
      if (!paused) continue;
      paused = 0;
      if (p[i].due != DW_TIME_NONE) {
        due = p[i].due;
      } else if (due != DW_TIME_NONE) {
        int64_t wb, nd;
        if (dw_calendar_working_between(cfg->cal, pause_start, p[i].at, &wb, err, sizeof err) ||
            dw_calendar_add_working(cfg->cal, due, wb, &nd, err, sizeof err))
          due = DW_TIME_NONE;
        else
          due = nd;
      }
      a = p[i].at;
    }
  }
  if (!paused && tl->n < DW_MAX_STRETCH)
    tl->s[tl->n++] = (dw_stretch){a, lim, due, lim == INF ? DW_END_NONE : DW_END_CLOSE};
}

int64_t dw_rules_due_at(const dw_dossier *d, const dw_timeline *tl, int64_t t) {
  if (!tl->received) return DW_TIME_NONE;
  int64_t due = d->base_due;
  for (int k = 0; k < tl->n && tl->s[k].a <= t; k++) due = tl->s[k].due;
  return due;
}

static void push(dw_rule_out *o, int rule, dw_ival iv) {
  if (iv.c != DW_TIME_NONE && iv.c <= dw_ival_first(&iv)) return; /* never observable */
  if (o->n[rule] == DW_RULE_MAX_IVALS) {
    memmove(&o->iv[rule][0], &o->iv[rule][1], sizeof(dw_ival) * (DW_RULE_MAX_IVALS - 1));
    o->n[rule]--;
  }
  o->iv[rule][o->n[rule]++] = iv;
}

static dw_ival mk(int64_t r, int strict, int64_t c, int64_t due, int64_t ref, int sev) {
  return (dw_ival){r, c, due, ref, DW_TIME_NONE, (uint8_t)strict, (uint8_t)sev, (uint8_t)sev};
}

/* OVERDUE: in the first unpaused open stretch [a,b) with due d where now > d
 * can hold: raised at max(a, d), cleared at close. */
static void derive_OVERDUE(const dw_rules_cfg *cfg, const dw_dossier *d, const dw_timeline *tl, dw_rule_out *o) {
  (void)cfg;
  (void)d;
  for (int k = 0; k < tl->n; k++) {
    const dw_stretch *s = &tl->s[k];
    if (s->due == DW_TIME_NONE) continue;
    int strict = s->due >= s->a;
    int64_t r = strict ? s->due : s->a;
    int64_t first = strict ? r + 1 : r;
    if (first < s->b) {
      push(o, DW_RULE_OVERDUE, mk(r, strict, tl->close_at, s->due, s->due, DW_SEV_CRITICAL));
      return;
    }
  }
}

/* APOLOGY_MISSING: with OVERDUE (derived before it) when no apology at or
 * before the due then in force; cleared by the first apology (all are
 * later) or close. */
static void derive_APOLOGY_MISSING(const dw_rules_cfg *cfg, const dw_dossier *d, const dw_timeline *tl,
                                   dw_rule_out *o) {
  (void)cfg;
  if (o->n[DW_RULE_OVERDUE] == 0) return;
  const dw_ival *ov = &o->iv[DW_RULE_OVERDUE][0];
  const dw_apology *ap = dw_dossier_apologies(d);
  if (d->n_apol && ap[0].at <= ov->due) return;
  int64_t c = min_t(d->n_apol ? ap[0].at : DW_TIME_NONE, tl->close_at);
  push(o, DW_RULE_APOLOGY_MISSING, mk(ov->r, ov->strict, c, ov->due, ov->due, DW_SEV_CRITICAL));
}

/* PROMISE_MISSED: open, the latest apology so far promised p, now > p. Once
 * raised it stays until close (a later apology does not undo a missed
 * promise). */
static void derive_PROMISE_MISSED(const dw_rules_cfg *cfg, const dw_dossier *d, const dw_timeline *tl, dw_rule_out *o) {
  (void)cfg;
  if (!tl->received) return;
  const dw_apology *ap = dw_dossier_apologies(d);
  const int64_t lim = tl->close_at == DW_TIME_NONE ? INF : tl->close_at;
  for (unsigned i = 0; i < d->n_apol; i++) {
    if (ap[i].promised == DW_TIME_NONE) continue;
    int64_t lo = max_t(ap[i].at, d->received_at);
    int64_t hi = i + 1 < d->n_apol ? ap[i + 1].at : INF;
    if (lim < hi) hi = lim;
    int strict = ap[i].promised >= lo;
    int64_t r = strict ? ap[i].promised : lo;
    if ((strict ? r + 1 : r) < hi) {
      push(o, DW_RULE_PROMISE_MISSED, mk(r, strict, tl->close_at, dw_rules_due_at(d, tl, r), ap[i].promised, DW_SEV_CRITICAL));
      return;
    }
  }
}

/* DUE_SOON: open, not paused, 0 < working time to due <= window. Raised at
 * max(stretch start, due - window); cleared at due, close, or at a resume
 * whose due is out of the window or past; carried through a pause. */
static void derive_DUE_SOON(const dw_rules_cfg *cfg, const dw_dossier *d, const dw_timeline *tl, dw_rule_out *o) {
  char err[8];
  if (cfg->due_soon_ms <= 0 || !tl->received) return;
  int have = 0;
  dw_ival cur = {0};
  for (int k = 0; k < tl->n; k++) {
    const dw_stretch *s = &tl->s[k];
    int64_t w = 0;
    int wok = s->due != DW_TIME_NONE && dw_calendar_sub_working(cfg->cal, s->due, cfg->due_soon_ms, &w, err, sizeof err) == 0;
    if (have && !(wok && s->a >= w && s->a < s->due)) {
      cur.c = s->a; /* resumed out of the window (or past due) */
      push(o, DW_RULE_DUE_SOON, cur);
      have = 0;
    }
    if (!wok) continue;
    if (!have) {
      int64_t r = max_t(s->a, w);
      if (r < s->due && r < s->b) {
        cur = mk(r, 0, DW_TIME_NONE, s->due, s->due, DW_SEV_WARNING);
        have = 1;
      }
    }
    if (!have) continue;
    if (s->due <= s->b) {
      cur.c = s->due;
    } else if (s->end == DW_END_CLOSE) {
      cur.c = s->b;
    } else if (s->end == DW_END_NONE) {
      cur.c = DW_TIME_NONE;
    } else {
      continue; /* into a pause: stays raised, re-evaluated at the resume */
    }
    push(o, DW_RULE_DUE_SOON, cur);
    have = 0;
  }
  if (have) { /* ended paused: cleared at a close during the pause, if any */
    cur.c = tl->close_at;
    push(o, DW_RULE_DUE_SOON, cur);
  }
  (void)d;
}

/* INTAKE_NOT_DIGITIZED: not ONLINE_FULL, no DIGITIZED by T1 = receipt + window;
 * raised at T1 (now > T1), cleared at the first DIGITIZED. */
static void derive_INTAKE_NOT_DIGITIZED(const dw_rules_cfg *cfg, const dw_dossier *d, const dw_timeline *tl,
                                        dw_rule_out *o) {
  char err[8];
  if (!tl->received) return;
  int64_t t1;
  if (d->channel == DW_CH_ONLINE_FULL) return;
  if (dw_calendar_add_working(cfg->cal, d->received_at, cfg->intake_ms, &t1, err, sizeof err)) return;
  if (d->digitized_at != DW_TIME_NONE && d->digitized_at <= t1) return;
  push(o, DW_RULE_INTAKE_NOT_DIGITIZED, mk(t1, 1, d->digitized_at, dw_rules_due_at(d, tl, t1), t1, DW_SEV_WARNING));
}

/* RESULT_NOT_DIGITIZED: warning from T1 = issue + window if not digitized by
 * then; critical from RETURNED while undigitized (the same alert, updated, if
 * the warning is already up); cleared at the first RESULT_DIGITIZED. */
static void derive_RESULT_NOT_DIGITIZED(const dw_rules_cfg *cfg, const dw_dossier *d, const dw_timeline *tl,
                                        dw_rule_out *o) {
  char err[8];
  if (d->issued_at == DW_TIME_NONE || (d->flags & DW_DF_ISSUED_DIGITIZED)) return;
  const int64_t rd = d->resdig_at;
  int64_t t1;
  int t1ok = dw_calendar_add_working(cfg->cal, d->issued_at, cfg->result_ms, &t1, err, sizeof err) == 0;
  int64_t crit = DW_TIME_NONE;
  if (d->returned_at != DW_TIME_NONE) {
    int64_t rc = max_t(d->returned_at, d->issued_at);
    if (rd == DW_TIME_NONE || rd > rc) crit = rc;
  }
  int warn = t1ok && (rd == DW_TIME_NONE || rd > t1);
  if (warn && (crit == DW_TIME_NONE || crit > t1)) {
    dw_ival iv = mk(t1, 1, rd, dw_rules_due_at(d, tl, t1), t1, DW_SEV_WARNING);
    iv.sev_at = crit;
    iv.sev1 = DW_SEV_CRITICAL;
    push(o, DW_RULE_RESULT_NOT_DIGITIZED, iv);
  } else if (crit != DW_TIME_NONE) {
    push(o, DW_RULE_RESULT_NOT_DIGITIZED, mk(crit, 0, rd, dw_rules_due_at(d, tl, crit), crit, DW_SEV_CRITICAL));
  }
}

/* PAPER_REQUESTED_FROM_WAREHOUSE: at the first PAPER_REQUESTED of a paper
 * in the warehouse; never cleared (an incident to account for). */
static void derive_PAPER_REQUESTED_FROM_WAREHOUSE(const dw_rules_cfg *cfg, const dw_dossier *d, const dw_timeline *tl,
                                                  dw_rule_out *o) {
  (void)cfg;
  if (d->paper_at != DW_TIME_NONE)
    push(o, DW_RULE_PAPER_REQUESTED_FROM_WAREHOUSE,
         mk(d->paper_at, 0, DW_TIME_NONE, dw_rules_due_at(d, tl, d->paper_at), d->paper_at, DW_SEV_CRITICAL));
}

/* The derive functions, derive_NAME for each rule of dw_rules.def, in its
 * order (a rule may read the intervals of the rules before it). */
typedef void (*derive_fn)(const dw_rules_cfg *, const dw_dossier *, const dw_timeline *, dw_rule_out *);
static const derive_fn derive[DW_RULE__COUNT] = {
#define DW_RULE(name, sev, wakes, d_warning, d_critical) derive_##name,
#include "dw_rules.def"
#undef DW_RULE
};

void dw_rules_derive(const dw_rules_cfg *cfg, const dw_dossier *d, const dw_timeline *tl, dw_rule_out *out) {
  memset(out->n, 0, sizeof out->n);
  for (int r = 0; r < DW_RULE__COUNT; r++) derive[r](cfg, d, tl, out);
}
