-- Idempotency keys of console commands: a console that got no answer (the
-- server died, the network dropped) sends the same command again with the
-- same key, and the server answers with the occurrence instead of recording
-- the event twice. Keys are per credential (one login session) and only
-- need to outlive the retries: the retention job drops them after a day.
CREATE TABLE command_keys (
    credential_id  TEXT NOT NULL,
    request_key    TEXT NOT NULL,
    occurrence_id  TEXT NOT NULL REFERENCES occurrences (id),
    event_no       BIGINT NOT NULL,
    kind           TEXT NOT NULL,
    recorded_at    BIGINT NOT NULL,
    PRIMARY KEY (credential_id, request_key)
);

CREATE INDEX command_keys_recorded_at ON command_keys (recorded_at);
