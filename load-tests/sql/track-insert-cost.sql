-- The cost of one track row on PostgreSQL, with and without the foreign key
-- to `units` and the `fix_at` index (BENCHMARKS.md, "The track without its
-- foreign key"). Run it in a scratch database; it creates its own tables:
--
--   createdb track_cost && psql -d track_cost -f load-tests/sql/track-insert-cost.sql
--
-- Prints microseconds per inserted row, 25 batches of 4 000 rows each, for
-- every variant, twice, as `json_to_recordset` (what the writer sends) and
-- as `unnest` of arrays (for comparison: sqlx's Any driver cannot bind
-- arrays).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP TABLE IF EXISTS p_full, p_nofk, p_nofk_nofix, p_fk_nofix, batchsrc, units;
CREATE TABLE units (id text PRIMARY KEY);
INSERT INTO units SELECT 'U' || g FROM generate_series(1,10000) g;
CREATE TABLE p_full (unit_id text NOT NULL REFERENCES units(id), seq bigint NOT NULL, fix_at bigint NOT NULL, lat float8 NOT NULL, lon float8 NOT NULL, speed_mps float8, heading_deg float8, accuracy_m float8, kind text NOT NULL, PRIMARY KEY (unit_id, seq));
CREATE INDEX ON p_full (unit_id, fix_at); CREATE INDEX ON p_full (fix_at);
CREATE TABLE p_nofk (LIKE p_full INCLUDING ALL);
CREATE TABLE p_nofk_nofix (unit_id text NOT NULL, seq bigint NOT NULL, fix_at bigint NOT NULL, lat float8 NOT NULL, lon float8 NOT NULL, speed_mps float8, heading_deg float8, accuracy_m float8, kind text NOT NULL, PRIMARY KEY (unit_id, seq));
CREATE INDEX ON p_nofk_nofix (unit_id, fix_at);
CREATE TABLE p_fk_nofix (unit_id text NOT NULL REFERENCES units(id), seq bigint NOT NULL, fix_at bigint NOT NULL, lat float8 NOT NULL, lon float8 NOT NULL, speed_mps float8, heading_deg float8, accuracy_m float8, kind text NOT NULL, PRIMARY KEY (unit_id, seq));
CREATE INDEX ON p_fk_nofix (unit_id, fix_at);
-- A 4 000-row batch: every unit's rows a few apart, as the writer's batches.
CREATE TABLE batchsrc AS SELECT 'U' || (1 + (g % 10000)) AS unit_id, g AS seq, 1764000000000 + g AS fix_at, -19.9 + random()/10 AS lat, -43.9 + random()/10 AS lon, 10.5::float8 AS speed_mps, 90.0::float8 AS heading_deg, 5.0::float8 AS accuracy_m, 'applied' AS kind FROM generate_series(1, 4000) g;
\ir track-bench.sql
SELECT t AS variant,
       round(bench_json(t, 25)::numeric, 2) AS json_us_per_row,
       round(bench_arr(t, 25)::numeric, 2) AS unnest_us_per_row
FROM unnest(ARRAY['p_full', 'p_nofk', 'p_fk_nofix', 'p_nofk_nofix',
                  'p_full', 'p_nofk', 'p_fk_nofix', 'p_nofk_nofix']) AS t;
