-- 008_http_access: what `dossierwatch serve` reads with, and what limits
-- what it may read. The scope of each request is enforced HERE, by
-- row-level security, not only by serve's C code.
--
-- * api_tokens: one row per API token (`dossierwatch token add`): its id
--   (the public part of the token), name, scope and the SHA-256 of its
--   secret; never the token itself.
-- * Role dossierwatch_serve (NOLOGIN, no BYPASSRLS, not a superuser): serve
--   runs every query as this role (it connects as a member of it, or SET
--   ROLEs to it) and refuses to start when its role could bypass the
--   policies. It may SELECT the four data tables and the public columns of
--   api_tokens; nothing else (no views: a view runs with its owner's rights
--   and would skip the policies).
-- * The request's scope travels in two transaction-local settings that
--   serve sets inside each request's transaction (set_config(..., true)):
--     dw.scope_kind   'province' | 'agency' | 'commune' | 'ingest'
--     dw.scope_units  comma-separated agency or commune codes
--   Unset (or any other kind) means no row at all.
-- * Policies, for members of dossierwatch_serve only:
--     alerts          the alert's agency (agency scope) or commune (commune scope)
--     aggregates      rows of unit_type agency / commune whose unit is in the scope;
--                     procedure and province rows only for the province scope
--     dossier_events  a dossier is visible as a whole to an agency that has
--                     handled it (any of its events names the agency), so its
--                     timeline is complete from RECEIVED; to a commune scope
--                     by the commune (the receiving desk never changes)
--     dossier_state   has no commune or agency column: visible when the
--                     dossier's archived events are (the same rule, through
--                     the archive), so the sink needs no change
--   Every other role keeps what it had (the unscoped policy below): the
--   table owner (watch, replay, migrate) bypasses row-level security as
--   owner anyway, and a non-owner role with its own grants (an analyst's
--   psql, a Grafana reader) is not cut off by this migration.

CREATE TABLE api_tokens (
  token_id    text        PRIMARY KEY CHECK (token_id ~ '^[0-9a-f]{12}$'),
  name        text        NOT NULL CHECK (name ~ '^[A-Za-z0-9._@-]{1,64}$'),
  scope       text        NOT NULL CHECK (scope ~ '^(province|ingest|(agency|commune):[^,:[:space:]]+(,[^,:[:space:]]+)*)$'),
  token_hash  bytea       NOT NULL CHECK (octet_length(token_hash) = 32),
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);
-- a name names one live token (a revoked one may be re-issued)
CREATE UNIQUE INDEX api_tokens_live_name_idx ON api_tokens (name) WHERE revoked_at IS NULL;

