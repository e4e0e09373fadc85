-- 011_archive_blocks: the archive in blocks, about a fifth of its former size
-- (benchmark row (g): 669 bytes on disk per event before, for events whose
-- Avro value is ~103 bytes). Before, every event was a wide row (its fields
-- as columns, its JSON form as jsonb and its Avro value) with two indexes,
-- plus a row and an index in dossier_event_ids for the dedupe. Now:
--
-- * archive_blocks: one row per block of up to 512 events of one watch batch,
--   in (occurred_at, event_id) order; `events` holds per event a record
--   (uvarint ((kafka_partition + 1) << 2 | kind), uvarint length, the event's
--   bytes: kind 0 the Kafka value as it came, single-object Avro; kind 1 JSON
--   Lines text, only for rows converted below that had no Avro value; kind 2
--   no bytes: the place of a duplicate), compressed by
--   TOAST (lz4 where the server has it: ~37 % of the bytes; a block is
--   compressed from 128 bytes on). Replay, export and audit read the blocks
--   whose [first_at, last_at] meets their range, ordered by first_at, and
--   merge them (consumers/sources/dw_archive.c); no per-event sort.
-- * archive_events: per event only what cannot live in a block: the exact
--   dedupe key (event_key = the first 128 bits of SHA-256 of event_id; its
--   primary key is what makes a second event with the same id a duplicate,
--   forever), where the event is (block_id, seq), and what a read of one
--   dossier and row-level security need: dossier_id (indexed), agency and
--   commune (numbers of archive_units, 4 bytes each instead of the text) and
--   the Kafka partition. ~80 bytes of row and ~65 of indexes.
-- * archive_units: the agency and commune codes of archive_events, numbered.
--
-- The existing archive is converted here (dossier_events with its
-- partitions, and dossier_event_ids) in one transaction, then dropped. Ids
-- that are only in dossier_event_ids (their month was dropped) keep their
-- dedupe row, without a block. On this project's machine the conversion took
-- 15.8 s for 1.07 million archived events (~15 s per million; NOTES-h15.md).
--
-- Row-level security (serve, migration 008 of the http branch): if its scope
-- functions exist, the policies it put on dossier_events are re-created on
-- archive_events with the same meaning, and archive_blocks is readable by
-- dossierwatch_serve only for blocks holding an event it may see (at the
-- end of this file).

CREATE TABLE archive_units (
  unit_no integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  code    text NOT NULL UNIQUE
);

-- one nextval per watch batch: its blocks are the next 2048 ids
CREATE SEQUENCE archive_block_id INCREMENT BY 2048;

