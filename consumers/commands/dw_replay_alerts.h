/* dw_replay_alerts: what one replay job (or audit) keeps of the alerts
 * until the output is written: the latest version of each alert (by
 * alert_id) as a compact record (its strings at their length: ~180 bytes
 * with its index slot,
 * where the driver's collection holds a fixed 690-byte dw_alert and a
 * ~100-byte hash entry), and a spill file for the versions that can no
 * longer change.
 *
 * The job's driver hands every alert change to dw_ralerts_put (its alert
 * sink) instead of collecting it. dw_ralerts_spill moves the alerts whose
 * dossier is settled (it left memory: a dossier that left memory changes no
 * alert) to the spill: a dw_runs, one sorted run per spill on an unlinked
 * temp file. dw_ralerts_each gives every alert of several collections once,
 * in alert_id order (the order in which the alerts table's primary key is
 * built fastest). */
#ifndef DW_REPLAY_ALERTS_H
#define DW_REPLAY_ALERTS_H

#include <stddef.h>
#include <stdint.h>

#include "dw_alert.h"

typedef struct dw_ralerts dw_ralerts;

/* An alert as the compact record held here (its strings at their length,
 * at most DW_RALERTS_REC_MAX bytes; the size returned), and back: also for
 * a caller keeping alerts in another order (audit, through dw_runs). */
#define DW_RALERTS_REC_MAX (64 + DW_ALERT_ID_MAX + 2 * DW_ID_MAX + 2 * DW_CODE_MAX + 256)
size_t dw_ralerts_pack(const dw_alert *a, char *rec);
void dw_ralerts_unpack(const void *rec, dw_alert *a);

dw_ralerts *dw_ralerts_new(void);
void dw_ralerts_destroy(dw_ralerts *r);

/* Keeps a as the latest version of its alert. 0, or -1 when out of memory
 * (nothing changed). */
int dw_ralerts_put(dw_ralerts *r, const dw_alert *a);
/* Alerts held in memory, and moved to the spill so far. */
size_t dw_ralerts_held(const dw_ralerts *r);
uint64_t dw_ralerts_spilled(const dw_ralerts *r);

/* Moves every held alert for which settled(dossier_id) is true to the
 * spill. 0, or -1 with errstr (the spill cannot be written: what it would
 * hold is lost, so the replay must fail; or out of memory). */
int dw_ralerts_spill(dw_ralerts *r, int (*settled)(const char *dossier_id, void *opaque), void *opaque, char *errstr,
                     size_t errstr_size);

/* Moves what each of the n collections holds to its spill (nothing may be
 * put after), then fn for every alert of them once, in alert_id order
 * (bytes): of an alert put again after it was spilled (its dossier made
 * anew), the later version. It may be called again (the same alerts). 0, or -1 with errstr
 * (a spill cannot be written or read back, or out of memory). */
int dw_ralerts_each(dw_ralerts *const *v, int n, void (*fn)(const dw_alert *a, void *opaque), void *opaque,
                    char *errstr, size_t errstr_size);

#endif
