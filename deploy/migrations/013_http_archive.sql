-- 013_http_archive: serve reads a dossier's archived events through one
-- function that returns only that dossier's records, and no longer reads
-- archive blocks at all.
--
-- A block (migration 011) holds up to 512 events of one watch batch, of
-- many dossiers and agencies. With SELECT on archive_blocks, serve's process
-- would receive other agencies' events and rely on its C code to cut out
-- the asked one: the scope would be enforced by serve, not by PostgreSQL.
-- Instead:
-- * dw_http_dossier_records(d): when the caller's scope may see dossier d
--   (dw_http_dossier_visible, migration 008/011), the records of d's events
--   cut out of their blocks here (partition, kind, the event's bytes as
--   archived: single-object Avro, or JSON Lines text for kind 1), in block
--   order; nothing otherwise. It runs as its owner (SECURITY DEFINER), so
--   serve needs no grant on the blocks.
-- * serve's role loses SELECT on archive_blocks and its policy there; the
--   table keeps row-level security, so a member of dossierwatch_serve sees
--   no block whatever is granted later.
-- A block's record (consumers/sources/dw_archive_block.h):
--   uvarint h = ((kafka_partition + 1) << 2) | kind, uvarint len, len bytes.
DO $$
BEGIN
  IF to_regprocedure('dw_http_dossier_visible(text)') IS NULL THEN
    RAISE EXCEPTION '013 needs migration 008 (serve''s access) and 011 (the archive blocks)';
  END IF;
END $$;

REVOKE SELECT ON archive_blocks FROM dossierwatch_serve;
DROP POLICY IF EXISTS dw_http_scope ON archive_blocks;
ALTER TABLE archive_blocks ENABLE ROW LEVEL SECURITY;

CREATE FUNCTION dw_http_dossier_records(d text)
  RETURNS TABLE (kafka_partition integer, kind integer, record bytea)
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, public
  AS $$
DECLARE
  blk record;
  ev bytea;    -- the block's bytes, detoasted once
  total integer;
  pos integer;
  idx integer; -- position of the record at pos
  w integer;   -- the next wanted position's index in blk.seqs
  h bigint;
  len bigint;
  b integer;
  sh integer;
BEGIN
  IF d IS NULL OR NOT dw_http_dossier_visible(d) THEN
    RETURN;
  END IF;
  FOR blk IN
    SELECT ab.events, s.seqs
    FROM (SELECT e.block_id, array_agg(e.seq ORDER BY e.seq) AS seqs
          FROM archive_events e WHERE e.dossier_id = d AND e.block_id IS NOT NULL GROUP BY e.block_id) s
    JOIN archive_blocks ab ON ab.block_id = s.block_id
    ORDER BY ab.block_id
  LOOP
    ev := blk.events;
    total := length(ev);
    pos := 0;
    idx := 0;
    w := 1;
    WHILE w <= array_length(blk.seqs, 1) AND pos < total LOOP
      h := 0;
      sh := 0;
      LOOP
        b := get_byte(ev, pos);
        pos := pos + 1;
        h := h | ((b & 127)::bigint << sh);
        sh := sh + 7;
        EXIT WHEN b < 128 OR pos >= total;
      END LOOP;
      len := 0;
      sh := 0;
      LOOP
        EXIT WHEN pos >= total;
        b := get_byte(ev, pos);
        pos := pos + 1;
        len := len | ((b & 127)::bigint << sh);
        sh := sh + 7;
        EXIT WHEN b < 128;
      END LOOP;
      IF len > total - pos THEN
        RAISE EXCEPTION 'archive block: malformed record at byte % of %', pos, total;
      END IF;
      IF idx = blk.seqs[w] THEN
        kafka_partition := (h >> 2)::integer - 1;
        kind := (h & 3)::integer;
        record := substring(ev FROM pos + 1 FOR len::integer);
        RETURN NEXT;
        w := w + 1;
      END IF;
      pos := pos + len::integer;
      idx := idx + 1;
    END LOOP;
  END LOOP;
END $$;
REVOKE ALL ON FUNCTION dw_http_dossier_records(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dw_http_dossier_records(text) TO dossierwatch_serve;
