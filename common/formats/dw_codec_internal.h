/* dw_codec_internal: what dw_codec_avro.c shares with dw_avro_file.c and
 * nothing else may use (a writer-schema entry: its resolved reader and the
 * mapping of its values to dw_event). */
#ifndef DW_CODEC_INTERNAL_H
#define DW_CODEC_INTERNAL_H

#include <avro.h>
#include <stddef.h>

#include "dw_codec.h"

typedef struct dw_avro_wentry dw_avro_wentry;
dw_avro_wentry *dw_avro__wentry_new(dw_avro *av, avro_schema_t ws, char *err, size_t n);
void dw_avro__wentry_free(dw_avro_wentry *e);
avro_value_t *dw_avro__wentry_value(dw_avro_wentry *e);
int dw_avro__wentry_to_event(dw_avro_wentry *e, dw_event *ev, char *err, size_t n);
int dw_avro__fill_event(dw_avro *av, const dw_event *ev, avro_value_t **out, char *err, size_t n);
avro_schema_t dw_avro__event_schema(dw_avro *av);
/* Tests: single-object decoding the generic way (the bounded walk, avro-c's
 * generic value, its resolved reader), which the resolved decoder (plan)
 * must equal byte for byte; whether a writer schema got a plan (-1: not
 * known); every message the generic way from now on (on = 1). */
int dw_avro__decode_event_generic(dw_avro *av, const void *buf, size_t len, dw_event *ev, char *errstr,
                                  size_t errstr_size);
int dw_avro__writer_has_plan(dw_avro *av, uint64_t fingerprint);
void dw_avro__set_generic_only(dw_avro *av, int on);

#endif
