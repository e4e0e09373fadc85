/* dw_sim_profile: built-in defaults, the generated province and the JSON
 * profile loader for `simulate` (see dw_sim_profile.h). Loading is strict:
 * an unknown key is an error (a typo would otherwise silently keep a
 * default), and every error names the field path. */
#include "dw_sim_profile.h"

#include "dw_embedded.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_sim_prng.h"

/* ---- defaults ---------------------------------------------------------- */

/* Sample procedures of a commune one-stop desk. The codes follow the
 * national procedure catalogue's format; treat them as illustrative. */
static const dw_sim_procedure default_procedures[] = {
  {"1.001612", "Chứng thực bản sao từ bản chính", 1, "UBND-{commune}", 24},
  {"2.000815", "Chứng thực chữ ký", 1, "UBND-{commune}", 10},
  {"1.001193", "Đăng ký khai sinh", 1, "UBND-{commune}", 16},
  {"1.000656", "Đăng ký khai tử", 1, "UBND-{commune}", 4},
  {"1.000894", "Đăng ký kết hôn", 3, "UBND-{commune}", 6},
  {"2.000908", "Cấp Giấy xác nhận tình trạng hôn nhân", 3, "UBND-{commune}", 8},
  {"1.004227", "Đăng ký thành lập hộ kinh doanh", 3, "UBND-{commune}", 6},
  {"1.010812", "Đăng ký thường trú", 7, "CA-{commune}", 8},
  {"1.003010", "Đăng ký đất đai, tài sản gắn liền với đất lần đầu", 15, "VPDKDD-{province}", 5},
  {"1.004148", "Cấp phép xây dựng nhà ở riêng lẻ", 15, "UBND-{commune}", 3},
};

void dw_sim_params_default(dw_sim_params *p) {
  memset(p, 0, sizeof *p);
  p->daily_intake_mean = 25;
  p->channels[DW_CH_IN_PERSON] = 0.40;
  p->channels[DW_CH_POSTAL] = 0.05;
  p->channels[DW_CH_ONLINE_PARTIAL] = 0.30;
  p->channels[DW_CH_ONLINE_FULL] = 0.25;
  p->intake_digitization = 0.85;
  p->intake_digitization_slow = 0.08;
  p->result_digitization = 0.90;
  p->result_digitized_later = 0.20;
  p->reuse = 0.30;
  p->paper_in_warehouse = 0.02;
  p->paper_not_in_warehouse = 0.10;
  p->supplement = 0.08;
  p->late = 0.05;
  p->apology_when_late = 0.60;
  p->promise_kept = 0.80;
  p->transfer = 0.06;
  p->rejection = 0.02;
  p->withdrawal = 0.01;
  p->payment = 0.50;
  p->payment_online = 0.45;
  p->returned = 0.95;
  p->rating = 0.30;
  double w[5] = {0.02, 0.03, 0.10, 0.35, 0.50};
  memcpy(p->rating_weights, w, sizeof w);
  p->due_at_share = 0.30;
  p->n_procedures = (int)(sizeof default_procedures / sizeof default_procedures[0]);
  memcpy(p->procedures, default_procedures, sizeof default_procedures);
  p->n_transfer = 3;
  snprintf(p->transfer_agencies[0], DW_ID_MAX, "VPDKDD-{province}");
  snprintf(p->transfer_agencies[1], DW_ID_MAX, "THUE-{province}");
  snprintf(p->transfer_agencies[2], DW_ID_MAX, "STP-{province}");
}

/* ---- generated province ------------------------------------------------ */

static const char *const syllables[] = {
  "An", "Bình", "Hòa", "Long", "Phú", "Tân", "Thạnh", "Mỹ", "Hiệp", "Lợi",
  "Thuận", "Đông", "Tây", "Phước", "Nhơn", "Hưng", "Khánh", "Lộc", "Trung", "Vĩnh",
};
#define N_SYLL ((int)(sizeof syllables / sizeof syllables[0]))

static dw_sim_profile *profile_alloc(int n) {
  dw_sim_profile *prof = calloc(1, sizeof *prof);
  if (!prof) return NULL;
  prof->communes = calloc((size_t)(n > 0 ? n : 1), sizeof *prof->communes);
  if (!prof->communes) {
    free(prof);
    return NULL;
  }
  prof->n_communes = n;
  return prof;
}

