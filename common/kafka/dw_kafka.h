/* dw_kafka: librdkafka configuration from dw_config ("kafka.*" keys pass
 * straight through), shared by every producer and consumer. */
#ifndef DW_KAFKA_H
#define DW_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "dw_config.h"

/* A new rd_kafka_conf_t with every kafka.* key applied. Fails (NULL, reason
 * in errstr) when kafka.bootstrap.servers is missing or librdkafka rejects a
 * property. */
rd_kafka_conf_t *dw_kafka_conf_new(const dw_config *cfg, char *errstr, size_t errstr_size);

#endif
