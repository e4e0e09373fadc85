/* dw_dvcqg_write: the writing side of the dvcqg format (`simulate --format
 * dvcqg`): events in, the dossiers' sync records out (see
 * dw_dvcqg_write.c). The dw_format entry points. */
#ifndef DW_DVCQG_WRITE_H
#define DW_DVCQG_WRITE_H

#include <stddef.h>

#include "dw_event.h"

void *dvcqg_create(const char *path, const char *const *props, char *errstr, size_t errstr_size);
int dvcqg_write(void *st, const dw_event *ev, char *errstr, size_t errstr_size);
int dvcqg_finish(void *st, char *errstr, size_t errstr_size);

#endif
