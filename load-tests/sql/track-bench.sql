-- bench_json(table, iterations) and bench_arr(table, iterations): microseconds
-- per row of inserting `batchsrc` (4 000 rows) into a track-shaped table
-- `iterations` times, as `json_to_recordset` (what the writer sends) and as
-- `unnest` of arrays. Included by track-insert-cost.sql and
-- track-index-cost.sql, which create `batchsrc` and the tables.
CREATE OR REPLACE FUNCTION bench_json(tbl text, iters int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE j json; t0 timestamptz; k int;
BEGIN
  SELECT json_agg(b) INTO j FROM batchsrc b;
  EXECUTE format('TRUNCATE %I', tbl);
  t0 := clock_timestamp();
  FOR k IN 1..iters LOOP
    EXECUTE format('INSERT INTO %I SELECT r.unit_id, r.seq + $2, r.fix_at + $2, r.lat, r.lon, r.speed_mps, r.heading_deg, r.accuracy_m, r.kind FROM json_to_recordset($1) AS r(unit_id text, seq bigint, fix_at bigint, lat float8, lon float8, speed_mps float8, heading_deg float8, accuracy_m float8, kind text) ON CONFLICT (unit_id, seq) DO NOTHING', tbl) USING j, k * 4000;
  END LOOP;
  RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / (iters * 4000);
END $$;
CREATE OR REPLACE FUNCTION bench_arr(tbl text, iters int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE a text[]; b bigint[]; c bigint[]; d float8[]; e float8[]; f float8[]; g float8[]; h float8[]; i text[]; t0 timestamptz; k int;
BEGIN
  SELECT array_agg(unit_id), array_agg(seq), array_agg(fix_at), array_agg(lat), array_agg(lon), array_agg(speed_mps), array_agg(heading_deg), array_agg(accuracy_m), array_agg(kind) INTO a,b,c,d,e,f,g,h,i FROM batchsrc;
  EXECUTE format('TRUNCATE %I', tbl);
  t0 := clock_timestamp();
  FOR k IN 1..iters LOOP
    EXECUTE format('INSERT INTO %I SELECT u, s + $10, f + $10, la, lo, sp, hd, ac, ki FROM unnest($1,$2,$3,$4,$5,$6,$7,$8,$9) AS r(u, s, f, la, lo, sp, hd, ac, ki) ON CONFLICT (unit_id, seq) DO NOTHING', tbl) USING a,b,c,d,e,f,g,h,i, k * 4000;
  END LOOP;
  RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / (iters * 4000);
END $$;
