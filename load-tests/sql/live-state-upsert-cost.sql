-- The cost of one live state upsert on PostgreSQL (BENCHMARKS.md, "Live
-- states written behind"): the statement the writer sends for
-- `unit_live_state`, 4 000 units a batch over a table of 10 000, every
-- column rewritten as each report did before the write-behind. Run it in a
-- scratch database beside track-insert-cost.sql; it creates its own tables:
--
--   createdb track_cost && psql -d track_cost -f load-tests/sql/live-state-upsert-cost.sql
--
-- Prints microseconds per upserted row, 25 batches, twice.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP TABLE IF EXISTS live, livesrc;
CREATE TABLE live (
    unit_id text PRIMARY KEY, last_seq bigint NOT NULL, fix_at bigint, lat float8, lon float8,
    speed_mps float8, heading_deg float8, accuracy_m float8, last_heard bigint,
    reported_status text NOT NULL, out_of_service_reason text, no_signal bigint NOT NULL,
    status_since bigint NOT NULL, last_report_at bigint, crew text NOT NULL, event_no bigint NOT NULL,
    last_kept_fix_at bigint, updated_at bigint NOT NULL);
INSERT INTO live SELECT 'U' || g, 0, 0, -19.9, -43.9, 1, 1, 1, 0, 'available', NULL, 0, 0, 0,
  '[{"id":"m1","role":"driver"},{"id":"m2","role":"nurse"}]', 1, 0, 0 FROM generate_series(1,10000) g;
CREATE TABLE livesrc AS SELECT 'U' || (1 + (g * 7 % 10000)) AS unit_id, g::bigint AS last_seq, 1764000000000 + g AS fix_at,
  -19.9 + random()/10 AS lat, -43.9 + random()/10 AS lon, 10.5::float8 AS speed_mps, 90.0::float8 AS heading_deg, 5.0::float8 AS accuracy_m,
  1764000000000 + g AS last_heard, 'available'::text AS reported_status, NULL::text AS out_of_service_reason, 0::bigint AS no_signal,
  0::bigint AS status_since, 1764000000000 + g AS last_report_at, '[{"id":"m1","role":"driver"},{"id":"m2","role":"nurse"}]'::text AS crew,
  1::bigint AS event_no, 1764000000000 + g AS last_kept_fix_at, 1764000000000 + g AS updated_at FROM generate_series(1, 4000) g;
CREATE OR REPLACE FUNCTION bench_live(iters int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE j json; t0 timestamptz; k int;
BEGIN
  SELECT json_agg(b) INTO j FROM livesrc b;
  t0 := clock_timestamp();
  FOR k IN 1..iters LOOP
    INSERT INTO live SELECT r.unit_id, r.last_seq + k*4000, r.fix_at + k, r.lat, r.lon, r.speed_mps, r.heading_deg, r.accuracy_m, r.last_heard, r.reported_status, r.out_of_service_reason, r.no_signal, r.status_since, r.last_report_at, r.crew, r.event_no, r.last_kept_fix_at, r.updated_at + k
    FROM json_to_recordset(j) AS r(unit_id text, last_seq bigint, fix_at bigint, lat double precision, lon double precision, speed_mps double precision, heading_deg double precision, accuracy_m double precision, last_heard bigint, reported_status text, out_of_service_reason text, no_signal bigint, status_since bigint, last_report_at bigint, crew text, event_no bigint, last_kept_fix_at bigint, updated_at bigint)
    ON CONFLICT (unit_id) DO UPDATE SET last_seq = excluded.last_seq, fix_at = excluded.fix_at, lat = excluded.lat, lon = excluded.lon,
     speed_mps = excluded.speed_mps, heading_deg = excluded.heading_deg, accuracy_m = excluded.accuracy_m, last_heard = excluded.last_heard,
     reported_status = excluded.reported_status, out_of_service_reason = excluded.out_of_service_reason, no_signal = excluded.no_signal,
     status_since = excluded.status_since, last_report_at = excluded.last_report_at, crew = excluded.crew, event_no = excluded.event_no,
     last_kept_fix_at = excluded.last_kept_fix_at, updated_at = excluded.updated_at WHERE live.updated_at <= excluded.updated_at;
  END LOOP;
  RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / (iters * 4000);
END $$;
SELECT round(bench_live(25)::numeric, 2) AS live_us_per_row, round(bench_live(25)::numeric, 2) AS again;