static double clamp01(double x) { return x < 0 ? 0 : x > 1 ? 1 : x; }

dw_sim_profile *dw_sim_profile_generated(int n) {
  if (n < 1) n = 1;
  if (n > 3321) n = 3321;
  dw_sim_profile *prof = profile_alloc(n);
  if (!prof) return NULL;
  snprintf(prof->name, sizeof prof->name, "generated");
  snprintf(prof->province_code, sizeof prof->province_code, "86");
  snprintf(prof->province_name, sizeof prof->province_name, "Tỉnh Mẫu");
  /* A fixed stream: the province's shape does not depend on --seed, so runs
   * with different seeds simulate the same communes. */
  dw_sim_rng r;
  dw_sim_rng_seed(&r, 0x70726f76696e6365ULL);
  int code = 29000;
  for (int i = 0; i < n; i++) {
    dw_sim_commune *c = &prof->communes[i];
    code += 3 + (int)dw_sim_rng_below(&r, 12);
    if (code > 99999) code = 10000 + i; /* only reachable for thousands of communes */
    snprintf(c->code, sizeof c->code, "%05d", code);
    /* distinct two-syllable names; the index decides the pair, so no two
     * communes share a name up to N_SYLL*(N_SYLL-1) communes */
    int a = i % N_SYLL, b = (i / N_SYLL + a + 1) % N_SYLL;
    if (b == a) b = (b + 1) % N_SYLL;
    const char *kind = (i % 5 == 0) ? "Phường" : "Xã";
    if (i < N_SYLL * (N_SYLL - 1))
      snprintf(c->name, sizeof c->name, "%s %s %s", kind, syllables[a], syllables[b]);
    else
      snprintf(c->name, sizeof c->name, "%s %s %s %d", kind, syllables[a], syllables[b], i);
    dw_sim_params *p = &c->p;
    dw_sim_params_default(p);
    p->daily_intake_mean = 8 + dw_sim_rng_double(&r) * 40;
    p->channels[DW_CH_ONLINE_FULL] = 0.10 + dw_sim_rng_double(&r) * 0.35;
    p->channels[DW_CH_ONLINE_PARTIAL] = 0.15 + dw_sim_rng_double(&r) * 0.25;
    p->intake_digitization = clamp01(0.55 + dw_sim_rng_double(&r) * 0.44);
    p->result_digitization = clamp01(0.60 + dw_sim_rng_double(&r) * 0.40);
    p->reuse = 0.10 + dw_sim_rng_double(&r) * 0.50;
    p->late = 0.01 + dw_sim_rng_double(&r) * 0.12;
    p->apology_when_late = 0.30 + dw_sim_rng_double(&r) * 0.65;
    p->payment_online = 0.20 + dw_sim_rng_double(&r) * 0.60;
  }
  return prof;
}

/* ---- JSON loading -------------------------------------------------------- */

typedef struct num_field {
  const char *name;
  size_t offset;
  double min, max;
} num_field;

#define PF(f, lo, hi) {#f, offsetof(dw_sim_params, f), lo, hi}
static const num_field num_fields[] = {
  PF(daily_intake_mean, 0, 100000),
  PF(intake_digitization, 0, 1),
  PF(intake_digitization_slow, 0, 1),
  PF(result_digitization, 0, 1),
  PF(result_digitized_later, 0, 1),
  PF(reuse, 0, 1),
  PF(paper_in_warehouse, 0, 1),
  PF(paper_not_in_warehouse, 0, 1),
  PF(supplement, 0, 1),
  PF(late, 0, 1),
  PF(apology_when_late, 0, 1),
  PF(promise_kept, 0, 1),
  PF(transfer, 0, 1),
  PF(rejection, 0, 1),
  PF(withdrawal, 0, 1),
  PF(payment, 0, 1),
  PF(payment_online, 0, 1),
  PF(returned, 0, 1),
  PF(rating, 0, 1),
  PF(due_at_share, 0, 1),
  {NULL, 0, 0, 0},
};
#undef PF

static int fail(char *errstr, size_t n, const char *path, const char *fmt, const char *arg) {
  char why[256];
  snprintf(why, sizeof why, fmt, arg);
  snprintf(errstr, n, "%s: %s", path, why);
  return -1;
}

