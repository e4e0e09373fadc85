-- 004_views: what dashboards read directly. Rates follow CONTRACT §5:
-- 0-100, two decimals rounded half away from zero (round(numeric, 2) does
-- that for numeric), NULL when the denominator is 0. "Current" periods are
-- those containing now() in Asia/Ho_Chi_Minh. open_overdue is counted from
-- open OVERDUE alerts (a gauge, never summed).

CREATE FUNCTION dw_rate(num bigint, den bigint) RETURNS numeric
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT round(100 * num::numeric / NULLIF(den, 0), 2) $$;

CREATE FUNCTION dw_avg(total bigint, n bigint) RETURNS numeric
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT round(total::numeric / NULLIF(n, 0), 2) $$;

-- The local date, month, quarter and year of now().
CREATE VIEW v_current_periods AS
  SELECT to_char(l, 'YYYY-MM-DD') AS day,
         to_char(l, 'YYYY-MM')    AS month,
         to_char(l, 'YYYY-"Q"Q')  AS quarter,
         to_char(l, 'YYYY')       AS year,
         l::date                  AS local_date
  FROM (SELECT now() AT TIME ZONE 'Asia/Ho_Chi_Minh' AS l) t;

-- Open OVERDUE alerts per unit, in the unit vocabulary of aggregates.
CREATE VIEW v_open_overdue AS
  SELECT 'commune'::text AS unit_type, commune AS unit, count(*) AS open_overdue
    FROM alerts WHERE cleared_at IS NULL AND rule = 'OVERDUE' GROUP BY commune
  UNION ALL
  SELECT 'agency', agency, count(*)
    FROM alerts WHERE cleared_at IS NULL AND rule = 'OVERDUE' GROUP BY agency
  UNION ALL
  SELECT 'procedure', procedure, count(*)
    FROM alerts WHERE cleared_at IS NULL AND rule = 'OVERDUE' GROUP BY procedure
  UNION ALL
  SELECT 'province', 'all', count(*)
    FROM alerts WHERE cleared_at IS NULL AND rule = 'OVERDUE';

-- Every stored aggregate row with its rates.
CREATE VIEW v_aggregate_rates AS
  SELECT a.unit_type, a.unit, a.period_kind, a.period,
         a.received, a.online, a.online_full, a.intake_digitized, a.reused_docs,
         a.dossiers_with_reuse, a.paper_requests_from_warehouse, a.results_issued,
         a.results_digitized, a.on_time, a.late, a.apologies, a.paid, a.paid_online,
         a.ratings, a.rating_sum,
         dw_rate(a.on_time, a.on_time + a.late)                   AS on_time_rate,
         dw_rate(a.intake_digitized, a.received - a.online_full)  AS intake_digitized_rate,
         dw_rate(a.results_digitized, a.results_issued)           AS result_digitized_rate,
         dw_rate(a.online, a.received)                            AS online_rate,
         dw_avg(a.rating_sum, a.ratings)                          AS rating_avg,
         dw_rate(a.dossiers_with_reuse, a.received)               AS reuse_rate,
         dw_rate(a.paid_online, a.paid)                           AS paid_online_rate,
         a.updated_at
  FROM aggregates a;

-- Per commune, the current month, quarter and year, with open OVERDUE alerts.
CREATE VIEW v_commune_current AS
  SELECT r.*, COALESCE(o.open_overdue, 0) AS open_overdue
  FROM v_aggregate_rates r
  CROSS JOIN v_current_periods c
  LEFT JOIN v_open_overdue o ON o.unit_type = 'commune' AND o.unit = r.unit
  WHERE r.unit_type = 'commune'
    AND ((r.period_kind = 'month' AND r.period = c.month)
      OR (r.period_kind = 'quarter' AND r.period = c.quarter)
      OR (r.period_kind = 'year' AND r.period = c.year));

