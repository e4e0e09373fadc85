/* dw_config_keys: every configuration key dossierwatch knows, with its type,
 * default and meaning. "kafka.*" keys are not listed: they go to librdkafka. */
#include "dw_config.h"

const dw_config_key dw_config_keys[] = {
  {"log.level", DW_CONF_STRING, NULL, 0, 0, "error, warn, info or debug (default info; fallback: DW_LOG_LEVEL)"},
  {"db.conninfo", DW_CONF_STRING, NULL, 0, 0, "libpq connection string (fallback: DW_DB)"},

  {"topic.events", DW_CONF_STRING, "dossier.events", 0, 0, "topic of dossier events"},
  {"topic.dlq", DW_CONF_STRING, "dossier.events.dlq", 0, 0, "dead-letter topic for unreadable events"},
  {"topic.alerts", DW_CONF_STRING, "dossier.alerts", 0, 0, "topic of alerts"},
  {"topic.aggregates", DW_CONF_STRING, "compliance.aggregates", 0, 0, "compacted topic of aggregates"},

  {"broker.brokers", DW_CONF_INT, "3", 1, 16, "embedded broker: number of mock brokers"},
  {"broker.partitions", DW_CONF_INT, "6", 1, 256, "embedded broker: partitions per topic"},

  {"calendar.dir", DW_CONF_STRING, NULL, 0, 0, "folder of vn-YYYY.txt calendars (default: deploy/calendars)"},
  {"calendar.utc_offset_min", DW_CONF_INT, "420", -720, 840, "local time offset from UTC in minutes (Asia/Ho_Chi_Minh: 420)"},
  {"calendar.hours", DW_CONF_STRING, "07:30-11:30,13:30-17:00", 0, 0, "office hours of a working day"},

  {"rules.due_soon_days", DW_CONF_DOUBLE, "1", 0, 30, "DUE_SOON window, working days before due"},
  {"rules.intake_digitize_days", DW_CONF_DOUBLE, "1", 0, 30, "INTAKE_NOT_DIGITIZED after this many working days"},
  {"rules.result_digitize_days", DW_CONF_DOUBLE, "1", 0, 30, "RESULT_NOT_DIGITIZED after this many working days"},
  {"rules.closed_grace_days", DW_CONF_INT, "30", 0, 3650, "calendar days a closed, unreturned dossier stays in memory"},

  {"watch.batch_max", DW_CONF_INT, "20000", 1, 1000000, "events per PostgreSQL transaction at most"},
  {"watch.batch_ms", DW_CONF_INT, "200", 1, 60000, "longest wait before a batch commits"},
  {"watch.idle_tx_timeout_ms", DW_CONF_INT, "10000", 1000, 3600000, "watch: the server ends a transaction of watch idle this long (idle_in_transaction_session_timeout): a stalled watch must not hold the outbox clock's row lock that every other watch's commit waits on"},
  {"watch.clock", DW_CONF_STRING, "wall", 0, 0, "clock for time rules in watch: wall or watermark"},
  {"watch.reorder_max", DW_CONF_INT, "0", 0, 100000000, "watch --clock watermark: messages held for the watermark before every partition but the slowest is paused (0: 8 x watch.batch_max, at least 20000)"},
  {"replay.alerts_in_memory", DW_CONF_INT, "200000", 1, 1000000000, "replay: alert versions a job holds before it moves those of dossiers that left memory to a temp file in TMPDIR (~180 B each in memory)"},
  {"audit.sort_memory_mb", DW_CONF_INT, "256", 1, 1048576, "audit: MiB of the events read (~140 B each) sorted in memory; past it sorted runs go to a temp file in TMPDIR"},
  {"audit.alerts_in_memory", DW_CONF_INT, "1000000", 1, 1000000000, "audit: alert versions held (~180 B each) before all of them move to a temp file in TMPDIR (the latest version of each is read back)"},
  {"aggregates.publish_interval_ms", DW_CONF_INT, "5000", 100, 3600000, "how often changed aggregates go to Kafka"},

  {"watch.http_listen", DW_CONF_STRING, NULL, 0, 0, "watch --http: address of /metrics, /healthz, /readyz (e.g. 127.0.0.1:9464; unset: none)"},
  {"watch.ready_max_lag", DW_CONF_INT, "100000", 0, 1000000000000, "/readyz of watch: 503 when a partition lags more messages than this"},

  {"http.listen", DW_CONF_STRING, "127.0.0.1:8080", 0, 0, "serve: HOST:PORT to listen on ([::1]:8080 for IPv6; port 0: any free port)"},
  {"http.units", DW_CONF_STRING, NULL, 0, 0, "serve: units file for names: a built-in (seed-letter, generated) or a path to a .csv (code,name,type,parent)"},
  {"http.db_role", DW_CONF_STRING, "dossierwatch_serve", 0, 0, "serve: PostgreSQL role every query runs as (SET ROLE when the login role is not it); must be scoped by migration 008's policies"},
  {"http.db_pool", DW_CONF_INT, "8", 1, 256, "serve: PostgreSQL connections at most"},
  {"http.cache_entries", DW_CONF_INT, "64", 0, 100000, "serve: aggregates and ranking replies kept while their data is unchanged (0: none)"},
  {"http.cache_max_age_ms", DW_CONF_INT, "5000", 0, 3600000, "serve: a kept reply is rendered again after this long even if the data version is the same"},
  {"http.statement_timeout_ms", DW_CONF_INT, "5000", 100, 600000, "serve: longest query, and longest wait for a pooled connection"},
  {"http.max_connections", DW_CONF_INT, "256", 1, 10000, "serve: HTTP connections at once"},
  {"http.dvcqg_units", DW_CONF_STRING, NULL, 0, 0, "serve: the portal's unit keys file (key,commune,agency) of POST /api/dvcqg/DongBoHoSoMC; unset: that route answers 501"},
  {"http.ingest_max_bytes", DW_CONF_INT, "1048576", 1024, 268435456, "serve: largest request body of the dvcqg ingest route (413 above)"},

  {"notify.routes", DW_CONF_STRING, NULL, 0, 0, "notify: the routes file (YAML: receivers, route, inhibit_rules, ...)"},
  {"notify.group", DW_CONF_STRING, "default", 0, 0, "notify: group of receivers (its cursor, lock and state; one active process each)"},
  {"notify.clock", DW_CONF_STRING, "wall", 0, 0, "notify: wall, watermark (watch's event-time clock) or file:PATH (a test clock)"},
  {"notify.poll_ms", DW_CONF_INT, "1000", 10, 600000, "notify: how often it reads the outbox and ticks"},
  {"notify.lock_retry_ms", DW_CONF_INT, "1000", 10, 600000, "notify: how often a standby tries the group's lock"},
  {"notify.retry_initial_ms", DW_CONF_INT, "1000", 1, 3600000, "notify: first wait before a failed message is sent again (doubles)"},
  {"notify.retry_max_ms", DW_CONF_INT, "300000", 1, 86400000, "notify: longest wait between attempts"},
  {"notify.stats_interval_ms", DW_CONF_INT, "60000", 100, 86400000, "notify: how often the stats line is logged"},
  {"notify.http_listen", DW_CONF_STRING, NULL, 0, 0, "notify: serve /metrics, /healthz, /readyz on HOST:PORT (builds with the HTTP server)"},
  {"notify.metrics_file", DW_CONF_STRING, NULL, 0, 0, "notify: write the Prometheus metrics text here every round"},

  {"score.timeliness.max", DW_CONF_DOUBLE, "20", 0, 100, "points for on_time_rate (no threshold)"},
  {"score.result_digitized.max", DW_CONF_DOUBLE, "8", 0, 100, "points for result_digitized_rate"},
  {"score.result_digitized.threshold", DW_CONF_DOUBLE, "80", 0.01, 100, "threshold (%) for full points"},
  {"score.intake_digitized.max", DW_CONF_DOUBLE, "8", 0, 100, "points for intake_digitized_rate"},
  {"score.intake_digitized.threshold", DW_CONF_DOUBLE, "80", 0.01, 100, "threshold (%)"},
  {"score.reuse.max", DW_CONF_DOUBLE, "6", 0, 100, "points for the reuse rate"},
  {"score.reuse.threshold", DW_CONF_DOUBLE, "80", 0.01, 100, "threshold (%)"},
  {"score.online.max", DW_CONF_DOUBLE, "12", 0, 100, "points for online_rate"},
  {"score.online.threshold", DW_CONF_DOUBLE, "50", 0.01, 100, "threshold (%)"},
  {"score.paid_online.max", DW_CONF_DOUBLE, "10", 0, 100, "points for paid_online / paid"},
  {"score.paid_online.threshold", DW_CONF_DOUBLE, "50", 0.01, 100, "threshold (%)"},
  {"score.satisfaction.max", DW_CONF_DOUBLE, "18", 0, 100, "points for rating_avg mapped to 0-100 (x20)"},
  {"score.satisfaction.threshold", DW_CONF_DOUBLE, "90", 0.01, 100, "threshold (%)"},

  {NULL, DW_CONF_STRING, NULL, 0, 0, NULL},
};
