-- 007_feed_cursors: the outbox read by feeds (consumers/feeds), one cursor
-- per feed instead of one published_version per row.
--
-- Every transaction that writes alerts or aggregates (a watch batch, a live
-- replay, a swap) first takes the next value of outbox_clock by UPDATE: the
-- row lock is held until commit, so the values are handed out in commit
-- order, and every row that transaction writes carries it in change_seq. A
-- feed reads the rows after its cursor (change_seq, then the row's key) and,
-- once they are delivered, moves its cursor there: a row committed later
-- always has a larger change_seq, so nothing is skipped, and a crash before
-- the cursor moves only repeats a page (at-least-once). Any number of feeds
-- (Kafka alerts, Kafka aggregates, notify's receivers) read the same rows,
-- each with its own cursor.
CREATE TABLE outbox_clock (
  id  boolean PRIMARY KEY DEFAULT true CHECK (id),
  seq bigint  NOT NULL
);
INSERT INTO outbox_clock VALUES (true, 2);

-- Existing rows: those the previous outbox had published at 1, the others
-- at 2; the Kafka alerts feed starts after 1 (published alerts are not sent
-- again). The aggregates are all sent again, under their four-part keys.
ALTER TABLE alerts ADD COLUMN change_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE aggregates ADD COLUMN change_seq bigint NOT NULL DEFAULT 0;
UPDATE alerts SET change_seq = CASE WHEN version > published_version THEN 2 ELSE 1 END;
UPDATE aggregates SET change_seq = 1;
CREATE INDEX alerts_change_idx ON alerts (change_seq, alert_id);
CREATE INDEX aggregates_change_idx ON aggregates (change_seq, unit_type, unit, period_kind, period);

-- the per-row outbox it replaces
DROP INDEX alerts_unpublished_idx;
DROP INDEX aggregates_unpublished_idx;
ALTER TABLE alerts DROP COLUMN version, DROP COLUMN published_version;
ALTER TABLE aggregates DROP COLUMN version, DROP COLUMN published_version;

-- One row per feed: how far it has delivered. `key` is the key of the last
-- row delivered at change_seq (alert_id; or unit_type, unit, period_kind,
-- period); NULL when every row at change_seq is delivered. legacy_keys: the Kafka aggregates feed still owes tombstones for
-- the three-part keys (unit_type|unit|period) an earlier release published
-- (see README, "Moving an existing deployment to the four-part keys").
CREATE TABLE feed_cursors (
  feed        text        PRIMARY KEY,
  change_seq  bigint      NOT NULL DEFAULT 0,
  key         text[],
  legacy_keys boolean     NOT NULL DEFAULT false,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
-- a database that ran an earlier release published three-part keys
INSERT INTO feed_cursors (feed, change_seq, legacy_keys)
  SELECT 'kafka_aggregates', 0, true WHERE EXISTS (SELECT 1 FROM aggregates);
INSERT INTO feed_cursors (feed, change_seq) SELECT 'kafka_alerts', 1 WHERE EXISTS (SELECT 1 FROM alerts);
