-- 006_state_tombstone: whether a dossier_state row is the engine's
-- tombstone of a dossier that left memory is now a column, written by watch
-- and replay from what the engine says (dw_engine_blob_is_tombstone), so
-- that nothing outside the engine has to know the tombstone's bytes: the
-- purge of old tombstones is `WHERE tombstone AND updated_at < ...`. This
-- migration recognises the existing ones once, by the engine's tombstone
-- format version 1 (18 bytes starting with 'T').
ALTER TABLE dossier_state ADD COLUMN tombstone boolean NOT NULL DEFAULT false;
UPDATE dossier_state SET tombstone = true WHERE octet_length(state) = 18 AND get_byte(state, 0) = 84;
CREATE INDEX dossier_state_tombstone_idx ON dossier_state (updated_at) WHERE tombstone;
