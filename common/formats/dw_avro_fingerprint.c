/* dw_avro_fingerprint: Avro schema Parsing Canonical Form and the CRC-64-AVRO
 * (Rabin) fingerprint, as defined by the Avro 1.11 specification ("Schema
 * Resolution" / "Parsing Canonical Form for Schemas" / "Schema Fingerprints").
 * The fingerprint of the canonical form is what single-object encoding puts
 * after C3 01, so it must match other Avro implementations byte for byte.
 * avro-c 1.11 has no canonical form of its own, hence this module (jansson
 * parses the schema text). */
#include "dw_buf.h"
#include "dw_codec.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- CRC-64-AVRO ---- */

#define DW_CRC64_EMPTY 0xc15d213aa4d7a795ULL

static uint64_t crc_table[256];
static int crc_ready;

static void crc_init(void) {
  /* Built on first use; the table is a pure function of the polynomial, so a
   * race between two threads writes identical values. */
  for (int i = 0; i < 256; i++) {
    uint64_t fp = (uint64_t)i;
    for (int j = 0; j < 8; j++) fp = (fp >> 1) ^ (DW_CRC64_EMPTY & (0 - (fp & 1)));
    crc_table[i] = fp;
  }
  crc_ready = 1;
}

uint64_t dw_avro_crc64(const void *buf, size_t len) {
  if (!crc_ready) crc_init();
  const unsigned char *p = buf;
  uint64_t fp = DW_CRC64_EMPTY;
  for (size_t i = 0; i < len; i++) fp = (fp >> 8) ^ crc_table[(fp ^ p[i]) & 0xff];
  return fp;
}

/* ---- Parsing Canonical Form ---- */

/* [STRINGS]: a JSON string literal with escapes replaced by the UTF-8
 * characters themselves; only what JSON requires stays escaped. */
static void sb_putstr(dw_buf *b, const char *s) {
  dw_buf_put(b, "\"", 1);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    char tmp[8];
    if (*c == '"' || *c == '\\') {
      tmp[0] = '\\';
      tmp[1] = (char)*c;
      dw_buf_put(b, tmp, 2);
    } else if (*c < 0x20) {
      snprintf(tmp, sizeof tmp, "\\u%04x", *c);
      dw_buf_puts(b, tmp);
    } else {
      dw_buf_put(b, (const char *)c, 1);
    }
  }
  dw_buf_put(b, "\"", 1);
}

typedef struct pcf {
  dw_buf out;
  char **names; /* fullnames of the named types defined so far */
  size_t nnames;
  char *err;
  size_t errn;
  int failed;
} pcf;

static int fail(pcf *c, const char *fmt, ...) {
  if (!c->failed) {
    va_list ap;
    va_start(ap, fmt);
    if (c->err && c->errn) vsnprintf(c->err, c->errn, fmt, ap);
    va_end(ap);
  }
  c->failed = 1;
  return -1;
}

static const char *const primitives[] = {"null", "boolean", "int", "long", "float", "double", "bytes", "string", NULL};

static int is_primitive(const char *s) {
  for (int i = 0; primitives[i]; i++)
    if (strcmp(s, primitives[i]) == 0) return 1;
  return 0;
}

static int known_name(pcf *c, const char *full) {
  for (size_t i = 0; i < c->nnames; i++)
    if (strcmp(c->names[i], full) == 0) return 1;
  return 0;
}

static int add_name(pcf *c, const char *full) {
  if (known_name(c, full)) return fail(c, "schema: type '%s' defined twice", full);
  char **n = realloc(c->names, (c->nnames + 1) * sizeof *n);
  if (!n) return fail(c, "out of memory");
  c->names = n;
  if (!(c->names[c->nnames] = strdup(full))) return fail(c, "out of memory");
  c->nnames++;
  return 0;
}

/* [FULLNAMES]: a name with a dot is already full; otherwise it takes the
 * namespace in effect (none when ns is NULL or empty). */
static char *fullname(const char *name, const char *ns) {
  size_t nl = strlen(name), sl = (ns && !strchr(name, '.')) ? strlen(ns) : 0;
  char *f = malloc(nl + sl + 2);
  if (!f) return NULL;
  if (sl) {
    memcpy(f, ns, sl);
    f[sl] = '.';
    memcpy(f + sl + 1, name, nl + 1);
  } else {
    memcpy(f, name, nl + 1);
  }
  return f;
}

/* The namespace part of a fullname (malloc'd, "" when none). */
static char *namespace_of(const char *full) {
  const char *dot = strrchr(full, '.');
  size_t n = dot ? (size_t)(dot - full) : 0;
  char *s = malloc(n + 1);
  if (!s) return NULL;
  memcpy(s, full, n);
  s[n] = '\0';
  return s;
}

static int emit(pcf *c, json_t *s, const char *ns);

static int emit_reference(pcf *c, const char *name, const char *ns) {
  if (is_primitive(name)) {
    sb_putstr(&c->out, name);
    return 0;
  }
  char *full = fullname(name, ns);
  if (!full) return fail(c, "out of memory");
  int known = known_name(c, full);
  /* A dotted name may also be a reference written in full. */
  if (!known && strchr(name, '.')) known = known_name(c, name);
  if (!known) {
    fail(c, "schema: unknown type '%s'", full);
    free(full);
    return -1;
  }
  sb_putstr(&c->out, full);
  free(full);
  return 0;
}

