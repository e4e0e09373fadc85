/* dw_config: key=value configuration shared by every command.
 * Sources, highest precedence first: command-line flags (--set KEY=VALUE and
 * the shorthands --bootstrap/--db), the --config FILE, the environment
 * (DW_BOOTSTRAP, DW_DB), then the defaults in the known-key table
 * (dw_config_keys.c). Keys under "kafka." pass straight through to
 * librdkafka; every other key must be in the table, and a value must parse as
 * the key's type, or loading fails naming the key (and file line). */
#ifndef DW_CONFIG_H
#define DW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dw_config dw_config;

typedef enum dw_config_type {
  DW_CONF_STRING,
  DW_CONF_INT,    /* integer, with min/max */
  DW_CONF_DOUBLE, /* number, with min/max */
  DW_CONF_BOOL,   /* true/false */
} dw_config_type;

typedef struct dw_config_key {
  const char *name;
  dw_config_type type;
  const char *default_value; /* NULL: unset unless given */
  double min, max;           /* for INT and DOUBLE */
  const char *doc;
} dw_config_key;

/* The table of known keys, terminated by a NULL name (dw_config_keys.c). */
extern const dw_config_key dw_config_keys[];

dw_config *dw_config_new(void);
void dw_config_destroy(dw_config *cfg);

/* Loads FILE: "key = value" lines, '#' comments, blank lines. Errors name
 * the file, line and key. Returns 0 or -1. */
int dw_config_load_file(dw_config *cfg, const char *path, char *errstr, size_t errstr_size);

/* Sets one key (validated). Returns 0 or -1. */
int dw_config_set(dw_config *cfg, const char *key, const char *value, char *errstr, size_t errstr_size);

/* Applies DW_BOOTSTRAP / DW_DB for keys not already set. */
void dw_config_apply_env(dw_config *cfg);

/* Value of a key: what was set, else its default, else NULL. */
const char *dw_config_get(const dw_config *cfg, const char *key);
int64_t dw_config_get_int(const dw_config *cfg, const char *key);
double dw_config_get_double(const dw_config *cfg, const char *key);
bool dw_config_get_bool(const dw_config *cfg, const char *key);

/* Calls fn for every set key starting with prefix (prefix stripped). Stops
 * and returns fn's value at the first non-zero. */
int dw_config_foreach_prefix(const dw_config *cfg, const char *prefix,
                             int (*fn)(const char *key, const char *value, void *opaque), void *opaque);

#endif
