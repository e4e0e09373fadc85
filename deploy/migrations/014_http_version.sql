-- 014_http_version: the version of the data serve's aggregates and ranking
-- replies are made of, so serve can keep a reply while it is unchanged
-- (consumers/http/dw_http_cache.h).
--
-- dw_http_data_version(): the storage file and the largest change_seq of
-- alerts and of aggregates. Every writer of those rows stamps them with the
-- outbox clock (migration 007: watch per transaction, replay for its
-- output), so a committed change moves the largest change_seq; a TRUNCATE,
-- a reload or a table swapped in by `replay --swap` gets a new storage file.
-- It runs as its owner (SECURITY DEFINER): the two largest values are one
-- index probe each instead of a walk under serve's row-level security, and
-- they say nothing of any row. Called inside the request's transaction, it
-- reads the same snapshot as the reply.
CREATE FUNCTION dw_http_data_version() RETURNS text
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, public
  AS $$
  SELECT concat_ws(':', pg_relation_filenode('public.alerts'), (SELECT max(change_seq) FROM public.alerts),
                   pg_relation_filenode('public.aggregates'), (SELECT max(change_seq) FROM public.aggregates))
$$;
REVOKE ALL ON FUNCTION dw_http_data_version() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dw_http_data_version() TO dossierwatch_serve;
