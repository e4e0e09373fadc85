/* migrate: `dossierwatch migrate` brings a PostgreSQL database to the current
 * schema by applying deploy/migrations/NNN_name.sql in numeric order, each in
 * its own transaction together with its row in schema_migrations, so a
 * migration is either fully applied and recorded or not at all. Applied files
 * must never change: their checksum is kept and compared on every run. A
 * session advisory lock serializes concurrent runs (several services may
 * start at once). The table itself is created by 001_schema_migrations.sql,
 * so until that has run the database simply counts as empty. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_cli.h"
#include "dw_embedded.h"
#include "dw_paths.h"
#include "dw_log.h"
#include "dw_commands.h"
#include "dw_pg.h"

#define CMD "migrate"
/* Arbitrary constant that identifies "dossierwatch migrate" among advisory
 * locks ("dwmigr" in ASCII). */
#define MIGRATE_LOCK_KEY "110442371802482"

typedef struct migration {
  long version;
  char *file; /* "002_events.sql" */
  char *name; /* "events" */
  char *path;
  char *sql;
  char checksum[65];
  int applied;
} migration;

static const char description[] =
  "Applies the schema migrations NNN_name.sql (NNN: the version, any number of\n"
  "digits) that the database has not applied yet, in numeric order, each in its\n"
  "own transaction, and records them in table schema_migrations (version, name,\n"
  "applied_at, checksum = SHA-256 of the file). Running it again applies nothing.\n"
  "An applied migration whose file has changed is an error (write a new one).\n"
  "Concurrent runs wait for each other (advisory lock). The migrations are those\n"
  "compiled into the binary (deploy/migrations of its source), unless --migrations\n"
  "or DW_MIGRATIONS_DIR names a folder. Migration files must not contain\n"
  "transaction control (BEGIN/COMMIT) or statements that cannot run inside a\n"
  "transaction block.";
static const char epilog[] = "prints one line per migration applied, then a summary.";

static void free_migrations(migration *m, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(m[i].file);
    free(m[i].name);
    free(m[i].path);
    free(m[i].sql);
  }
  free(m);
}

static int by_version(const void *a, const void *b) {
  long x = ((const migration *)a)->version, y = ((const migration *)b)->version;
  return (x > y) - (x < y);
}


/* The migrations compiled in (deploy/migrations, CMakeLists.txt dw_embed). */
extern const dw_embedded_file dw_embedded_migrations[];
#define BUILTIN "(built-in)"

