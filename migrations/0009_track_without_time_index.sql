-- The track without its (unit_id, fix_at) index.
--
-- The only read of a unit's track takes every row of that unit
-- (`Store::track`: `WHERE unit_id = ? ORDER BY fix_at, seq`), which the
-- primary key's (unit_id, seq) prefix finds as well, and one unit's rows
-- sort in memory. The index cost every stored fix a third B-tree insert:
-- about a fifth of PostgreSQL's time per track row in 4 000-row batches
-- (load-tests/sql/track-insert-cost.sql, BENCHMARKS.md). The retention
-- job keeps its own index on fix_at.
DROP INDEX unit_positions_time;
