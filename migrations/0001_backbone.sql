-- The central's backbone: registry, credentials, unit history and live state.
--
-- One schema for PostgreSQL and SQLite: only portable types (TEXT, BIGINT,
-- DOUBLE PRECISION), times as BIGINT milliseconds since the Unix epoch (UTC),
-- flags as BIGINT 0/1. Keys are natural (unit id + per-unit number) so a
-- resent report can never be stored twice.

CREATE TABLE centrals (
    id          TEXT PRIMARY KEY,          -- IBGE code of the seat municipality
    name        TEXT NOT NULL,
    time_zone   TEXT NOT NULL,
    population  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE municipalities (
    ibge        TEXT PRIMARY KEY,
    central_id  TEXT NOT NULL REFERENCES centrals (id),
    name        TEXT NOT NULL
);

CREATE TABLE bases (
    id          TEXT PRIMARY KEY,
    central_id  TEXT NOT NULL REFERENCES centrals (id),
    name        TEXT NOT NULL,
    lat         DOUBLE PRECISION NOT NULL,
    lon         DOUBLE PRECISION NOT NULL
);

CREATE TABLE units (
    id                TEXT PRIMARY KEY,
    central_id        TEXT NOT NULL REFERENCES centrals (id),
    unit_type         TEXT NOT NULL,       -- USB, USA, MOTO, VIR, AERO, EMB
    base_id           TEXT REFERENCES bases (id),
    label             TEXT NOT NULL,
    habilitated_from  BIGINT NOT NULL,     -- counts for the indicators from here
    retired_at        BIGINT               -- and until here
);
CREATE INDEX units_central ON units (central_id);

-- Professionals by opaque id only: the central needs roles, not identities.
CREATE TABLE crew_members (
    id          TEXT PRIMARY KEY,
    role        TEXT NOT NULL,
    first_seen  BIGINT NOT NULL
);

-- Who was aboard which unit when, derived from the crews' reports.
CREATE TABLE crew_shifts (
    unit_id     TEXT NOT NULL REFERENCES units (id),
    member_id   TEXT NOT NULL,
    role        TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT,
    PRIMARY KEY (unit_id, member_id, started_at)
);
CREATE INDEX crew_shifts_open ON crew_shifts (unit_id, member_id, ended_at);

-- Tokens of devices (role 'device', bound to a unit), people and walls.
-- Only the SHA-256 of a token is kept.
CREATE TABLE credentials (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL,
    unit_id     TEXT REFERENCES units (id),
    label       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT
);

-- Every change of a unit's effective status, reason or crew completeness.
-- The indicators are computed from this history.
CREATE TABLE unit_status_events (
    unit_id                TEXT NOT NULL REFERENCES units (id),
    event_no               BIGINT NOT NULL,
    at                     BIGINT NOT NULL,
    status                 TEXT NOT NULL,
    out_of_service_reason  TEXT,
    crew_complete          BIGINT NOT NULL,
    source                 TEXT NOT NULL,   -- crew | signal | central
    recorded_at            BIGINT NOT NULL,
    PRIMARY KEY (unit_id, event_no)
);
CREATE INDEX unit_status_events_at ON unit_status_events (at);

-- The downsampled position track (rule: docs/architecture.md, "Position track").
CREATE TABLE unit_positions (
    unit_id      TEXT NOT NULL REFERENCES units (id),
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
CREATE INDEX unit_positions_time ON unit_positions (unit_id, fix_at);

-- The live state of each unit as of the last write: restored on start.
CREATE TABLE unit_live_state (
    unit_id                TEXT PRIMARY KEY REFERENCES units (id),
    last_seq               BIGINT NOT NULL,
    fix_at                 BIGINT,
    lat                    DOUBLE PRECISION,
    lon                    DOUBLE PRECISION,
    speed_mps              DOUBLE PRECISION,
    heading_deg            DOUBLE PRECISION,
    accuracy_m             DOUBLE PRECISION,
    last_heard             BIGINT,
    reported_status        TEXT NOT NULL,
    out_of_service_reason  TEXT,
    no_signal              BIGINT NOT NULL,
    status_since           BIGINT NOT NULL,
    last_report_at         BIGINT,
    crew                   TEXT NOT NULL,   -- JSON [{"id": "...", "role": "..."}]
    event_no               BIGINT NOT NULL,
    last_kept_fix_at       BIGINT,
    updated_at             BIGINT NOT NULL
);
