-- LGPD retention: when an occurrence's personal data was erased after the
-- retention period (the clock, priorities and units stay for the figures).
ALTER TABLE occurrences ADD COLUMN personal_purged_at BIGINT;
CREATE INDEX occurrences_closed ON occurrences (closed_at);