/* Checks a file name NNN_name.sql; fills version and name. 0 or -1. */
static int parse_name(const char *f, migration *x) {
  size_t fl = strlen(f);
  if (fl < 4 || strcmp(f + fl - 4, ".sql") != 0) return -1;
  size_t digits = strspn(f, "0123456789");
  if (digits == 0 || digits > 9 || f[digits] != '_' || fl < digits + 6) return -1;
  size_t namelen = fl - 4 - (digits + 1);
  if (strspn(f + digits + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != namelen) return -1;
  x->version = strtol(f, NULL, 10);
  x->file = strdup(f);
  x->name = strndup(f + digits + 1, namelen);
  return 0;
}

/* The compiled-in set, sorted by version. 0, or -1 with err. */
static int scan_builtin(migration **out, size_t *count, char *err, size_t n) {
  size_t len = 0;
  while (dw_embedded_migrations[len].name) len++;
  migration *m = calloc(len + 1, sizeof *m);
  if (!m) {
    snprintf(err, n, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < len; i++) {
    const dw_embedded_file *f = &dw_embedded_migrations[i];
    if (parse_name(f->name, &m[i]) || !(m[i].sql = strdup(f->data)) || !(m[i].path = strdup(f->name))) {
      snprintf(err, n, "built-in migration %s: bad name or out of memory", f->name);
      free_migrations(m, len);
      return -1;
    }
  }
  qsort(m, len, sizeof *m, by_version);
  *out = m;
  *count = len;
  return 0;
}

/* Appends each DIR/NNN_name.sql of d to *m (*len of them, in readdir's
 * order; the SQL is read later). 0, or -1 with err (*m, *len still to
 * free). */
static int list_folder(DIR *d, const char *dir, migration **m, size_t *len, char *err, size_t n) {
  size_t cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    const char *f = e->d_name;
    size_t fl = strlen(f);
    if (fl < 4 || strcmp(f + fl - 4, ".sql") != 0) continue;
    migration probe = {0};
    if (parse_name(f, &probe)) {
      snprintf(err, n, "%s/%s: a migration must be named NNN_name.sql (digits, '_', letters/digits/_/-)", dir, f);
      return -1;
    }
    if (*len == cap) {
      cap = cap ? cap * 2 : 16;
      migration *grown = realloc(*m, cap * sizeof **m);
      if (!grown) {
        snprintf(err, n, "out of memory");
        return -1;
      }
      *m = grown;
    }
    migration *x = &(*m)[(*len)++];
    *x = probe;
    size_t pl = strlen(dir) + fl + 2;
    x->path = malloc(pl);
    if (!x->file || !x->name || !x->path) {
      snprintf(err, n, "out of memory");
      return -1;
    }
    snprintf(x->path, pl, "%s/%s", dir, f);
  }
  return 0;
}

/* Sorts by version; two files of one version, or none at all, are errors.
 * 0, or -1 with err. */
static int check_versions(const char *dir, migration *m, size_t len, char *err, size_t n) {
  if (len) qsort(m, len, sizeof *m, by_version);
  for (size_t i = 1; i < len; i++)
    if (m[i].version == m[i - 1].version) {
      snprintf(err, n, "%s: %s and %s have the same version %ld", dir, m[i - 1].file, m[i].file, m[i].version);
      return -1;
    }
  if (len == 0) {
    snprintf(err, n, "%s: no migrations (NNN_name.sql) found", dir);
    return -1;
  }
  return 0;
}

/* Lists DIR/NNN_name.sql sorted by version (DIR = BUILTIN: the compiled-in set). Other .sql names and duplicate
 * versions are errors: a misnamed migration would otherwise never run. */
static int scan_migrations(const char *dir, migration **out, size_t *count, char *err, size_t n) {
  if (strcmp(dir, BUILTIN) == 0) return scan_builtin(out, count, err, n);
  DIR *d = opendir(dir);
  if (!d) {
    snprintf(err, n, "migrations folder %s: %s", dir, strerror(errno));
    return -1;
  }
  migration *m = NULL;
  size_t len = 0;
  int rc = list_folder(d, dir, &m, &len, err, n);
  closedir(d);
  if (rc == 0) rc = check_versions(dir, m, len, err, n);
  if (rc) {
    free_migrations(m, len);
    return -1;
  }
  *out = m;
  *count = len;
  return 0;
}

/* SHA-256 of the file, computed by the server (pgcrypto-free since PG 11) so
 * that we need no crypto library; passed as bytea to avoid encoding issues. */
static int checksum(PGconn *conn, migration *m, char *err, size_t n) {
  const char *params[1] = {m->sql};
  int lengths[1] = {(int)strlen(m->sql)}, formats[1] = {1};
  const Oid types[1] = {17 /* bytea */};
  PGresult *res = PQexecParams(conn, "SELECT encode(sha256($1), 'hex')", 1, types, params, lengths, formats, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    char why[512];
    dw_pg_error(conn, res, NULL, why, sizeof why);
    snprintf(err, n, "checksum of %s: %s", m->file, why);
    PQclear(res);
    return -1;
  }
  snprintf(m->checksum, sizeof m->checksum, "%s", PQgetvalue(res, 0, 0));
  PQclear(res);
  return 0;
}

/* Applies one migration and records it, atomically. */
static int apply(PGconn *conn, const migration *m, char *err, size_t n) {
  char why[1024], version[32];
  snprintf(version, sizeof version, "%ld", m->version);
  if (dw_pg_exec(conn, "BEGIN", why, sizeof why)) goto fail;
  if (dw_pg_exec(conn, m->sql, why, sizeof why)) goto fail;
  const char *params[3] = {version, m->name, m->checksum};
  PGresult *res = dw_pg_query(conn,
                              "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                              "VALUES ($1, $2, $3, now())",
                              3, params, why, sizeof why);
  if (!res) {
    snprintf(err, n, "%s ran, but recording it in schema_migrations failed (does 001 create it?): %s", m->path,
             why);
    dw_pg_exec(conn, "ROLLBACK", why, sizeof why);
    return -1;
  }
  PQclear(res);
  if (dw_pg_exec(conn, "COMMIT", why, sizeof why)) goto fail;
  return 0;
fail:
  snprintf(err, n, "%s: %s", m->path, why);
  dw_pg_exec(conn, "ROLLBACK", why, sizeof why);
  return -1;
}

/* Marks migrations already recorded and checks their checksums; reports
 * recorded versions that no longer have a file. */
static int load_applied(PGconn *conn, migration *m, size_t count, char *err, size_t n) {
  char why[512];
  PGresult *res = dw_pg_query(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL, why, sizeof why);
  if (!res) {
    snprintf(err, n, "%s", why);
    return -1;
  }
  int exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
  PQclear(res);
  if (!exists) return 0;
  res = dw_pg_query(conn, "SELECT version, name, checksum FROM schema_migrations ORDER BY version", 0, NULL, why,
                    sizeof why);
  if (!res) {
    snprintf(err, n, "reading schema_migrations: %s", why);
    return -1;
  }
  int rc = 0;
  for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
    long version = strtol(PQgetvalue(res, r, 0), NULL, 10);
    const char *sum = PQgetvalue(res, r, 2);
    migration *found = NULL;
    for (size_t i = 0; i < count; i++)
      if (m[i].version == version) found = &m[i];
    if (!found) {
      DW_LOG_WARNING("version %ld (%s) is applied but has no file", version,
              PQgetvalue(res, r, 1));
      continue;
    }
    found->applied = 1;
    if (strcmp(found->checksum, sum) != 0) {
      snprintf(err, n,
               "%s was changed after it was applied (checksum %.12s..., applied %.12s...): "
               "never edit an applied migration, add a new one",
               found->path, found->checksum, sum);
      rc = -1;
    }
  }
  PQclear(res);
  return rc;
}

