-- 005_archive_brin: cheaper archive indexes. Every archived event updated
-- three btrees (dossier_id+occurred_at, occurred_at, commune+occurred_at),
-- the biggest part of watch's archive cost (benchmark: 0.59x a plain COPY).
-- Now:
-- - occurred_at: a BRIN index. Events arrive in roughly time order, so a
--   few pages per partition find a time range as well as the btree did, at
--   almost no cost per row. Replay and export by time range prune to the
--   monthly partitions, then use it.
-- - commune: no index. A replay of a few communes filters the rows of its
--   time range (a btree would cost every insert for that rare command).
-- - dossier_id alone (the history of one dossier, the common ad-hoc
--   question, sorts its few rows): a smaller key than (dossier_id,
--   occurred_at).
-- Benchmark after: ~0.74x COPY.

DROP INDEX dossier_events_occurred_idx;
DROP INDEX dossier_events_commune_idx;
DROP INDEX dossier_events_dossier_idx;
CREATE INDEX dossier_events_occurred_brin ON dossier_events USING brin (occurred_at);
CREATE INDEX dossier_events_dossier_idx ON dossier_events (dossier_id);
