-- The retention job deletes by age across every unit.
CREATE INDEX unit_positions_fix_at ON unit_positions (fix_at);
