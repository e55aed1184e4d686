-- The central's team on duty, and the stored results of the daily job.

-- Clock-in/clock-out of the regulation room's staff. Reachable-only
-- professionals ("alcançáveis") are recorded but never counted.
CREATE TABLE staff_presence (
    id              TEXT PRIMARY KEY,
    central_id      TEXT NOT NULL REFERENCES centrals (id),
    member_id       TEXT NOT NULL,
    role            TEXT NOT NULL,             -- physician | tarm | radio_operator
    reachable_only  BIGINT NOT NULL,
    started_at      BIGINT NOT NULL,
    ended_at        BIGINT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX staff_presence_period ON staff_presence (central_id, started_at);
CREATE INDEX staff_presence_open ON staff_presence (central_id, member_id, role, ended_at);

-- One row per habilitated unit and local day, written by the daily job.
CREATE TABLE unit_days (
    central_id            TEXT NOT NULL REFERENCES centrals (id),
    unit_id               TEXT NOT NULL REFERENCES units (id),
    day                   TEXT NOT NULL,        -- YYYY-MM-DD in the central's time zone
    unit_type             TEXT NOT NULL,
    minutes_in_operation  BIGINT NOT NULL,
    minutes_out           TEXT NOT NULL,        -- JSON {"reason": minutes}
    in_operation          BIGINT NOT NULL,
    computed_at           BIGINT NOT NULL,
    PRIMARY KEY (unit_id, day)
);
CREATE INDEX unit_days_central ON unit_days (central_id, day);

-- One row per central and local day: was the minimum team present all day?
CREATE TABLE team_days (
    central_id     TEXT NOT NULL REFERENCES centrals (id),
    day            TEXT NOT NULL,
    covered        BIGINT NOT NULL,
    minutes_short  BIGINT NOT NULL,
    gaps           TEXT NOT NULL,               -- JSON list of gaps
    computed_at    BIGINT NOT NULL,
    PRIMARY KEY (central_id, day)
);
