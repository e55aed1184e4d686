-- Regulation: people with accounts, occurrences as append-only events, the
-- units engaged on them, and the audit trail of personal data (LGPD).

-- People who log in at the consoles. Passwords are argon2id hashes (PHC
-- strings). A user without a central works for every central.
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    role           TEXT NOT NULL,
    central_id     TEXT REFERENCES centrals (id),
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    disabled_at    BIGINT
);

-- A login's token belongs to its user, and carries the user's central.
ALTER TABLE credentials ADD COLUMN user_id TEXT REFERENCES users (id);
ALTER TABLE credentials ADD COLUMN central_id TEXT REFERENCES centrals (id);

-- Targets per priority (JSON {"vermelho": minutes, …}); absent: defaults.
ALTER TABLE central_settings ADD COLUMN response_targets TEXT;

-- One row per occurrence: what queues, boards and the response-time figures
-- read. Rewritten with each event, in the event's transaction; the events
-- below are the truth.
CREATE TABLE occurrences (
    id                 TEXT PRIMARY KEY,
    central_id         TEXT NOT NULL REFERENCES centrals (id),
    number             BIGINT NOT NULL,
    status             TEXT NOT NULL,
    priority           TEXT,
    counted            BIGINT NOT NULL,
    opened_at          BIGINT NOT NULL,       -- call received, as corrected
    regulated_at       BIGINT,                -- first regulation
    first_dispatch_at  BIGINT,
    first_on_scene_at  BIGINT,
    closed_at          BIGINT,
    version            BIGINT NOT NULL,       -- number of the last event
    updated_at         BIGINT NOT NULL,
    UNIQUE (central_id, number)
);
CREATE INDEX occurrences_status ON occurrences (central_id, status);
CREATE INDEX occurrences_opened ON occurrences (central_id, opened_at);

-- Every event of every occurrence, never updated: corrections are new rows.
-- `body` is the JSON of samu_occurrence::EventBody; the call's personal data
-- lives only in the call_received row.
CREATE TABLE occurrence_events (
    occurrence_id  TEXT NOT NULL REFERENCES occurrences (id),
    event_no       BIGINT NOT NULL,
    kind           TEXT NOT NULL,
    at             BIGINT NOT NULL,
    recorded_at    BIGINT NOT NULL,
    credential_id  TEXT NOT NULL,
    actor_label    TEXT NOT NULL,
    actor_role     TEXT NOT NULL,
    body           TEXT NOT NULL,
    PRIMARY KEY (occurrence_id, event_no)
);

-- A unit working an occurrence; the primary key makes two instances unable
-- to send one unit to two occurrences.
CREATE TABLE unit_engagements (
    unit_id        TEXT PRIMARY KEY REFERENCES units (id),
    occurrence_id  TEXT NOT NULL REFERENCES occurrences (id),
    since          BIGINT NOT NULL
);

-- Who read or wrote an occurrence's personal data, when, from where. No
-- call of the API updates or deletes a row.
CREATE TABLE audit_log (
    id             TEXT PRIMARY KEY,
    at             BIGINT NOT NULL,
    credential_id  TEXT NOT NULL,
    user_id        TEXT,
    actor          TEXT NOT NULL,
    role           TEXT NOT NULL,
    action         TEXT NOT NULL,
    occurrence_id  TEXT,
    fields         TEXT NOT NULL,             -- JSON list of field names
    remote_addr    TEXT
);
CREATE INDEX audit_log_occurrence ON audit_log (occurrence_id, at);
CREATE INDEX audit_log_at ON audit_log (at);
