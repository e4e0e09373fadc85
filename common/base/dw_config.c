/* dw_config: parsing and lookup of key=value configuration (see dw_config.h). */
#include "dw_config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dw_config_entry {
  char *key;
  char *value;
} dw_config_entry;

struct dw_config {
  dw_config_entry *entries;
  size_t count, cap;
};

dw_config *dw_config_new(void) { return calloc(1, sizeof(dw_config)); }

void dw_config_destroy(dw_config *cfg) {
  if (!cfg) return;
  for (size_t i = 0; i < cfg->count; i++) {
    free(cfg->entries[i].key);
    free(cfg->entries[i].value);
  }
  free(cfg->entries);
  free(cfg);
}

static const dw_config_key *find_key(const char *name) {
  for (const dw_config_key *k = dw_config_keys; k->name; k++)
    if (strcmp(k->name, name) == 0) return k;
  return NULL;
}

static dw_config_entry *find_entry(const dw_config *cfg, const char *key) {
  for (size_t i = 0; i < cfg->count; i++)
    if (strcmp(cfg->entries[i].key, key) == 0) return &cfg->entries[i];
  return NULL;
}

static int check_value(const dw_config_key *k, const char *value, char *errstr, size_t n) {
  char *end;
  switch (k->type) {
  case DW_CONF_STRING:
    return 0;
  case DW_CONF_BOOL:
    if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0) return 0;
    snprintf(errstr, n, "key '%s': '%s' is not true or false", k->name, value);
    return -1;
  case DW_CONF_INT:
  case DW_CONF_DOUBLE: {
    errno = 0;
    double v = k->type == DW_CONF_INT ? (double)strtoll(value, &end, 10) : strtod(value, &end);
    if (errno || end == value || *end || isnan(v)) {
      snprintf(errstr, n, "key '%s': '%s' is not %s", k->name, value,
               k->type == DW_CONF_INT ? "an integer" : "a number");
      return -1;
    }
    if (v < k->min || v > k->max) {
      snprintf(errstr, n, "key '%s': %s is outside %g..%g", k->name, value, k->min, k->max);
      return -1;
    }
    return 0;
  }
  }
  return 0;
}

int dw_config_set(dw_config *cfg, const char *key, const char *value, char *errstr, size_t n) {
  if (strncmp(key, "kafka.", 6) == 0) {
    if (!key[6]) {
      snprintf(errstr, n, "key 'kafka.': a librdkafka property name must follow");
      return -1;
    }
  } else {
    const dw_config_key *k = find_key(key);
    if (!k) {
      snprintf(errstr, n, "unknown key '%s'", key);
      return -1;
    }
    if (check_value(k, value, errstr, n)) return -1;
  }
  dw_config_entry *e = find_entry(cfg, key);
  if (e) {
    char *v = strdup(value);
    if (!v) goto oom;
    free(e->value);
    e->value = v;
    return 0;
  }
  if (cfg->count == cfg->cap) {
    size_t cap = cfg->cap ? cfg->cap * 2 : 16;
    dw_config_entry *grown = realloc(cfg->entries, cap * sizeof *grown);
    if (!grown) goto oom;
    cfg->entries = grown;
    cfg->cap = cap;
  }
  e = &cfg->entries[cfg->count];
  e->key = strdup(key);
  e->value = strdup(value);
  if (!e->key || !e->value) {
    free(e->key);
    free(e->value);
    goto oom;
  }
  cfg->count++;
  return 0;
oom:
  snprintf(errstr, n, "out of memory");
  return -1;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  char *end = s + strlen(s);
  while (end > s && isspace((unsigned char)end[-1])) *--end = 0;
  return s;
}

int dw_config_load_file(dw_config *cfg, const char *path, char *errstr, size_t n) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(errstr, n, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  char line[4096];
  int lineno = 0, rc = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    char *hash = strchr(line, '#');
    if (hash) *hash = 0;
    char *s = trim(line);
    if (!*s) continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      snprintf(errstr, n, "%s:%d: expected key = value", path, lineno);
      rc = -1;
      break;
    }
    *eq = 0;
    char *key = trim(s), *value = trim(eq + 1), why[512];
    if (dw_config_set(cfg, key, value, why, sizeof why)) {
      snprintf(errstr, n, "%s:%d: %s", path, lineno, why);
      rc = -1;
      break;
    }
  }
  fclose(f);
  return rc;
}

void dw_config_apply_env(dw_config *cfg) {
  static const char *const pairs[][2] = {
    {"DW_BOOTSTRAP", "kafka.bootstrap.servers"},
    {"DW_DB", "db.conninfo"},
  };
  char err[256];
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    const char *v = getenv(pairs[i][0]);
    if (v && *v && !find_entry(cfg, pairs[i][1])) dw_config_set(cfg, pairs[i][1], v, err, sizeof err);
  }
}

const char *dw_config_get(const dw_config *cfg, const char *key) {
  const dw_config_entry *e = cfg ? find_entry(cfg, key) : NULL;
  if (e) return e->value;
  const dw_config_key *k = find_key(key);
  return k ? k->default_value : NULL;
}

int64_t dw_config_get_int(const dw_config *cfg, const char *key) {
  const char *v = dw_config_get(cfg, key);
  return v ? strtoll(v, NULL, 10) : 0;
}

double dw_config_get_double(const dw_config *cfg, const char *key) {
  const char *v = dw_config_get(cfg, key);
  return v ? strtod(v, NULL) : 0.0;
}

bool dw_config_get_bool(const dw_config *cfg, const char *key) {
  const char *v = dw_config_get(cfg, key);
  return v && strcmp(v, "true") == 0;
}

int dw_config_foreach_prefix(const dw_config *cfg, const char *prefix,
                             int (*fn)(const char *, const char *, void *), void *opaque) {
  size_t plen = strlen(prefix);
  for (size_t i = 0; i < cfg->count; i++)
    if (strncmp(cfg->entries[i].key, prefix, plen) == 0) {
      int rc = fn(cfg->entries[i].key + plen, cfg->entries[i].value, opaque);
      if (rc) return rc;
    }
  return 0;
}
