-- The track without its foreign key to `units`.
--
-- Every fix the writer stores checked its unit in `units` (PostgreSQL runs
-- a key-share lookup per inserted row), which was a quarter to a third of
-- the cost of each track insert, measured on PostgreSQL 15 with the table's
-- own indexes (4 000-row batches: load-tests/sql/track-insert-cost.sql and
-- BENCHMARKS.md, "The track without its foreign key"). The check guards
-- nothing the server does not already guarantee: the writer stores fixes
-- only of units in the fleet, which is loaded from `units`, and units are
-- never deleted (they are retired by their habilitation period). `unit_live_state` and
-- `unit_status_events`, one row per unit or per status change, keep theirs.
--
-- SQLite cannot drop a constraint, so the table is rebuilt the portable way
-- (create, copy, drop, rename): one pass over the track, once.
CREATE TABLE unit_positions_next (
    unit_id      TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    fix_at       BIGINT NOT NULL,
    lat          DOUBLE PRECISION NOT NULL,
    lon          DOUBLE PRECISION NOT NULL,
    speed_mps    DOUBLE PRECISION,
    heading_deg  DOUBLE PRECISION,
    accuracy_m   DOUBLE PRECISION,
    kind         TEXT NOT NULL,              -- applied | stale | flagged
    PRIMARY KEY (unit_id, seq)
);

INSERT INTO unit_positions_next (unit_id, seq, fix_at, lat, lon, speed_mps, heading_deg, accuracy_m, kind)
SELECT unit_id, seq, fix_at, lat, lon, speed_mps, heading_deg, accuracy_m, kind FROM unit_positions;

DROP TABLE unit_positions;
ALTER TABLE unit_positions_next RENAME TO unit_positions;

CREATE INDEX unit_positions_time ON unit_positions (unit_id, fix_at);
-- The retention job deletes by age across every unit.
CREATE INDEX unit_positions_fix_at ON unit_positions (fix_at);