static int get_number(json_t *v, double *out) {
  if (!json_is_number(v)) return -1;
  *out = json_number_value(v);
  return 0;
}

static int copy_string(json_t *v, char *dst, size_t size, const char *path, char *errstr, size_t n) {
  if (!json_is_string(v)) return fail(errstr, n, path, "must be a string%s", "");
  const char *s = json_string_value(v);
  if (!s[0]) return fail(errstr, n, path, "must not be empty%s", "");
  if (strlen(s) >= size) return fail(errstr, n, path, "is too long%s", "");
  snprintf(dst, size, "%s", s);
  return 0;
}

static int parse_procedures(json_t *arr, dw_sim_params *p, const char *base, char *errstr, size_t n) {
  char path[256];
  snprintf(path, sizeof path, "%s.procedures", base);
  if (!json_is_array(arr) || json_array_size(arr) == 0)
    return fail(errstr, n, path, "must be a non-empty array%s", "");
  if (json_array_size(arr) > DW_SIM_MAX_PROCEDURES)
    return fail(errstr, n, path, "has more than 32 procedures%s", "");
  p->n_procedures = 0;
  size_t i;
  json_t *o;
  json_array_foreach(arr, i, o) {
    dw_sim_procedure *pr = &p->procedures[i];
    memset(pr, 0, sizeof *pr);
    pr->weight = 1;
    snprintf(path, sizeof path, "%s.procedures[%zu]", base, i);
    if (!json_is_object(o)) return fail(errstr, n, path, "must be an object%s", "");
    const char *k;
    json_t *v;
    char fpath[300];
    json_object_foreach(o, k, v) {
      snprintf(fpath, sizeof fpath, "%s.%s", path, k);
      if (strcmp(k, "code") == 0) {
        if (copy_string(v, pr->code, sizeof pr->code, fpath, errstr, n)) return -1;
      } else if (strcmp(k, "name") == 0) {
        if (copy_string(v, pr->name, sizeof pr->name, fpath, errstr, n)) return -1;
      } else if (strcmp(k, "agency") == 0) {
        if (copy_string(v, pr->agency, sizeof pr->agency, fpath, errstr, n)) return -1;
      } else if (strcmp(k, "processing_days") == 0) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 365)
          return fail(errstr, n, fpath, "must be an integer in 1..365%s", "");
        pr->processing_days = (int)json_integer_value(v);
      } else if (strcmp(k, "weight") == 0) {
        if (get_number(v, &pr->weight) || pr->weight < 0)
          return fail(errstr, n, fpath, "must be a number >= 0%s", "");
      } else {
        return fail(errstr, n, fpath, "unknown field%s", "");
      }
    }
    if (!pr->code[0]) return fail(errstr, n, path, "field 'code' is required%s", "");
    if (!pr->processing_days) return fail(errstr, n, path, "field 'processing_days' is required%s", "");
    if (!pr->agency[0]) snprintf(pr->agency, sizeof pr->agency, "UBND-{commune}");
    p->n_procedures++;
  }
  return 0;
}

/* Applies the parameter keys of object o over p. Keys in `skip` are left
 * for the caller (commune code and name). */