-- Every unit over the 30 days ending today (sum of its day rows).
CREATE VIEW v_rolling30 AS
  WITH s AS (
    SELECT a.unit_type, a.unit, c.day AS period,
           sum(a.received)::bigint AS received, sum(a.online)::bigint AS online,
           sum(a.online_full)::bigint AS online_full, sum(a.intake_digitized)::bigint AS intake_digitized,
           sum(a.reused_docs)::bigint AS reused_docs, sum(a.dossiers_with_reuse)::bigint AS dossiers_with_reuse,
           sum(a.paper_requests_from_warehouse)::bigint AS paper_requests_from_warehouse,
           sum(a.results_issued)::bigint AS results_issued, sum(a.results_digitized)::bigint AS results_digitized,
           sum(a.on_time)::bigint AS on_time, sum(a.late)::bigint AS late, sum(a.apologies)::bigint AS apologies,
           sum(a.paid)::bigint AS paid, sum(a.paid_online)::bigint AS paid_online,
           sum(a.ratings)::bigint AS ratings, sum(a.rating_sum)::bigint AS rating_sum
    FROM aggregates a CROSS JOIN v_current_periods c
    WHERE a.period_kind = 'day'
      AND a.period BETWEEN to_char(c.local_date - 29, 'YYYY-MM-DD') AND c.day
    GROUP BY a.unit_type, a.unit, c.day)
  SELECT s.unit_type, s.unit, 'rolling30'::text AS period_kind, s.period,
         s.received, s.online, s.online_full, s.intake_digitized, s.reused_docs,
         s.dossiers_with_reuse, s.paper_requests_from_warehouse, s.results_issued,
         s.results_digitized, s.on_time, s.late, s.apologies, s.paid, s.paid_online,
         s.ratings, s.rating_sum,
         dw_rate(s.on_time, s.on_time + s.late)                   AS on_time_rate,
         dw_rate(s.intake_digitized, s.received - s.online_full)  AS intake_digitized_rate,
         dw_rate(s.results_digitized, s.results_issued)           AS result_digitized_rate,
         dw_rate(s.online, s.received)                            AS online_rate,
         dw_avg(s.rating_sum, s.ratings)                          AS rating_avg,
         dw_rate(s.dossiers_with_reuse, s.received)               AS reuse_rate,
         dw_rate(s.paid_online, s.paid)                           AS paid_online_rate
  FROM s;

-- Open alerts per agency.
CREATE VIEW v_open_alerts_by_agency AS
  SELECT agency,
         count(*)                                        AS open_alerts,
         count(*) FILTER (WHERE severity = 'critical')   AS critical,
         count(*) FILTER (WHERE severity = 'warning')    AS warning,
         count(*) FILTER (WHERE rule = 'OVERDUE')        AS overdue,
         count(*) FILTER (WHERE rule = 'DUE_SOON')       AS due_soon,
         count(*) FILTER (WHERE rule = 'APOLOGY_MISSING') AS apology_missing,
         min(raised_at)                                  AS oldest_raised_at
  FROM alerts
  WHERE cleared_at IS NULL
  GROUP BY agency;

-- Communes ranked for the current quarter (1 = best; NULL rates rank last).
CREATE VIEW v_commune_ranking AS
  SELECT r.unit AS commune, r.period AS quarter,
         r.received, r.results_issued, r.on_time, r.late,
         r.result_digitized_rate, r.on_time_rate, r.intake_digitized_rate, r.online_rate, r.rating_avg,
         COALESCE(o.open_overdue, 0) AS open_overdue,
         rank() OVER (ORDER BY r.result_digitized_rate DESC NULLS LAST) AS rank_result_digitized,
         rank() OVER (ORDER BY r.on_time_rate DESC NULLS LAST)          AS rank_on_time,
         rank() OVER (ORDER BY r.intake_digitized_rate DESC NULLS LAST) AS rank_intake_digitized,
         rank() OVER (ORDER BY r.online_rate DESC NULLS LAST)           AS rank_online,
         rank() OVER (ORDER BY COALESCE(o.open_overdue, 0) ASC)         AS rank_open_overdue
  FROM v_aggregate_rates r
  CROSS JOIN v_current_periods c
  LEFT JOIN v_open_overdue o ON o.unit_type = 'commune' AND o.unit = r.unit
  WHERE r.unit_type = 'commune' AND r.period_kind = 'quarter' AND r.period = c.quarter;

-- Rejected messages per stage and day, for monitoring.
CREATE VIEW v_dlq_counts AS
  SELECT topic, stage, (rejected_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date AS day, count(*) AS messages
  FROM dlq_messages GROUP BY topic, stage, (rejected_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date;
