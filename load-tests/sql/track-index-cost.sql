-- The cost of one track row on PostgreSQL for each index set the track
-- could have (BENCHMARKS.md, "The track without its time index"; migration
-- 0009). Run it in a scratch database; it creates its own tables:
--
--   createdb track_idx && psql -d track_idx -f load-tests/sql/track-index-cost.sql
--
-- Prints microseconds per inserted row, 25 batches of 4 000 rows each, for
-- every variant, twice, as `json_to_recordset` (what the writer sends) and
-- as `unnest` of arrays. Variants: t_cur (primary key, (unit_id, fix_at),
-- (fix_at): the schema before 0009), t_notime (primary key and (fix_at):
-- after 0009), _c (unit_id COLLATE "C"), _brin (fix_at as BRIN), t_pk_only.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP TABLE IF EXISTS t_cur, t_notime, t_notime_c, t_notime_brin, t_pk_only, t_cur_c, batchsrc;
CREATE TABLE t_cur (unit_id text NOT NULL, seq bigint NOT NULL, fix_at bigint NOT NULL, lat float8 NOT NULL, lon float8 NOT NULL, speed_mps float8, heading_deg float8, accuracy_m float8, kind text NOT NULL, PRIMARY KEY (unit_id, seq)); CREATE INDEX ON t_cur (unit_id, fix_at); CREATE INDEX ON t_cur (fix_at);
CREATE TABLE t_cur_c (unit_id text COLLATE "C" NOT NULL, seq bigint NOT NULL, fix_at bigint NOT NULL, lat float8 NOT NULL, lon float8 NOT NULL, speed_mps float8, heading_deg float8, accuracy_m float8, kind text NOT NULL, PRIMARY KEY (unit_id, seq)); CREATE INDEX ON t_cur_c (unit_id, fix_at); CREATE INDEX ON t_cur_c (fix_at);
CREATE TABLE t_notime (unit_id text NOT NULL, seq bigint NOT NULL, fix_at bigint NOT NULL, lat float8 NOT NULL, lon float8 NOT NULL, speed_mps float8, heading_deg float8, accuracy_m float8, kind text NOT NULL, PRIMARY KEY (unit_id, seq)); CREATE INDEX ON t_notime (fix_at);
CREATE TABLE t_notime_c (unit_id text COLLATE "C" NOT NULL, seq bigint NOT NULL, fix_at bigint NOT NULL, lat float8 NOT NULL, lon float8 NOT NULL, speed_mps float8, heading_deg float8, accuracy_m float8, kind text NOT NULL, PRIMARY KEY (unit_id, seq)); CREATE INDEX ON t_notime_c (fix_at);
CREATE TABLE t_notime_brin (unit_id text NOT NULL, seq bigint NOT NULL, fix_at bigint NOT NULL, lat float8 NOT NULL, lon float8 NOT NULL, speed_mps float8, heading_deg float8, accuracy_m float8, kind text NOT NULL, PRIMARY KEY (unit_id, seq)); CREATE INDEX ON t_notime_brin USING brin (fix_at);
CREATE TABLE t_pk_only (unit_id text NOT NULL, seq bigint NOT NULL, fix_at bigint NOT NULL, lat float8 NOT NULL, lon float8 NOT NULL, speed_mps float8, heading_deg float8, accuracy_m float8, kind text NOT NULL, PRIMARY KEY (unit_id, seq));
-- A 4 000-row batch: every unit's rows a few apart, as the writer's batches.
CREATE TABLE batchsrc AS SELECT 'U' || (1 + (g % 10000)) AS unit_id, g AS seq, 1764000000000 + g AS fix_at, -19.9 + random()/10 AS lat, -43.9 + random()/10 AS lon, 10.5::float8 AS speed_mps, 90.0::float8 AS heading_deg, 5.0::float8 AS accuracy_m, 'applied' AS kind FROM generate_series(1, 4000) g;
\ir track-bench.sql
SELECT t AS variant,
       round(bench_json(t, 25)::numeric, 2) AS json_us_per_row,
       round(bench_arr(t, 25)::numeric, 2) AS unnest_us_per_row
FROM unnest(ARRAY['t_cur','t_cur_c','t_notime','t_notime_c','t_notime_brin','t_pk_only','t_cur','t_cur_c','t_notime','t_notime_c','t_notime_brin','t_pk_only']) AS t;
