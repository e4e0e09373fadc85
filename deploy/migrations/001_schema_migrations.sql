-- 001: bookkeeping for `dossierwatch migrate`. One row per applied migration
-- file deploy/migrations/NNN_name.sql: version = NNN, name = the part after
-- "NNN_" without ".sql", checksum = hex SHA-256 of the file as applied.
-- migrate inserts the row in the same transaction as the migration itself.
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer     PRIMARY KEY CHECK (version > 0),
  name       text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  checksum   text        NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$')
);
