-- 012_state_hot: a dossier's state row is rewritten by every watch batch that
-- touches the dossier (most rows, every batch). It could not be updated in
-- place (a HOT update: no new index entries) because updated_at, which
-- changes each time, was the key of the tombstone index (migration 006): every
-- update added an entry to all three indexes. Now the tombstone index is on a
-- column of its own, set only when the state is a tombstone, so the update of
-- a live dossier changes no indexed column and, with room left on its page
-- (fillfactor 75, for pages written from now on), stays on that page with no
-- index work. watch purges tombstones by tombstone_at.
ALTER TABLE dossier_state ADD COLUMN tombstone_at timestamptz;
UPDATE dossier_state SET tombstone_at = updated_at WHERE tombstone;
DROP INDEX dossier_state_tombstone_idx;
CREATE INDEX dossier_state_tombstone_at_idx ON dossier_state (tombstone_at) WHERE tombstone_at IS NOT NULL;
ALTER TABLE dossier_state SET (fillfactor = 75);
