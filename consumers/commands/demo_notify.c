/* demo_notify: notify in the demo (see demo_notify.h). */
#include "demo_notify.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dw_embedded.h"
#include "dw_log.h"

extern const dw_embedded_file dw_embedded_scripts[];
extern const dw_embedded_file dw_embedded_presets[];

static void nap(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static pid_t spawn(char *const argv[], const char *log_path) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  setpgid(0, 0);
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, STDIN_FILENO);
  FILE *log = freopen(log_path, "a", stderr);
  if (log) dup2(fileno(stderr), STDOUT_FILENO);
  execv(argv[0], argv);
  _exit(127);
}

/* The routes file: a chairman per commune of the preset, the office. */
static int write_routes(const char *path, int port, const char *external_url) {
  const dw_embedded_file *f = dw_embedded_find(dw_embedded_presets, "seed-letter.json");
  json_error_t je;
  json_t *root = f ? json_loadb(f->data, f->len, 0, &je) : NULL;
  json_t *communes = root ? json_object_get(root, "communes") : NULL;
  FILE *out = fopen(path, "w");
  if (!out || !communes) {
    if (out) fclose(out);
    json_decref(root);
    return -1;
  }
  fprintf(out,
          "# the demo's routes (dossierwatch demo): a route and a digest per commune chairman, the office\n"
          "global:\n  external_url: %s\n  smtp_from: 'dossierwatch <canhbao@tinh.example.vn>'\n"
          "  smtp_smarthost: 127.0.0.1:%d\n  smtp_require_tls: false\n  dossiers_per_message: 10\n"
          "receivers:\n  - name: provincial-office\n    email_configs:\n      - to: vanphong@tinh.example.vn\n",
          external_url, port);
  size_t i;
  json_t *c;
  json_array_foreach(communes, i, c) {
    const char *code = json_string_value(json_object_get(c, "code"));
    if (code)
      fprintf(out, "  - name: chairman-%s\n    email_configs:\n      - to: chutich.%s@xa.example.vn\n", code, code);
  }
  fprintf(out, "route:\n  receiver: provincial-office\n  group_by: [commune, rule]\n  group_wait: 2s\n"
               "  group_interval: 1m\n  repeat_interval: 1d\n  routes:\n");
  json_array_foreach(communes, i, c) {
    const char *code = json_string_value(json_object_get(c, "code"));
    if (code) fprintf(out, "    - matchers: ['commune=\"%s\"']\n      receiver: chairman-%s\n", code, code);
  }
  fprintf(out, "inhibit_rules:\n  - source_matchers: [rule=OVERDUE]\n    target_matchers: [rule=DUE_SOON]\n"
               "    equal: [dossier_id]\n"
               "escalations:\n  - name: overdue-2-working-days\n    matchers: [rule=OVERDUE]\n    after: 2d\n"
               "    receiver: provincial-office\n    group_by: [commune]\n    office_hours: false\n"
               "digests:\n");
  json_array_foreach(communes, i, c) {
    const char *code = json_string_value(json_object_get(c, "code"));
    if (code)
      fprintf(out, "  - name: daily-%s\n    receiver: chairman-%s\n    at: '07:30'\n    matchers: ['commune=\"%s\"']\n",
              code, code, code);
  }
  fprintf(out, "  - name: daily-province\n    receiver: provincial-office\n    at: '07:30'\n    unit_type: commune\n"
               "unit_names:\n");
  json_array_foreach(communes, i, c) {
    const char *code = json_string_value(json_object_get(c, "code")), *name = json_string_value(json_object_get(c, "name"));
    if (code && name) fprintf(out, "  '%s': '%s'\n", code, name);
  }
  json_decref(root);
  return fclose(out) ? -1 : 0;
}