static const char *get_str(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static int emit_named(pcf *c, json_t *s, const char *type, const char *ns) {
  const char *name = get_str(s, "name");
  if (!name || !*name) return fail(c, "schema: %s without a name", type);
  const char *own_ns = get_str(s, "namespace");
  char *full = fullname(name, own_ns ? own_ns : ns);
  if (!full) return fail(c, "out of memory");
  char *inner_ns = namespace_of(full);
  int rc = 0;
  if (!inner_ns || add_name(c, full) < 0) {
    rc = fail(c, "out of memory");
    goto out;
  }
  /* [ORDER]: name, type, fields, symbols, items, values, size */
  dw_buf_puts(&c->out, "{\"name\":");
  sb_putstr(&c->out, full);
  dw_buf_puts(&c->out, ",\"type\":");
  sb_putstr(&c->out, type);
  if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0) {
    json_t *fields = json_object_get(s, "fields");
    if (!json_is_array(fields)) {
      rc = fail(c, "schema: record '%s' without a fields array", full);
      goto out;
    }
    dw_buf_puts(&c->out, ",\"fields\":[");
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f) {
      const char *fname = json_is_object(f) ? get_str(f, "name") : NULL;
      json_t *ftype = json_is_object(f) ? json_object_get(f, "type") : NULL;
      if (!fname || !ftype) {
        rc = fail(c, "schema: record '%s' field %zu needs a name and a type", full, i);
        goto out;
      }
      if (i) dw_buf_puts(&c->out, ",");
      dw_buf_puts(&c->out, "{\"name\":");
      sb_putstr(&c->out, fname);
      dw_buf_puts(&c->out, ",\"type\":");
      if ((rc = emit(c, ftype, inner_ns)) < 0) goto out;
      dw_buf_puts(&c->out, "}");
    }
    dw_buf_puts(&c->out, "]");
  } else if (strcmp(type, "enum") == 0) {
    json_t *syms = json_object_get(s, "symbols");
    if (!json_is_array(syms)) {
      rc = fail(c, "schema: enum '%s' without a symbols array", full);
      goto out;
    }
    dw_buf_puts(&c->out, ",\"symbols\":[");
    size_t i;
    json_t *y;
    json_array_foreach(syms, i, y) {
      if (!json_is_string(y)) {
        rc = fail(c, "schema: enum '%s' symbol %zu is not a string", full, i);
        goto out;
      }
      if (i) dw_buf_puts(&c->out, ",");
      sb_putstr(&c->out, json_string_value(y));
    }
    dw_buf_puts(&c->out, "]");
  } else { /* fixed */
    json_t *size = json_object_get(s, "size");
    if (!json_is_integer(size) || json_integer_value(size) < 0) {
      rc = fail(c, "schema: fixed '%s' without a valid size", full);
      goto out;
    }
    char tmp[32];
    /* [INTEGERS]: plain decimal, no quotes or leading zeros */
    snprintf(tmp, sizeof tmp, ",\"size\":%lld", (long long)json_integer_value(size));
    dw_buf_puts(&c->out, tmp);
  }
  dw_buf_puts(&c->out, "}");
out:
  free(full);
  free(inner_ns);
  return rc;
}

static int emit(pcf *c, json_t *s, const char *ns) {
  if (c->failed) return -1;
  if (json_is_string(s)) return emit_reference(c, json_string_value(s), ns);
  if (json_is_array(s)) { /* union */
    dw_buf_puts(&c->out, "[");
    size_t i;
    json_t *b;
    json_array_foreach(s, i, b) {
      if (i) dw_buf_puts(&c->out, ",");
      if (emit(c, b, ns) < 0) return -1;
    }
    dw_buf_puts(&c->out, "]");
    return 0;
  }
  if (!json_is_object(s)) return fail(c, "schema: a type must be a string, an array or an object");
  json_t *tv = json_object_get(s, "type");
  if (json_is_object(tv) || json_is_array(tv)) return emit(c, tv, ns); /* {"type": {...}} wraps a type */
  const char *type = json_is_string(tv) ? json_string_value(tv) : NULL;
  if (!type) return fail(c, "schema: object without a type");
  /* [PRIMITIVES]: {"type":"long", "logicalType":...} collapses to "long" */
  if (is_primitive(type)) return emit_reference(c, type, ns);
  if (!strcmp(type, "record") || !strcmp(type, "error") || !strcmp(type, "enum") || !strcmp(type, "fixed"))
    return emit_named(c, s, strcmp(type, "error") == 0 ? "record" : type, ns);
  if (!strcmp(type, "array") || !strcmp(type, "map")) {
    const char *key = type[0] == 'a' ? "items" : "values";
    json_t *inner = json_object_get(s, key);
    if (!inner) return fail(c, "schema: %s without %s", type, key);
    dw_buf_puts(&c->out, "{\"type\":");
    sb_putstr(&c->out, type);
    dw_buf_puts(&c->out, ",\"");
    dw_buf_puts(&c->out, key);
    dw_buf_puts(&c->out, "\":");
    if (emit(c, inner, ns) < 0) return -1;
    dw_buf_puts(&c->out, "}");
    return 0;
  }
  /* a named-type reference written as {"type":"vn.x.Name"} */
  return emit_reference(c, type, ns);
}

char *dw_avro_canonical_form(const char *schema_json, char *errstr, size_t errstr_size) {
  json_error_t jerr;
  json_t *root = json_loads(schema_json, JSON_DECODE_ANY, &jerr);
  if (!root) {
    if (errstr && errstr_size)
      snprintf(errstr, errstr_size, "schema: invalid JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    return NULL;
  }
  pcf c = {.err = errstr, .errn = errstr_size};
  emit(&c, root, NULL);
  json_decref(root);
  for (size_t i = 0; i < c.nnames; i++) free(c.names[i]);
  free(c.names);
  if (!c.failed && c.out.oom) fail(&c, "out of memory");
  if (c.failed || c.out.oom || !c.out.data) {
    if (!c.failed) fail(&c, "schema: empty");
    dw_buf_free(&c.out);
    return NULL;
  }
  return c.out.data;
}