/* --wait in range, and a connection string libpq can parse (checked here
 * so that a typo is bad usage, not a connection failure). 0, or -1 after
 * logging the reason. */
static int check_target(int64_t wait_s, const char *conninfo) {
  if (wait_s < 0 || wait_s > 3600) {
    DW_LOG_ERR("--wait: %lld is not a number of seconds 0..3600", (long long)wait_s);
    return -1;
  }
  if (!conninfo || !*conninfo) {
    DW_LOG_ERR("no database: give --db CONNINFO, db.conninfo or DW_DB");
    return -1;
  }
  char *why = NULL;
  PQconninfoOption *parsed = PQconninfoParse(conninfo, &why);
  if (!parsed) {
    for (size_t l = why ? strlen(why) : 0; l && why[l - 1] == '\n'; l--) why[l - 1] = 0;
    DW_LOG_ERR("bad connection string '%s': %s", conninfo, why ? why : "out of memory");
    PQfreemem(why);
    return -1;
  }
  PQconninfoFree(parsed);
  return 0;
}

/* The migrations of dir with their SQL, before touching the database: a
 * bad set changes nothing. 0, or -1 with err (*m, *count still to free). */
static int load_migrations(const char *dir, migration **m, size_t *count, char *err, size_t n) {
  if (scan_migrations(dir, m, count, err, n)) return -1;
  for (size_t i = 0; i < *count; i++)
    if (!(*m)[i].sql && !((*m)[i].sql = dw_read_text_file((*m)[i].path, NULL, err, n))) return -1;
  return 0;
}

/* Connects (retrying for wait_s while the server starts) and takes the
 * advisory lock. NULL with err. */