static int parse_params(json_t *o, dw_sim_params *p, const char *base, const char *const *skip,
                        char *errstr, size_t n) {
  const char *k;
  json_t *v;
  char path[300];
  json_object_foreach(o, k, v) {
    int skipped = 0;
    for (int s = 0; skip && skip[s]; s++)
      if (strcmp(k, skip[s]) == 0) skipped = 1;
    if (skipped) continue;
    snprintf(path, sizeof path, "%s.%s", base, k);
    const num_field *f = NULL;
    for (int i = 0; num_fields[i].name; i++)
      if (strcmp(k, num_fields[i].name) == 0) f = &num_fields[i];
    if (f) {
      double x;
      if (get_number(v, &x) || x < f->min || x > f->max) {
        char range[64];
        snprintf(range, sizeof range, "%g..%g", f->min, f->max);
        return fail(errstr, n, path, "must be a number in %s", range);
      }
      *(double *)((char *)p + f->offset) = x;
    } else if (strcmp(k, "channels") == 0) {
      if (!json_is_object(v)) return fail(errstr, n, path, "must be an object of channel shares%s", "");
      const char *ck;
      json_t *cv;
      json_object_foreach(v, ck, cv) {
        char cpath[360];
        snprintf(cpath, sizeof cpath, "%s.%s", path, ck);
        dw_channel ch;
        if (dw_channel_parse(ck, &ch))
          return fail(errstr, n, cpath, "unknown channel (IN_PERSON, POSTAL, ONLINE_PARTIAL, ONLINE_FULL)%s", "");
        double x;
        if (get_number(cv, &x) || x < 0 || x > 1) return fail(errstr, n, cpath, "must be a number in 0..1%s", "");
        p->channels[ch] = x;
      }
      double sum = 0;
      for (int c = 0; c < DW_CH__COUNT; c++) sum += p->channels[c];
      if (!(sum > 0)) return fail(errstr, n, path, "shares must not all be 0%s", "");
    } else if (strcmp(k, "rating_weights") == 0) {
      if (!json_is_array(v) || json_array_size(v) != 5)
        return fail(errstr, n, path, "must be an array of 5 weights (scores 1..5)%s", "");
      double sum = 0;
      for (size_t i = 0; i < 5; i++) {
        double x;
        if (get_number(json_array_get(v, i), &x) || x < 0) {
          char ipath[400];
          snprintf(ipath, sizeof ipath, "%s[%zu]", path, i);
          return fail(errstr, n, ipath, "must be a number >= 0%s", "");
        }
        p->rating_weights[i] = x;
        sum += x;
      }
      if (!(sum > 0)) return fail(errstr, n, path, "weights must not all be 0%s", "");
    } else if (strcmp(k, "procedures") == 0) {
      if (parse_procedures(v, p, base, errstr, n)) return -1;
    } else if (strcmp(k, "transfer_agencies") == 0) {
      if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > DW_SIM_MAX_TRANSFER)
        return fail(errstr, n, path, "must be an array of 1..8 agency templates%s", "");
      p->n_transfer = (int)json_array_size(v);
      for (size_t i = 0; i < json_array_size(v); i++) {
        char ipath[400];
        snprintf(ipath, sizeof ipath, "%s[%zu]", path, i);
        if (copy_string(json_array_get(v, i), p->transfer_agencies[i], DW_ID_MAX, ipath, errstr, n)) return -1;
      }
    } else {
      return fail(errstr, n, path, "unknown field%s", "");
    }
  }
  if (p->rejection + p->withdrawal > 1)
    return fail(errstr, n, base, "rejection + withdrawal must not exceed 1%s", "");
  return 0;
}

static int valid_commune_code(const char *s) {
  if (strlen(s) != 5) return 0;
  for (int i = 0; i < 5; i++)
    if (!isdigit((unsigned char)s[i])) return 0;
  return 1;
}

/* Only the known top-level keys: a misspelt one would silently do nothing. */
static int check_top_keys(json_t *root, char *errstr, size_t n) {
  static const char *const top_keys[] = {"name", "description", "note", "province", "defaults",
                                         "communes", "generate_communes", NULL};
  const char *k;
  json_t *v;
  json_object_foreach(root, k, v) {
    int ok = 0;
    for (int i = 0; top_keys[i]; i++)
      if (strcmp(k, top_keys[i]) == 0) ok = 1;
    if (!ok) return fail(errstr, n, k, "unknown field%s", "");
  }
  return 0;
}

/* communes[i]: its code (5 digits, unique so far), name (default: the
 * code) and parameters over the profile's defaults. 0 or -1. */
static int parse_commune(json_t *o, size_t i, dw_sim_profile *prof, const dw_sim_params *defaults, char *errstr,
                         size_t n) {
  static const char *const own[] = {"code", "name", NULL};
  char path[64];
  snprintf(path, sizeof path, "communes[%zu]", i);
  dw_sim_commune *c = &prof->communes[i];
  if (!json_is_object(o)) return fail(errstr, n, path, "must be an object%s", "");
  char fpath[96];
  snprintf(fpath, sizeof fpath, "%s.code", path);
  json_t *code = json_object_get(o, "code");
  if (!code) return fail(errstr, n, fpath, "required%s", "");
  if (!json_is_string(code) || !valid_commune_code(json_string_value(code)))
    return fail(errstr, n, fpath, "must be a 5-digit administrative-unit code as a string%s", "");
  snprintf(c->code, sizeof c->code, "%s", json_string_value(code));
  for (size_t j = 0; j < i; j++)
    if (strcmp(prof->communes[j].code, c->code) == 0)
      return fail(errstr, n, fpath, "duplicate commune code %s", c->code);
  json_t *name = json_object_get(o, "name");
  snprintf(fpath, sizeof fpath, "%s.name", path);
  if (name) {
    if (copy_string(name, c->name, sizeof c->name, fpath, errstr, n)) return -1;
  } else {
    snprintf(c->name, sizeof c->name, "%s", c->code);
  }
  c->p = *defaults;
  return parse_params(o, &c->p, path, own, errstr, n);
}

