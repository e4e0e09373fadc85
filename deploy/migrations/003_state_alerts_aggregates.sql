-- 003_state_alerts_aggregates: what `watch` keeps in PostgreSQL besides the
-- archive. Every table here is written in the same transaction as the Kafka
-- offsets (kafka_offsets), which is what makes watch exactly-once towards
-- PostgreSQL: after a crash, state, alerts, aggregates and offsets are all
-- from the same last committed batch.

-- Engine state of each dossier in memory (opaque, versioned blob from
-- dw_engine_drain_dirty), with the Kafka partition its events come from so
-- that a consumer loads only the dossiers of the partitions it is assigned.
CREATE TABLE dossier_state (
  dossier_id      text        PRIMARY KEY,
  kafka_partition integer     NOT NULL,
  state           bytea       NOT NULL,
  open            boolean,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dossier_state_partition_idx ON dossier_state (kafka_partition);

-- Alerts (CONTRACT §4): one row per alert, updated in place when it changes
-- or clears. version/published_version are the outbox for the Kafka topic
-- dossier.alerts: a row is (re)published while version > published_version.
CREATE TABLE alerts (
  alert_id          text        PRIMARY KEY,
  rule              text        NOT NULL,
  dossier_id        text        NOT NULL,
  commune           text        NOT NULL,
  agency            text        NOT NULL,
  procedure         text        NOT NULL,
  severity          text        NOT NULL CHECK (severity IN ('warning', 'critical')),
  raised_at         timestamptz NOT NULL,
  due_at            timestamptz,
  cleared_at        timestamptz,
  detail            text        NOT NULL DEFAULT '',
  updated_at        timestamptz NOT NULL DEFAULT now(),
  version           bigint      NOT NULL DEFAULT 1,
  published_version bigint      NOT NULL DEFAULT 0
);
CREATE INDEX alerts_open_agency_idx ON alerts (agency, severity) WHERE cleared_at IS NULL;
CREATE INDEX alerts_open_overdue_commune_idx ON alerts (commune) WHERE cleared_at IS NULL AND rule = 'OVERDUE';
CREATE INDEX alerts_dossier_idx ON alerts (dossier_id);
CREATE INDEX alerts_unpublished_idx ON alerts (alert_id) WHERE version > published_version;

-- Compliance aggregates (CONTRACT §5): additive counters per unit x period
-- (day, month, quarter, year; rolling30 is derived from day rows in
-- v_rolling30). watch adds deltas (col = aggregates.col + EXCLUDED.col).
-- The open_overdue gauge is not stored: views count open OVERDUE alerts.
CREATE TABLE aggregates (
  unit_type                     text   NOT NULL CHECK (unit_type IN ('commune', 'agency', 'procedure', 'province')),
  unit                          text   NOT NULL,
  period_kind                   text   NOT NULL CHECK (period_kind IN ('day', 'month', 'quarter', 'year')),
  period                        text   NOT NULL,
  received                      bigint NOT NULL DEFAULT 0,
  online                        bigint NOT NULL DEFAULT 0,
  online_full                   bigint NOT NULL DEFAULT 0,
  intake_digitized              bigint NOT NULL DEFAULT 0,
  reused_docs                   bigint NOT NULL DEFAULT 0,
  dossiers_with_reuse           bigint NOT NULL DEFAULT 0,
  paper_requests_from_warehouse bigint NOT NULL DEFAULT 0,
  results_issued                bigint NOT NULL DEFAULT 0,
  results_digitized             bigint NOT NULL DEFAULT 0,
  on_time                       bigint NOT NULL DEFAULT 0,
  late                          bigint NOT NULL DEFAULT 0,
  apologies                     bigint NOT NULL DEFAULT 0,
  paid                          bigint NOT NULL DEFAULT 0,
  paid_online                   bigint NOT NULL DEFAULT 0,
  ratings                       bigint NOT NULL DEFAULT 0,
  rating_sum                    bigint NOT NULL DEFAULT 0,
  updated_at                    timestamptz NOT NULL DEFAULT now(),
  version                       bigint NOT NULL DEFAULT 1,
  published_version             bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (unit_type, unit, period_kind, period)
);
-- Dashboards read "all communes for this period" (current month/quarter,
-- day rows for rolling30).
CREATE INDEX aggregates_period_idx ON aggregates (period_kind, period, unit_type);
CREATE INDEX aggregates_unpublished_idx ON aggregates (unit_type) WHERE version > published_version;

-- Kafka offsets of watch, committed with the data (enable.auto.commit is
-- off; Kafka's own group offsets are not used). watermark_ms is the engine
-- clock at that commit (used by --clock watermark after a restart).
CREATE TABLE kafka_offsets (
  consumer_group  text        NOT NULL,
  topic           text        NOT NULL,
  kafka_partition integer     NOT NULL,
  next_offset     bigint      NOT NULL,
  watermark_ms    bigint,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_group, topic, kafka_partition)
);

-- Messages watch could not read (sent to dossier.events.dlq) or could not
-- apply, one row each, keyed by their Kafka position so a retried batch
-- counts them once.
CREATE TABLE dlq_messages (
  topic           text        NOT NULL,
  kafka_partition integer     NOT NULL,
  kafka_offset    bigint      NOT NULL,
  stage           text        NOT NULL, -- 'decode' (not an event) or 'apply' (engine refused it)
  error           text        NOT NULL,
  msg_key         bytea,
  rejected_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (topic, kafka_partition, kafka_offset)
);