static PGconn *connect_locked(const char *conninfo, int64_t wait_s, char *err, size_t n) {
  PGconn *conn = dw_pg_connect(conninfo, (int)wait_s, err, n);
  if (!conn) return NULL;
  /* Keep NOTICEs ("relation already exists, skipping") off stderr; the lock
   * is held until the connection closes. */
  if (dw_pg_exec(conn, "SET client_min_messages = warning", err, n) ||
      dw_pg_exec(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err, n)) {
    PQfinish(conn);
    return NULL;
  }
  return conn;
}

/* Checksums every file and marks those applied (refusing changed ones).
 * 0, or -1 with err. */
static int compare_applied(PGconn *conn, migration *m, size_t count, char *err, size_t n) {
  for (size_t i = 0; i < count; i++)
    if (checksum(conn, &m[i], err, n)) return -1;
  return load_applied(conn, m, count, err, n);
}

/* Applies, in order, those not applied yet; stops at the first failure
 * (later ones may depend on it). Prints one line each and the summary. 0,
 * or -1 after logging the reason. */
static int apply_pending(PGconn *conn, const migration *m, size_t count) {
  char err[2048];
  size_t applied = 0, skipped = 0;
  for (size_t i = 0; i < count; i++) {
    if (m[i].applied) {
      skipped++;
      continue;
    }
    if (apply(conn, &m[i], err, sizeof err)) {
      DW_LOG_ERR("%s", err);
      DW_LOG_ERR("stopped: %zu applied in this run, %s and later not applied", applied, m[i].file);
      return -1;
    }
    printf("applied %s\n", m[i].file);
    fflush(stdout);
    applied++;
  }
  if (applied)
    printf("migrate: %zu applied, %zu already applied, schema at version %ld\n", applied, skipped,
           m[count - 1].version);
  else
    printf("migrate: nothing to apply, %zu already applied, schema at version %ld\n", skipped,
           m[count - 1].version);
  return 0;
}

/* Everything after the options. The exit code. */
static int migrate(const dw_config *cfg, const char *dir, int64_t wait_s) {
  const char *conninfo = dw_config_get(cfg, "db.conninfo");
  if (check_target(wait_s, conninfo)) return DW_EXIT_USAGE;
  if (!dir) dir = getenv("DW_MIGRATIONS_DIR");
  if (!dir || !*dir) dir = BUILTIN;
  migration *m = NULL;
  size_t count = 0;
  PGconn *conn = NULL;
  char err[2048];
  int rc = DW_EXIT_FAIL;
  if (load_migrations(dir, &m, &count, err, sizeof err) ||
      !(conn = connect_locked(conninfo, wait_s, err, sizeof err)) || compare_applied(conn, m, count, err, sizeof err))
    DW_LOG_ERR("%s", err);
  else if (apply_pending(conn, m, count) == 0)
    rc = DW_EXIT_OK;
  if (conn) PQfinish(conn); /* ends the session: releases the advisory lock */
  free_migrations(m, count);
  return rc;
}

int dw_cmd_migrate(int argc, char **argv) {
  const char *dir = NULL;
  int64_t wait_s = 10;
  const dw_opt opts[] = {
    {"migrations", DW_OPT_STR, &dir, "DIR", "folder of migrations (default: $DW_MIGRATIONS_DIR, else built in)", NULL},
    {"wait", DW_OPT_INT, &wait_s, "SECONDS", "keep retrying while the server is starting, 0..3600 (default 10)", NULL},
    {0},
  };
  const dw_command_spec spec = {CMD, "[--db CONNINFO] [--migrations DIR] [--wait SECONDS]", description, opts, 0, 0,
                                DW_CLI_DB, epilog};
  dw_cli *cli = dw_cli_new();
  if (!cli) {
    DW_LOG_ERR("out of memory");
    return DW_EXIT_FAIL;
  }
  int rc = dw_cli_run(cli, &spec, argc, argv, NULL, NULL);
  if (rc < 0) rc = migrate(dw_cli_config(cli), dir, wait_s);
  dw_cli_destroy(cli);
  return rc;
}