-- Open alerts newest first (serve's /api/v1/alerts keyset pagination and
-- the dashboard's list): without it every page sorts all open alerts.
CREATE INDEX alerts_open_raised_idx ON alerts (raised_at DESC, alert_id DESC) WHERE cleared_at IS NULL;

-- Roles are per cluster: another database of the cluster (or a DBA) may
-- have made it already; one that could bypass the policies is refused.
-- Creating it needs CREATEROLE (or a DBA creates it beforehand).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dossierwatch_serve') THEN
    CREATE ROLE dossierwatch_serve NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  ELSIF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dossierwatch_serve' AND (rolsuper OR rolbypassrls)) THEN
    RAISE EXCEPTION 'role dossierwatch_serve exists and bypasses row-level security (SUPERUSER or BYPASSRLS); '
                    'run ALTER ROLE dossierwatch_serve NOSUPERUSER NOBYPASSRLS, then migrate again';
  END IF;
END $$;

-- The scope settings. STABLE SQL functions: inlined into the policies, so
-- `agency = ANY (dw_http_scope_units())` can use an index.
CREATE FUNCTION dw_http_scope_kind() RETURNS text
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT coalesce(current_setting('dw.scope_kind', true), '') $$;

CREATE FUNCTION dw_http_scope_units() RETURNS text[]
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT coalesce(string_to_array(nullif(current_setting('dw.scope_units', true), ''), ','), '{}'::text[]) $$;

-- A request's token, checked and its scope set in one call (serve's first
-- statement of each request, in the request's transaction): the row of the
-- token id, and only when the SHA-256 of the presented secret matches and
-- the token is not revoked, the two transaction-local settings. So the
-- scope can only come from a token whose secret was shown; serve compares
-- the returned hash once more itself, in constant time, before it answers.
CREATE FUNCTION dw_http_authenticate(p_id text, p_hash bytea)
  RETURNS TABLE (token_hash bytea, name text, scope text, revoked boolean)
  LANGUAGE plpgsql VOLATILE
  AS $$
DECLARE
  t record;
  kind text;
BEGIN
  SELECT a.token_hash, a.name, a.scope, a.revoked_at IS NOT NULL AS revoked INTO t
    FROM api_tokens a WHERE a.token_id = p_id;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF t.token_hash = p_hash AND NOT t.revoked THEN
    kind := split_part(t.scope, ':', 1);
    PERFORM set_config('dw.scope_kind', kind, true),
            set_config('dw.scope_units', substr(t.scope, length(kind) + 2), true);
  END IF;
  RETURN QUERY SELECT t.token_hash, t.name, t.scope, t.revoked;
END
$$;

-- Is the role running the query scoped by these policies?
CREATE FUNCTION dw_http_scoped() RETURNS boolean
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT pg_has_role(current_user, 'dossierwatch_serve', 'MEMBER') $$;

-- Is a dossier visible in the current scope? Looks at the archive (and the
-- alerts) as the function's owner, so that it sees every event of the
-- dossier whatever the caller may see; it answers only yes or no for the
-- caller's own scope.
CREATE FUNCTION dw_http_dossier_visible(d text) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, public
  AS $$
    SELECT CASE dw_http_scope_kind()
      WHEN 'province' THEN true
      WHEN 'agency' THEN
        EXISTS (SELECT 1 FROM public.dossier_events e
                 WHERE e.dossier_id = d AND e.agency = ANY (dw_http_scope_units()))
        OR EXISTS (SELECT 1 FROM public.alerts a
                    WHERE a.dossier_id = d AND a.agency = ANY (dw_http_scope_units()))
      WHEN 'commune' THEN
        EXISTS (SELECT 1 FROM public.dossier_events e
                 WHERE e.dossier_id = d AND e.commune = ANY (dw_http_scope_units()))
      ELSE false
    END
  $$;
REVOKE ALL ON FUNCTION dw_http_dossier_visible(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dw_http_dossier_visible(text) TO dossierwatch_serve;

ALTER TABLE alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE aggregates ENABLE ROW LEVEL SECURITY;
ALTER TABLE dossier_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE dossier_state ENABLE ROW LEVEL SECURITY;

-- Roles that are not serve's: as before this migration.
CREATE POLICY dw_unscoped ON alerts USING (NOT dw_http_scoped());
CREATE POLICY dw_unscoped ON aggregates USING (NOT dw_http_scoped());
CREATE POLICY dw_unscoped ON dossier_events USING (NOT dw_http_scoped());
CREATE POLICY dw_unscoped ON dossier_state USING (NOT dw_http_scoped());

CREATE POLICY dw_http_scope ON alerts FOR SELECT TO dossierwatch_serve USING (
  dw_http_scope_kind() = 'province'
  OR (dw_http_scope_kind() = 'agency' AND agency = ANY (dw_http_scope_units()))
  OR (dw_http_scope_kind() = 'commune' AND commune = ANY (dw_http_scope_units())));

CREATE POLICY dw_http_scope ON aggregates FOR SELECT TO dossierwatch_serve USING (
  dw_http_scope_kind() = 'province'
  OR (dw_http_scope_kind() = 'agency' AND unit_type = 'agency' AND unit = ANY (dw_http_scope_units()))
  OR (dw_http_scope_kind() = 'commune' AND unit_type = 'commune' AND unit = ANY (dw_http_scope_units())));

CREATE POLICY dw_http_scope ON dossier_events FOR SELECT TO dossierwatch_serve USING (
  dw_http_scope_kind() = 'province'
  OR (dw_http_scope_kind() = 'commune' AND commune = ANY (dw_http_scope_units()))
  OR (dw_http_scope_kind() = 'agency'
      AND (agency = ANY (dw_http_scope_units()) OR dw_http_dossier_visible(dossier_id))));

CREATE POLICY dw_http_scope ON dossier_state FOR SELECT TO dossierwatch_serve USING (
  dw_http_dossier_visible(dossier_id));

GRANT SELECT ON alerts, aggregates, dossier_events, dossier_state TO dossierwatch_serve;
GRANT SELECT (token_id, name, scope, token_hash, revoked_at) ON api_tokens TO dossierwatch_serve;
GRANT EXECUTE ON FUNCTION dw_http_authenticate(text, bytea) TO dossierwatch_serve;
