/* fuzz_event_check: what the fuzz targets require of every event a parser
 * accepts - usable by the engine as is: every string field NUL-terminated,
 * the enums inside their tables. Shared by fuzz_decode and fuzz_dvcqg. */
#ifndef FUZZ_EVENT_CHECK_H
#define FUZZ_EVENT_CHECK_H

#include <stdlib.h>
#include <string.h>

#include "dw_event.h"

static void fuzz_check_event(const dw_event *ev) {
  if (!memchr(ev->event_id, 0, sizeof ev->event_id) || !memchr(ev->dossier_id, 0, sizeof ev->dossier_id) ||
      !memchr(ev->commune, 0, sizeof ev->commune) || !memchr(ev->agency, 0, sizeof ev->agency) ||
      !memchr(ev->procedure, 0, sizeof ev->procedure) || !memchr(ev->document, 0, sizeof ev->document) ||
      !memchr(ev->to_agency, 0, sizeof ev->to_agency) || !memchr(ev->reason, 0, sizeof ev->reason))
    abort(); /* a string field without its NUL */
  if ((int)ev->type < 0 || ev->type >= DW_EV__COUNT)
    abort();
  if ((int)ev->channel < DW_CH_NONE || ev->channel >= DW_CH__COUNT)
    abort();
  /* touch the names: a bad enum would index out of their tables */
  volatile size_t n = strlen(dw_event_type_name(ev->type));
  (void)n;
}

#endif