CREATE TABLE archive_blocks (
  block_id  bigint      NOT NULL PRIMARY KEY,
  first_at  timestamptz NOT NULL, -- occurred_at of the first and last event
  last_at   timestamptz NOT NULL,
  n         integer     NOT NULL, -- events in the block
  events    bytea       NOT NULL
);
-- small blocks (a quiet hour's batches) are compressed too
ALTER TABLE archive_blocks SET (toast_tuple_target = 128);
DO $$
BEGIN
  ALTER TABLE archive_blocks ALTER COLUMN events SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
  RAISE NOTICE 'this server has no lz4: archive blocks are compressed with pglz';
END $$;

CREATE TABLE archive_events (
  event_key       uuid     NOT NULL,
  block_id        bigint,            -- NULL: a dedupe key whose event is no longer archived
  agency          integer,           -- archive_units.unit_no
  commune         integer,           -- archive_units.unit_no
  seq             smallint,          -- position in the block (0-based)
  kafka_partition smallint,
  dossier_id      text COLLATE "C" -- byte order: equality is the same, comparisons are memcmp
);

-- ---- the conversion -------------------------------------------------------

-- uvarint of v >= 0 (up to 2^35: lengths and partitions), inlined by the planner
CREATE FUNCTION pg_temp.dw_uvarint(v bigint) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN v < 128 THEN set_byte('\x00'::bytea, 0, v::int)
    WHEN v < 16384 THEN set_byte(set_byte('\x0000'::bytea, 0, (v & 127)::int | 128), 1, (v >> 7)::int)
    WHEN v < 2097152 THEN set_byte(set_byte(set_byte('\x000000'::bytea, 0, (v & 127)::int | 128), 1,
                                   ((v >> 7) & 127)::int | 128), 2, (v >> 14)::int)
    WHEN v < 268435456 THEN set_byte(set_byte(set_byte(set_byte('\x00000000'::bytea, 0, (v & 127)::int | 128), 1,
                                   ((v >> 7) & 127)::int | 128), 2, ((v >> 14) & 127)::int | 128), 3, (v >> 21)::int)
    ELSE set_byte(set_byte(set_byte(set_byte(set_byte('\x0000000000'::bytea, 0, (v & 127)::int | 128), 1,
                  ((v >> 7) & 127)::int | 128), 2, ((v >> 14) & 127)::int | 128), 3, ((v >> 21) & 127)::int | 128),
                  4, (v >> 28)::int)
  END
$$;

INSERT INTO archive_units (code)
  SELECT code FROM (SELECT agency AS code FROM dossier_events UNION SELECT commune FROM dossier_events) u ORDER BY code;

-- every archived event once (an id is archived once; DISTINCT ON guards),
-- numbered in (occurred_at, event_id) order: block = rn / 512, seq = rn % 512
CREATE TEMP TABLE dw_conv ON COMMIT DROP AS
  SELECT (row_number() OVER (ORDER BY occurred_at, event_id COLLATE "C") - 1) AS rn, e.*
  FROM (SELECT DISTINCT ON (event_id) event_id, dossier_id, occurred_at, commune, agency, kafka_partition,
               CASE WHEN avro IS NULL THEN convert_to(payload::text, 'UTF8') ELSE avro END AS bytes,
               avro IS NULL AS is_json
        FROM dossier_events ORDER BY event_id, archived_at) e;

INSERT INTO archive_blocks (block_id, first_at, last_at, n, events)
  SELECT rn / 512 + 1, min(occurred_at), max(occurred_at), count(*),
         string_agg(pg_temp.dw_uvarint(((coalesce(kafka_partition, -1) + 1)::bigint << 2) | is_json::int)
                    || pg_temp.dw_uvarint(octet_length(bytes)) || bytes, ''::bytea ORDER BY rn)
  FROM dw_conv GROUP BY rn / 512;

INSERT INTO archive_events (event_key, block_id, agency, commune, seq, kafka_partition, dossier_id)
  SELECT encode(substring(sha256(convert_to(c.event_id, 'UTF8')) FROM 1 FOR 16), 'hex')::uuid, c.rn / 512 + 1,
         a.unit_no, m.unit_no, (c.rn % 512)::smallint, c.kafka_partition::smallint, c.dossier_id
  FROM dw_conv c JOIN archive_units a ON a.code = c.agency JOIN archive_units m ON m.code = c.commune;

-- ids seen whose event is no longer archived: still duplicates
INSERT INTO archive_events (event_key)
  SELECT encode(substring(sha256(convert_to(i.event_id, 'UTF8')) FROM 1 FOR 16), 'hex')::uuid
  FROM dossier_event_ids i WHERE NOT EXISTS (SELECT 1 FROM dw_conv c WHERE c.event_id = i.event_id);

SELECT setval('archive_block_id', coalesce((SELECT max(block_id) FROM archive_blocks), 0) + 1, false);

-- indexes after the load (sorted builds)
ALTER TABLE archive_events ADD CONSTRAINT archive_events_pkey PRIMARY KEY (event_key);
CREATE INDEX archive_events_dossier_idx ON archive_events (dossier_id);
CREATE INDEX archive_blocks_first_at_idx ON archive_blocks (first_at, block_id);

DROP TABLE dossier_events;
DROP TABLE dossier_event_ids;

-- For people and tests: the per-event rows with their unit codes. The events
-- themselves are in the blocks: `dossierwatch export` (--dossier ID for one).
CREATE VIEW v_archive_events AS
  SELECT e.event_key, e.dossier_id, a.code AS agency, c.code AS commune, e.kafka_partition, e.block_id, e.seq
  FROM archive_events e
  LEFT JOIN archive_units a ON a.unit_no = e.agency
  LEFT JOIN archive_units c ON c.unit_no = e.commune;

-- ---- row-level security of serve (migration 008 of the http branch) --------
-- Only where its scope functions exist: the same rule as its policy on
-- dossier_events (commune scope by the commune; agency scope by the agency,
-- or any event of the dossier naming the agency), on archive_events; blocks
-- only when they hold an event the reader may see (serve cuts its dossier's
-- records out of them: consumers/sources/dw_archive.h,
-- dw_archive_read_dossier).
DO $$
BEGIN
  IF to_regprocedure('dw_http_scope_kind()') IS NULL OR to_regprocedure('dw_http_scope_units()') IS NULL
     OR to_regprocedure('dw_http_scoped()') IS NULL THEN
    RETURN;
  END IF;
  EXECUTE $f$
    CREATE OR REPLACE FUNCTION dw_http_dossier_visible(d text) RETURNS boolean
      LANGUAGE sql STABLE SECURITY DEFINER
      SET search_path = pg_catalog, public
      AS $b$
        SELECT CASE dw_http_scope_kind()
          WHEN 'province' THEN true
          WHEN 'agency' THEN
            EXISTS (SELECT 1 FROM public.archive_events e JOIN public.archive_units u ON u.unit_no = e.agency
                     WHERE e.dossier_id = d AND u.code = ANY (dw_http_scope_units()))
            OR EXISTS (SELECT 1 FROM public.alerts a
                        WHERE a.dossier_id = d AND a.agency = ANY (dw_http_scope_units()))
          WHEN 'commune' THEN
            EXISTS (SELECT 1 FROM public.archive_events e JOIN public.archive_units u ON u.unit_no = e.commune
                     WHERE e.dossier_id = d AND u.code = ANY (dw_http_scope_units()))
          ELSE false
        END
      $b$ $f$;
  ALTER TABLE archive_events ENABLE ROW LEVEL SECURITY;
  ALTER TABLE archive_blocks ENABLE ROW LEVEL SECURITY;
  CREATE POLICY dw_unscoped ON archive_events USING (NOT dw_http_scoped());
  CREATE POLICY dw_unscoped ON archive_blocks USING (NOT dw_http_scoped());
  CREATE POLICY dw_http_scope ON archive_events FOR SELECT TO dossierwatch_serve USING (
    dossier_id IS NOT NULL AND (
      dw_http_scope_kind() = 'province'
      OR (dw_http_scope_kind() = 'commune'
          AND commune IN (SELECT unit_no FROM archive_units WHERE code = ANY (dw_http_scope_units())))
      OR (dw_http_scope_kind() = 'agency'
          AND (agency IN (SELECT unit_no FROM archive_units WHERE code = ANY (dw_http_scope_units()))
               OR dw_http_dossier_visible(dossier_id)))));
  -- a block is visible when it holds an event visible to the reader (the
  -- subquery is itself subject to the policy above); rows of a block are
  -- written together, so a BRIN index finds them at almost no cost per event
  CREATE INDEX archive_events_block_brin ON archive_events USING brin (block_id) WITH (pages_per_range = 4);
  CREATE POLICY dw_http_scope ON archive_blocks FOR SELECT TO dossierwatch_serve USING (
    EXISTS (SELECT 1 FROM archive_events e WHERE e.block_id = archive_blocks.block_id));
  GRANT SELECT ON archive_events, archive_blocks, archive_units TO dossierwatch_serve;
END $$;