int demo_notify_start(demo_notify *dn, const char *self, const char *dir, const char *conf, const char *conninfo,
                      const char *external_url) {
  memset(dn, 0, sizeof *dn);
  snprintf(dn->dir, sizeof dn->dir, "%s", dir);
  char script[400], maildir[400], portfile[400], log[400], routes[400], port[32] = "";
  const dw_embedded_file *f = dw_embedded_find(dw_embedded_scripts, "smtp-sink.py");
  snprintf(script, sizeof script, "%s/smtp-sink.py", dir);
  snprintf(maildir, sizeof maildir, "%s/mail", dir);
  snprintf(portfile, sizeof portfile, "%s/smtp.port", dir);
  FILE *out = f ? fopen(script, "w") : NULL;
  if (!out || fwrite(f->data, 1, f->len, out) != f->len || fclose(out)) {
    DW_LOG_ERR("cannot write %s", script);
    return -1;
  }
  snprintf(log, sizeof log, "%s/smtp.log", dir);
  char *smtp_argv[] = {"/usr/bin/python3", script, maildir, portfile, NULL};
  dn->smtp = spawn(smtp_argv, log);
  for (int i = 0; i < 100 && !port[0]; i++) {
    FILE *p = fopen(portfile, "r");
    if (p) {
      if (!fgets(port, sizeof port, p)) port[0] = 0;
      fclose(p);
    }
    if (!port[0]) nap(100);
  }
  if (!port[0]) {
    DW_LOG_ERR("the SMTP test server did not start (see %s; is python3-aiosmtpd installed?)", log);
    return -1;
  }
  snprintf(routes, sizeof routes, "%s/routes.yaml", dir);
  if (write_routes(routes, atoi(port), external_url)) {
    DW_LOG_ERR("cannot write %s", routes);
    return -1;
  }
  snprintf(log, sizeof log, "%s/notify.log", dir);
  char *notify_argv[] = {(char *)self, "notify", "--config", (char *)conf, "--routes", routes, "--db", (char *)conninfo,
                         "--digest-now", NULL};
  dn->notify = spawn(notify_argv, log);
  printf("  notify started: a route and a digest per commune chairman and the provincial office\n"
         "    (routes: %s, SMTP test server on 127.0.0.1:%d keeping mail in %s, log: %s)\n",
         routes, atoi(port), maildir, log);
  return 0;
}

static int count_mail(const char *dir) {
  char maildir[400];
  snprintf(maildir, sizeof maildir, "%s/mail", dir);
  DIR *d = opendir(maildir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (strstr(e->d_name, ".eml") && !strstr(e->d_name, ".tmp")) n++;
  if (d) closedir(d);
  return n;
}

void demo_notify_report(demo_notify *dn, PGconn *conn) {
  PGresult *res = NULL;
  for (int i = 0; i < 600; i++) {
    res = PQexec(conn, "SELECT receiver, subject, text FROM notify_log WHERE what = 'digest' AND status = 'sent'"
                       " ORDER BY id LIMIT 1");
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) break;
    PQclear(res);
    res = NULL;
    nap(100);
  }
  if (!res) {
    printf("\nnotify sent no digest within a minute (see %s/notify.log)\n", dn->dir);
    return;
  }
  printf("\nThe first digest notify sent (to %s), as its plain-text part:\n  Subject: %s\n\n", PQgetvalue(res, 0, 0),
         PQgetvalue(res, 0, 1));
  for (const char *p = PQgetvalue(res, 0, 2); *p; p++)
    if (*p != '\r') putchar(*p);
  PQclear(res);
  nap(3000); /* group_wait: the alert messages of the first round */
  res = PQexec(conn, "SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE what = 'digest'),"
                     " count(*) FILTER (WHERE what = 'alerts') FROM notify_log");
  if (PQresultStatus(res) == PGRES_TUPLES_OK)
    printf("\nnotify: %s messages sent so far (%s digests, %s alert messages); the SMTP test server holds %d\n",
           PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), count_mail(dn->dir));
  PQclear(res);
}

static void stop(pid_t *pid) {
  if (*pid <= 0) return;
  kill(*pid, SIGTERM);
  for (int i = 0; i < 100; i++) {
    if (waitpid(*pid, NULL, WNOHANG) == *pid) {
      *pid = 0;
      return;
    }
    nap(100);
  }
  kill(-*pid, SIGKILL);
  kill(*pid, SIGKILL);
  waitpid(*pid, NULL, 0);
  *pid = 0;
}

void demo_notify_stop(demo_notify *dn) {
  stop(&dn->notify);
  stop(&dn->smtp);
}