/* "communes": the listed communes. NULL with errstr. */
static dw_sim_profile *communes_listed(json_t *communes, const dw_sim_params *defaults, char *errstr, size_t n) {
  if (!json_is_array(communes) || json_array_size(communes) == 0) {
    fail(errstr, n, "communes", "must be a non-empty array%s", "");
    return NULL;
  }
  dw_sim_profile *prof = profile_alloc((int)json_array_size(communes));
  if (!prof) {
    fail(errstr, n, "communes", "out of memory%s", "");
    return NULL;
  }
  size_t i;
  json_t *o;
  json_array_foreach(communes, i, o) {
    if (parse_commune(o, i, prof, defaults, errstr, n)) {
      dw_sim_profile_destroy(prof);
      return NULL;
    }
  }
  return prof;
}

/* No "communes": a generated province of "generate_communes" (default 100)
 * communes, with the defaults object d (may be NULL) applied to each. NULL
 * with errstr. */
static dw_sim_profile *communes_generated(json_t *gen, json_t *d, char *errstr, size_t n) {
  int count = 100;
  if (gen) {
    if (!json_is_integer(gen) || json_integer_value(gen) < 1 || json_integer_value(gen) > 3321) {
      fail(errstr, n, "generate_communes", "must be an integer in 1..3321%s", "");
      return NULL;
    }
    count = (int)json_integer_value(gen);
  }
  dw_sim_profile *prof = dw_sim_profile_generated(count);
  if (!prof) {
    fail(errstr, n, "generate_communes", "out of memory%s", "");
    return NULL;
  }
  /* the profile's defaults replace the generated variation only where it
   * names a parameter; keep the generated names, codes and variation */
  if (d)
    for (int i = 0; i < prof->n_communes; i++)
      if (parse_params(d, &prof->communes[i].p, "defaults", NULL, errstr, n)) {
        dw_sim_profile_destroy(prof);
        return NULL;
      }
  return prof;
}

/* "province": {code, name}; without it, the sample province. 0 or -1. */
static int parse_province(json_t *prov, dw_sim_profile *prof, char *errstr, size_t n) {
  if (!prov) {
    snprintf(prof->province_code, sizeof prof->province_code, "86");
    snprintf(prof->province_name, sizeof prof->province_name, "Tỉnh Mẫu");
    return 0;
  }
  if (!json_is_object(prov)) return fail(errstr, n, "province", "must be an object {code, name}%s", "");
  const char *k;
  json_t *v;
  json_object_foreach(prov, k, v) {
    char path[64];
    snprintf(path, sizeof path, "province.%s", k);
    if (strcmp(k, "code") == 0) {
      if (copy_string(v, prof->province_code, sizeof prof->province_code, path, errstr, n)) return -1;
    } else if (strcmp(k, "name") == 0) {
      if (copy_string(v, prof->province_name, sizeof prof->province_name, path, errstr, n)) return -1;
    } else {
      return fail(errstr, n, path, "unknown field%s", "");
    }
  }
  return 0;
}

/* The profile object, in the order its errors are reported: top-level
 * keys, defaults, communes (listed or generated), name, province. */
