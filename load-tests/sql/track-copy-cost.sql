-- The cost of one track row on PostgreSQL as the writer sends it: binary
-- COPY (since the native batch connection) against the INSERT ... SELECT
-- over json_to_recordset it replaced, and unnest of arrays, on the
-- track's table after migration 0009 (primary key and the fix_at index).
-- Run it as a superuser in a scratch database, with a folder the server
-- process can write (server-side COPY files stand in for the writer's
-- COPY FROM STDIN):
--
--   mkdir -m 777 /tmp/track-copy && createdb track_copy &&
--   psql -d track_copy -v dir=/tmp/track-copy -f load-tests/sql/track-copy-cost.sql
--
-- Prints microseconds per inserted row, 25 batches of 4 000 rows each,
-- three passes.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP TABLE IF EXISTS t_track, batchsrc;
CREATE TABLE t_track (unit_id text NOT NULL, seq bigint NOT NULL, fix_at bigint NOT NULL, lat float8 NOT NULL, lon float8 NOT NULL, speed_mps float8, heading_deg float8, accuracy_m float8, kind text NOT NULL, PRIMARY KEY (unit_id, seq));
CREATE INDEX ON t_track (fix_at);
-- A 4 000-row batch: every unit's rows a few apart, as the writer's batches.
CREATE TABLE batchsrc AS SELECT 'U' || (1 + (g % 10000)) AS unit_id, g::bigint AS seq, 1764000000000 + g AS fix_at, -19.9 + random()/10 AS lat, -43.9 + random()/10 AS lon, 10.5::float8 AS speed_mps, 90.0::float8 AS heading_deg, 5.0::float8 AS accuracy_m, 'applied' AS kind FROM generate_series(1, 4000) g;
\ir track-bench.sql
-- bench_copy(table, iterations, folder): the same batches written to binary
-- files first (untimed), then COPY'd in, timed.
CREATE OR REPLACE FUNCTION bench_copy(tbl text, iters int, dir text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; k int;
BEGIN
  FOR k IN 1..iters LOOP
    EXECUTE format('COPY (SELECT unit_id, seq + %s, fix_at + %s, lat, lon, speed_mps, heading_deg, accuracy_m, kind FROM batchsrc) TO %L WITH (FORMAT binary)', k * 4000, k * 4000, dir || '/b' || k || '.bin');
  END LOOP;
  EXECUTE format('TRUNCATE %I', tbl);
  t0 := clock_timestamp();
  FOR k IN 1..iters LOOP
    EXECUTE format('COPY %I FROM %L WITH (FORMAT binary)', tbl, dir || '/b' || k || '.bin');
  END LOOP;
  RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / (iters * 4000);
END $$;
SELECT pass,
       round(bench_json('t_track', 25)::numeric, 2) AS json_us_per_row,
       round(bench_arr('t_track', 25)::numeric, 2) AS unnest_us_per_row,
       round(bench_copy('t_track', 25, :'dir')::numeric, 2) AS copy_binary_us_per_row
FROM generate_series(1, 3) AS pass;
