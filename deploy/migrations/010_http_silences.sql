-- 010_http_silences: serve's GET/POST/DELETE /api/v1/silences and the
-- "silenced" mark of each alert it returns (issue 14).
--
-- serve's role (dossierwatch_serve, migration 008) may read silences and
-- their matchers (to list them, and to mark the alerts they cover: serve
-- matches them in C with notify's own functions, so "silenced" on the
-- dashboard means exactly "notify sends nothing for it"), add silences and
-- end them (ends_at, updated_at): never delete one, so who silenced what,
-- and why, stays. What a token may silence is checked by serve (a scoped
-- token's silence must carry an equality matcher on its agency or commune:
-- it can then only cover alerts of its scope); who it was is the token's
-- name.
GRANT SELECT, INSERT ON silences, silence_matchers TO dossierwatch_serve;
GRANT UPDATE (ends_at, updated_at) ON silences TO dossierwatch_serve;
