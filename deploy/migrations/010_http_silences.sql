-- 010_http_silences: serve's GET/POST/DELETE /api/v1/silences and the
-- "silenced" mark of each alert it returns (issue 14).
--
-- * serve's role (dossierwatch_serve, migration 008) may read silences and
--   their matchers, add silences and end them (ends_at, updated_at): never
--   delete one, so who silenced what, and why, stays. What a token may
--   silence is checked by serve (a scoped token's silence must carry an
--   equality matcher on its agency or commune: it can then only cover
--   alerts of its scope); who it was is the token's name.
-- * dw_alert_silenced_by(...): the silences in force now that cover an
--   alert with these labels (the matching v_alerts_silenced does, migration
--   009), so serve can mark alerts without a view (a view would run with
--   its owner's rights and skip the alerts' row-level security).
GRANT SELECT, INSERT ON silences, silence_matchers TO dossierwatch_serve;
GRANT UPDATE (ends_at, updated_at) ON silences TO dossierwatch_serve;

CREATE FUNCTION dw_alert_silenced_by(p_rule text, p_severity text, p_dossier_id text, p_commune text,
                                     p_agency text, p_procedure text) RETURNS uuid[]
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$
    SELECT array_agg(v.id ORDER BY v.id)
    FROM silences v
    WHERE v.starts_at <= now() AND now() < v.ends_at
      AND NOT EXISTS (
        SELECT 1 FROM silence_matchers m
        WHERE m.silence_id = v.id
          AND NOT dw_matcher_ok(CASE m.label WHEN 'rule' THEN p_rule WHEN 'severity' THEN p_severity
                                             WHEN 'dossier_id' THEN p_dossier_id WHEN 'commune' THEN p_commune
                                             WHEN 'agency' THEN p_agency ELSE p_procedure END, m.op, m.value))
  $$;
GRANT EXECUTE ON FUNCTION dw_alert_silenced_by(text, text, text, text, text, text) TO dossierwatch_serve;
