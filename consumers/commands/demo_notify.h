/* demo_notify: the demo's notify part, kept apart from demo.c (which serve's
 * helper also edits): a routes file with a route and a daily digest per
 * commune chairman of the seed-letter preset and the provincial office (root
 * route, escalation of OVERDUE after 2 working days, a province digest), the
 * SMTP test server (deploy/smtp-sink.py, compiled in), notify on the wall
 * clock with --digest-now, and the first digest it sent, printed. */
#ifndef DEMO_NOTIFY_H
#define DEMO_NOTIFY_H

#include <libpq-fe.h>
#include <sys/types.h>

typedef struct demo_notify {
  pid_t smtp, notify;
  char dir[300];
} demo_notify;

/* Starts the SMTP sink and notify (self: this binary; dir: the demo's
 * folder; conf: the demo's config file; external_url: serve's address, the
 * mails' dashboard links). 0, or -1 (reason logged). */
int demo_notify_start(demo_notify *dn, const char *self, const char *dir, const char *conf, const char *conninfo,
                      const char *external_url);
/* Waits (up to a minute) for the first digest sent and prints it with how
 * many messages the SMTP server received. */
void demo_notify_report(demo_notify *dn, PGconn *conn);
void demo_notify_stop(demo_notify *dn);

#endif