static dw_sim_profile *parse_root(json_t *root, char *errstr, size_t n) {
  if (!json_is_object(root)) {
    fail(errstr, n, "(profile)", "must be a JSON object%s", "");
    return NULL;
  }
  if (check_top_keys(root, errstr, n)) return NULL;
  dw_sim_params defaults;
  dw_sim_params_default(&defaults);
  json_t *d = json_object_get(root, "defaults");
  if (d) {
    if (!json_is_object(d)) {
      fail(errstr, n, "defaults", "must be an object%s", "");
      return NULL;
    }
    if (parse_params(d, &defaults, "defaults", NULL, errstr, n)) return NULL;
  }
  json_t *communes = json_object_get(root, "communes");
  dw_sim_profile *prof = communes ? communes_listed(communes, &defaults, errstr, n)
                                  : communes_generated(json_object_get(root, "generate_communes"), d, errstr, n);
  if (!prof) return NULL;
  snprintf(prof->name, sizeof prof->name, "profile");
  json_t *name = json_object_get(root, "name");
  if ((name && copy_string(name, prof->name, sizeof prof->name, "name", errstr, n)) ||
      parse_province(json_object_get(root, "province"), prof, errstr, n)) {
    dw_sim_profile_destroy(prof);
    return NULL;
  }
  return prof;
}

dw_sim_profile *dw_sim_profile_parse(const char *text, char *errstr, size_t n) {
  json_error_t je;
  json_t *root = json_loads(text, 0, &je);
  if (!root) {
    snprintf(errstr, n, "line %d column %d: %s", je.line, je.column, je.text);
    return NULL;
  }
  dw_sim_profile *prof = parse_root(root, errstr, n);
  json_decref(root);
  return prof;
}

/* A profile from JSON text (data, len) or, with data NULL, the file path;
 * name names it in messages. */
static dw_sim_profile *profile_from(const char *name, const char *data, size_t len, const char *path, char *errstr,
                                    size_t n) {
  json_error_t je;
  json_t *root = data ? json_loadb(data, len, 0, &je) : json_load_file(path, 0, &je);
  if (!root) {
    snprintf(errstr, n, "%s:%d:%d: %s", name, je.line, je.column, je.text);
    return NULL;
  }
  char why[512];
  dw_sim_profile *prof = parse_root(root, why, sizeof why);
  json_decref(root);
  if (!prof) snprintf(errstr, n, "%s: %s", name, why);
  return prof;
}

dw_sim_profile *dw_sim_profile_load(const char *path, char *errstr, size_t n) {
  return profile_from(path, NULL, 0, path, errstr, n);
}

dw_sim_profile *dw_sim_profile_preset(const char *name, char *errstr, size_t n) {
  for (const char *s = name; *s; s++)
    if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_')) {
      snprintf(errstr, n, "preset '%s': names are letters, digits, '-' and '_'", name);
      return NULL;
    }
  const char *dir = getenv("DW_SIMULATE_DIR");
  char path[1024];
  if (dir && *dir) {
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) {
      snprintf(errstr, n, "preset '%s': no file %s", name, path);
      return NULL;
    }
    fclose(f);
    return dw_sim_profile_load(path, errstr, n);
  }
  /* the presets compiled in (deploy/simulate) */
  snprintf(path, sizeof path, "%s.json", name);
  const dw_embedded_file *f = dw_embedded_find(dw_embedded_presets, path);
  if (!f) {
    snprintf(errstr, n, "preset '%s': no such preset (built in: see deploy/simulate)", name);
    return NULL;
  }
  char label[1100];
  snprintf(label, sizeof label, "preset %s", path);
  return profile_from(label, f->data, f->len, NULL, errstr, n);
}

void dw_sim_profile_limit(dw_sim_profile *prof, int n) {
  if (n >= 1 && n < prof->n_communes) prof->n_communes = n;
}

void dw_sim_agency(const dw_sim_profile *prof, const dw_sim_commune *c, const char *tmpl, char *out,
                   size_t size) {
  size_t o = 0;
  for (const char *s = tmpl; *s && o + 1 < size;) {
    const char *rep = NULL;
    size_t skip = 0;
    if (strncmp(s, "{commune}", 9) == 0) {
      rep = c->code;
      skip = 9;
    } else if (strncmp(s, "{province}", 10) == 0) {
      rep = prof->province_code;
      skip = 10;
    }
    if (rep) {
      for (; *rep && o + 1 < size; rep++) out[o++] = *rep;
      s += skip;
    } else {
      out[o++] = *s++;
    }
  }
  out[o] = 0;
}

void dw_sim_profile_destroy(dw_sim_profile *prof) {
  if (!prof) return;
  free(prof->communes);
  free(prof);
}
