-- 009_notify: what `dossierwatch notify` keeps (consumers/notify) and the
-- silences (`dossierwatch silence`, serve's /api/v1/silences).
--
-- notify reads the alerts outbox (migration 007) with a cursor of its own per
-- group of receivers (feed_cursors row 'notify:GROUP'), holds that feed's
-- advisory lock (one active notify per group; others stand by), and in ONE
-- transaction writes what it read into its state below, the messages it
-- decided to send (notify_log, status 'pending') and its cursor: a kill -9
-- or a restart never loses an alert and never sends a message twice (a
-- message's outcome is recorded in a short transaction after it is sent;
-- only a crash between the two repeats that one message).

-- The alerts notify tracks: open ones, and resolved ones still owed a
-- resolved notice (a copy of the alerts row as notify last read it).
CREATE TABLE notify_alerts (
  notify_group text        NOT NULL,
  alert_id     text        NOT NULL,
  rule         text        NOT NULL,
  dossier_id   text        NOT NULL,
  commune      text        NOT NULL,
  agency       text        NOT NULL,
  procedure    text        NOT NULL,
  severity     text        NOT NULL,
  raised_at    timestamptz NOT NULL,
  due_at       timestamptz,
  cleared_at   timestamptz,
  detail       text        NOT NULL DEFAULT '',
  PRIMARY KEY (notify_group, alert_id)
);

-- Aggregation groups (Alertmanager's): when each flushes next, and per
-- integration of its receiver the notification log entry (what the last
-- message said: firing and resolved alert ids, and when).
CREATE TABLE notify_groups (
  notify_group text    NOT NULL,
  group_key    text    NOT NULL,
  receiver     text    NOT NULL,
  next_flush   bigint  NOT NULL, -- ms on notify's clock
  flushed      boolean NOT NULL DEFAULT false,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (notify_group, group_key)
);
CREATE TABLE notify_nflog (
  notify_group text     NOT NULL,
  group_key    text     NOT NULL,
  integration  integer  NOT NULL, -- index into the receiver's integrations
  firing       text[]   NOT NULL DEFAULT '{}',
  resolved     text[]   NOT NULL DEFAULT '{}',
  sent_clock   bigint,            -- ms on notify's clock; NULL: never
  PRIMARY KEY (notify_group, group_key, integration),
  FOREIGN KEY (notify_group, group_key) REFERENCES notify_groups ON DELETE CASCADE
);

-- The last working day each digest was sent for.
CREATE TABLE notify_digests (
  notify_group text NOT NULL,
  digest       text NOT NULL,
  last_day     date NOT NULL,
  PRIMARY KEY (notify_group, digest)
);

-- The notification log: one row per message (email or webhook call), what
-- was sent and what happened. status: pending (to send or retrying),
-- sent, or abandoned (its receiver left the configuration; kept, never
-- silently dropped). attempts and last_error tell the retries.
CREATE TABLE notify_log (
  id             bigserial   PRIMARY KEY,
  notify_group   text        NOT NULL,
  receiver       text        NOT NULL,
  integration    integer     NOT NULL,
  kind           text        NOT NULL CHECK (kind IN ('email', 'webhook')),
  what           text        NOT NULL CHECK (what IN ('alerts', 'escalation', 'digest')),
  group_key      text        NOT NULL,
  status         text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'abandoned')),
  firing         integer     NOT NULL DEFAULT 0,
  resolved       integer     NOT NULL DEFAULT 0,
  subject        text        NOT NULL DEFAULT '',
  text           text        NOT NULL DEFAULT '', -- the plain-text part, for people
  body           text        NOT NULL,            -- on the wire: the MIME message or the JSON body
  clock_at       timestamptz NOT NULL,            -- notify's clock when it decided to send
  created_at     timestamptz NOT NULL DEFAULT now(),
  attempts       integer     NOT NULL DEFAULT 0,
  last_error     text,
  last_attempt_at timestamptz,
  sent_at        timestamptz
);
CREATE INDEX notify_log_pending_idx ON notify_log (notify_group, id) WHERE status = 'pending';
CREATE INDEX notify_log_group_idx ON notify_log (notify_group, group_key, id);

-- Which process is active for a group, its clock, how far it has read.
CREATE TABLE notify_status (
  notify_group text        PRIMARY KEY,
  holder       text        NOT NULL, -- host:pid
  clock_ms     bigint      NOT NULL,
  cursor_seq   bigint      NOT NULL,
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- Silences (Alertmanager's): alerts matching every matcher are left out of
-- notifications from starts_at until ends_at; they stay in `alerts` and on
-- the dashboard, marked silenced (v_alerts_silenced). Expiring sets ends_at.
CREATE TABLE silences (
  id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  starts_at  timestamptz NOT NULL,
  ends_at    timestamptz NOT NULL,
  created_by text        NOT NULL,
  comment    text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (ends_at > starts_at)
);
CREATE INDEX silences_ends_idx ON silences (ends_at);
CREATE TABLE silence_matchers (
  silence_id uuid    NOT NULL REFERENCES silences ON DELETE CASCADE,
  position   integer NOT NULL,
  label      text    NOT NULL CHECK (label IN ('rule', 'severity', 'dossier_id', 'commune', 'agency', 'procedure')),
  op         text    NOT NULL CHECK (op IN ('=', '!=', '=~', '!~')),
  value      text    NOT NULL,
  PRIMARY KEY (silence_id, position)
);

-- Does an alert's label value satisfy a matcher? Regular expressions are
-- anchored as in notify (POSIX extended there, PostgreSQL's here: the same
-- for the patterns codes and names need).
CREATE FUNCTION dw_matcher_ok(v text, op text, pattern text) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT CASE op WHEN '=' THEN v = pattern WHEN '!=' THEN v <> pattern
                       WHEN '=~' THEN v ~ ('^(' || pattern || ')$')
                       ELSE v !~ ('^(' || pattern || ')$') END $$;

-- Silences in force now, and every alert with whether a silence in force
-- covers it (and which): what the dashboard shows as "silenced".
CREATE VIEW v_silences_active AS
  SELECT * FROM silences WHERE starts_at <= now() AND now() < ends_at;

CREATE VIEW v_alerts_silenced AS
  SELECT a.*,
         s.ids IS NOT NULL AS silenced,
         COALESCE(s.ids, '{}'::uuid[]) AS silenced_by
  FROM alerts a
  LEFT JOIN LATERAL (
    SELECT array_agg(v.id ORDER BY v.id) AS ids
    FROM v_silences_active v
    WHERE NOT EXISTS (
      SELECT 1 FROM silence_matchers m
      WHERE m.silence_id = v.id
        AND NOT dw_matcher_ok(CASE m.label WHEN 'rule' THEN a.rule WHEN 'severity' THEN a.severity
                                           WHEN 'dossier_id' THEN a.dossier_id WHEN 'commune' THEN a.commune
                                           WHEN 'agency' THEN a.agency ELSE a.procedure END, m.op, m.value))
    HAVING count(*) > 0) s ON true;
