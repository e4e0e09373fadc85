-- 002_archive: the archive of every accepted dossier event (watch), partitioned
-- by month of occurred_at so that replay/export by time range and retention
-- (DROP a month) stay cheap. A unique event_id on a partitioned table would
-- have to include the partition key, so deduplication uses the unpartitioned
-- dossier_event_ids: watch inserts there first (ON CONFLICT DO NOTHING
-- RETURNING) and archives only the ids that came back.

CREATE TABLE dossier_event_ids (
  event_id    text PRIMARY KEY,
  first_seen  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dossier_events (
  event_id        text        NOT NULL,
  dossier_id      text        NOT NULL,
  type            text        NOT NULL,
  occurred_at     timestamptz NOT NULL,
  commune         text        NOT NULL,
  agency          text        NOT NULL,
  procedure       text        NOT NULL,
  payload         jsonb       NOT NULL, -- the JSON Lines form (CONTRACT §2)
  avro            bytea,                -- the original Kafka value (single-object Avro)
  kafka_partition integer,
  kafka_offset    bigint,
  archived_at     timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (occurred_at);

-- Indexes on the parent are created on every partition.
CREATE INDEX dossier_events_dossier_idx ON dossier_events (dossier_id, occurred_at);
CREATE INDEX dossier_events_occurred_idx ON dossier_events (occurred_at);
CREATE INDEX dossier_events_commune_idx ON dossier_events (commune, occurred_at);

-- Monthly partitions 2024-01 .. 2027-12 (bounds in local time, +07:00);
-- anything outside lands in the DEFAULT partition rather than failing.
CREATE TABLE dossier_events_2024_01 PARTITION OF dossier_events FOR VALUES FROM ('2024-01-01 00:00:00+07') TO ('2024-02-01 00:00:00+07');
CREATE TABLE dossier_events_2024_02 PARTITION OF dossier_events FOR VALUES FROM ('2024-02-01 00:00:00+07') TO ('2024-03-01 00:00:00+07');
CREATE TABLE dossier_events_2024_03 PARTITION OF dossier_events FOR VALUES FROM ('2024-03-01 00:00:00+07') TO ('2024-04-01 00:00:00+07');
CREATE TABLE dossier_events_2024_04 PARTITION OF dossier_events FOR VALUES FROM ('2024-04-01 00:00:00+07') TO ('2024-05-01 00:00:00+07');
CREATE TABLE dossier_events_2024_05 PARTITION OF dossier_events FOR VALUES FROM ('2024-05-01 00:00:00+07') TO ('2024-06-01 00:00:00+07');
CREATE TABLE dossier_events_2024_06 PARTITION OF dossier_events FOR VALUES FROM ('2024-06-01 00:00:00+07') TO ('2024-07-01 00:00:00+07');
CREATE TABLE dossier_events_2024_07 PARTITION OF dossier_events FOR VALUES FROM ('2024-07-01 00:00:00+07') TO ('2024-08-01 00:00:00+07');
CREATE TABLE dossier_events_2024_08 PARTITION OF dossier_events FOR VALUES FROM ('2024-08-01 00:00:00+07') TO ('2024-09-01 00:00:00+07');
CREATE TABLE dossier_events_2024_09 PARTITION OF dossier_events FOR VALUES FROM ('2024-09-01 00:00:00+07') TO ('2024-10-01 00:00:00+07');
CREATE TABLE dossier_events_2024_10 PARTITION OF dossier_events FOR VALUES FROM ('2024-10-01 00:00:00+07') TO ('2024-11-01 00:00:00+07');
CREATE TABLE dossier_events_2024_11 PARTITION OF dossier_events FOR VALUES FROM ('2024-11-01 00:00:00+07') TO ('2024-12-01 00:00:00+07');
CREATE TABLE dossier_events_2024_12 PARTITION OF dossier_events FOR VALUES FROM ('2024-12-01 00:00:00+07') TO ('2025-01-01 00:00:00+07');
CREATE TABLE dossier_events_2025_01 PARTITION OF dossier_events FOR VALUES FROM ('2025-01-01 00:00:00+07') TO ('2025-02-01 00:00:00+07');
CREATE TABLE dossier_events_2025_02 PARTITION OF dossier_events FOR VALUES FROM ('2025-02-01 00:00:00+07') TO ('2025-03-01 00:00:00+07');
CREATE TABLE dossier_events_2025_03 PARTITION OF dossier_events FOR VALUES FROM ('2025-03-01 00:00:00+07') TO ('2025-04-01 00:00:00+07');
CREATE TABLE dossier_events_2025_04 PARTITION OF dossier_events FOR VALUES FROM ('2025-04-01 00:00:00+07') TO ('2025-05-01 00:00:00+07');
CREATE TABLE dossier_events_2025_05 PARTITION OF dossier_events FOR VALUES FROM ('2025-05-01 00:00:00+07') TO ('2025-06-01 00:00:00+07');
CREATE TABLE dossier_events_2025_06 PARTITION OF dossier_events FOR VALUES FROM ('2025-06-01 00:00:00+07') TO ('2025-07-01 00:00:00+07');
CREATE TABLE dossier_events_2025_07 PARTITION OF dossier_events FOR VALUES FROM ('2025-07-01 00:00:00+07') TO ('2025-08-01 00:00:00+07');
CREATE TABLE dossier_events_2025_08 PARTITION OF dossier_events FOR VALUES FROM ('2025-08-01 00:00:00+07') TO ('2025-09-01 00:00:00+07');
CREATE TABLE dossier_events_2025_09 PARTITION OF dossier_events FOR VALUES FROM ('2025-09-01 00:00:00+07') TO ('2025-10-01 00:00:00+07');
CREATE TABLE dossier_events_2025_10 PARTITION OF dossier_events FOR VALUES FROM ('2025-10-01 00:00:00+07') TO ('2025-11-01 00:00:00+07');
CREATE TABLE dossier_events_2025_11 PARTITION OF dossier_events FOR VALUES FROM ('2025-11-01 00:00:00+07') TO ('2025-12-01 00:00:00+07');
CREATE TABLE dossier_events_2025_12 PARTITION OF dossier_events FOR VALUES FROM ('2025-12-01 00:00:00+07') TO ('2026-01-01 00:00:00+07');
CREATE TABLE dossier_events_2026_01 PARTITION OF dossier_events FOR VALUES FROM ('2026-01-01 00:00:00+07') TO ('2026-02-01 00:00:00+07');
CREATE TABLE dossier_events_2026_02 PARTITION OF dossier_events FOR VALUES FROM ('2026-02-01 00:00:00+07') TO ('2026-03-01 00:00:00+07');
CREATE TABLE dossier_events_2026_03 PARTITION OF dossier_events FOR VALUES FROM ('2026-03-01 00:00:00+07') TO ('2026-04-01 00:00:00+07');
CREATE TABLE dossier_events_2026_04 PARTITION OF dossier_events FOR VALUES FROM ('2026-04-01 00:00:00+07') TO ('2026-05-01 00:00:00+07');
CREATE TABLE dossier_events_2026_05 PARTITION OF dossier_events FOR VALUES FROM ('2026-05-01 00:00:00+07') TO ('2026-06-01 00:00:00+07');
CREATE TABLE dossier_events_2026_06 PARTITION OF dossier_events FOR VALUES FROM ('2026-06-01 00:00:00+07') TO ('2026-07-01 00:00:00+07');
CREATE TABLE dossier_events_2026_07 PARTITION OF dossier_events FOR VALUES FROM ('2026-07-01 00:00:00+07') TO ('2026-08-01 00:00:00+07');
CREATE TABLE dossier_events_2026_08 PARTITION OF dossier_events FOR VALUES FROM ('2026-08-01 00:00:00+07') TO ('2026-09-01 00:00:00+07');
CREATE TABLE dossier_events_2026_09 PARTITION OF dossier_events FOR VALUES FROM ('2026-09-01 00:00:00+07') TO ('2026-10-01 00:00:00+07');
CREATE TABLE dossier_events_2026_10 PARTITION OF dossier_events FOR VALUES FROM ('2026-10-01 00:00:00+07') TO ('2026-11-01 00:00:00+07');
CREATE TABLE dossier_events_2026_11 PARTITION OF dossier_events FOR VALUES FROM ('2026-11-01 00:00:00+07') TO ('2026-12-01 00:00:00+07');
CREATE TABLE dossier_events_2026_12 PARTITION OF dossier_events FOR VALUES FROM ('2026-12-01 00:00:00+07') TO ('2027-01-01 00:00:00+07');
CREATE TABLE dossier_events_2027_01 PARTITION OF dossier_events FOR VALUES FROM ('2027-01-01 00:00:00+07') TO ('2027-02-01 00:00:00+07');
CREATE TABLE dossier_events_2027_02 PARTITION OF dossier_events FOR VALUES FROM ('2027-02-01 00:00:00+07') TO ('2027-03-01 00:00:00+07');
CREATE TABLE dossier_events_2027_03 PARTITION OF dossier_events FOR VALUES FROM ('2027-03-01 00:00:00+07') TO ('2027-04-01 00:00:00+07');
CREATE TABLE dossier_events_2027_04 PARTITION OF dossier_events FOR VALUES FROM ('2027-04-01 00:00:00+07') TO ('2027-05-01 00:00:00+07');
CREATE TABLE dossier_events_2027_05 PARTITION OF dossier_events FOR VALUES FROM ('2027-05-01 00:00:00+07') TO ('2027-06-01 00:00:00+07');
CREATE TABLE dossier_events_2027_06 PARTITION OF dossier_events FOR VALUES FROM ('2027-06-01 00:00:00+07') TO ('2027-07-01 00:00:00+07');
CREATE TABLE dossier_events_2027_07 PARTITION OF dossier_events FOR VALUES FROM ('2027-07-01 00:00:00+07') TO ('2027-08-01 00:00:00+07');
CREATE TABLE dossier_events_2027_08 PARTITION OF dossier_events FOR VALUES FROM ('2027-08-01 00:00:00+07') TO ('2027-09-01 00:00:00+07');
CREATE TABLE dossier_events_2027_09 PARTITION OF dossier_events FOR VALUES FROM ('2027-09-01 00:00:00+07') TO ('2027-10-01 00:00:00+07');
CREATE TABLE dossier_events_2027_10 PARTITION OF dossier_events FOR VALUES FROM ('2027-10-01 00:00:00+07') TO ('2027-11-01 00:00:00+07');
CREATE TABLE dossier_events_2027_11 PARTITION OF dossier_events FOR VALUES FROM ('2027-11-01 00:00:00+07') TO ('2027-12-01 00:00:00+07');
CREATE TABLE dossier_events_2027_12 PARTITION OF dossier_events FOR VALUES FROM ('2027-12-01 00:00:00+07') TO ('2028-01-01 00:00:00+07');
CREATE TABLE dossier_events_default PARTITION OF dossier_events DEFAULT;
