-- The cost of one track row on PostgreSQL by binary COPY, as the writer
-- sends it, with the retention job's (fix_at) index as a B-tree (the
-- schema since migration 0009), as BRIN, and without it (primary key
-- alone, for the floor). unit_id sorts bytewise, as in the load runs'
-- and the compose file's clusters. Run it as a superuser in a scratch
-- database, with a folder the server process can write:
--
--   mkdir -m 777 /tmp/track-brin && createdb track_brin &&
--   psql -d track_brin -v dir=/tmp/track-brin -f load-tests/sql/track-brin-cost.sql
--
-- Prints microseconds per inserted row, 50 batches of 4 000 rows each
-- into a table that keeps growing, the variants alternating, five passes.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP TABLE IF EXISTS t_btree, t_brin, t_pk, batchsrc;
CREATE TABLE t_btree (unit_id text COLLATE "C" NOT NULL, seq bigint NOT NULL, fix_at bigint NOT NULL, lat float8 NOT NULL, lon float8 NOT NULL, speed_mps float8, heading_deg float8, accuracy_m float8, kind text NOT NULL, PRIMARY KEY (unit_id, seq));
CREATE INDEX ON t_btree (fix_at);
CREATE TABLE t_brin (LIKE t_btree INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE t_brin ADD PRIMARY KEY (unit_id, seq);
CREATE INDEX ON t_brin USING brin (fix_at);
CREATE TABLE t_pk (LIKE t_btree INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE t_pk ADD PRIMARY KEY (unit_id, seq);
-- A 4 000-row batch: every unit's rows a few apart, as the writer's batches.
CREATE TABLE batchsrc AS SELECT 'SAMU-U' || (1 + (g % 10000)) AS unit_id, g::bigint AS seq, 1764000000000 + g * 250 AS fix_at, -19.9 + random()/10 AS lat, -43.9 + random()/10 AS lon, 10.5::float8 AS speed_mps, 90.0::float8 AS heading_deg, 5.0::float8 AS accuracy_m, 'applied' AS kind FROM generate_series(1, 4000) g;
-- The batches, written once to binary files (untimed).
CREATE OR REPLACE FUNCTION brin_prepare(iters int, passes int, dir text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE k int;
BEGIN
  FOR k IN 1..(iters * passes) LOOP
    EXECUTE format('COPY (SELECT unit_id, seq + %s, fix_at + %s, lat, lon, speed_mps, heading_deg, accuracy_m, kind FROM batchsrc) TO %L WITH (FORMAT binary)', k * 4000, k * 1000000, dir || '/b' || k || '.bin');
  END LOOP;
END $$;
-- brin_copy(table, pass, iterations, folder): pass `pass`'s batches COPY'd in, timed.
CREATE OR REPLACE FUNCTION brin_copy(tbl text, pass int, iters int, dir text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; k int;
BEGIN
  t0 := clock_timestamp();
  FOR k IN ((pass - 1) * iters + 1)..(pass * iters) LOOP
    EXECUTE format('COPY %I FROM %L WITH (FORMAT binary)', tbl, dir || '/b' || k || '.bin');
  END LOOP;
  RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / (iters * 4000);
END $$;
SELECT brin_prepare(50, 5, :'dir');
SELECT pass,
       round(brin_copy('t_btree', pass, 50, :'dir')::numeric, 2) AS btree_us_per_row,
       round(brin_copy('t_brin', pass, 50, :'dir')::numeric, 2) AS brin_us_per_row,
       round(brin_copy('t_pk', pass, 50, :'dir')::numeric, 2) AS pk_only_us_per_row
FROM generate_series(1, 5) AS pass;
