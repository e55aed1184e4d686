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

-- Indicator settings of a central (JSON of samu_indicators::CentralSettings;
-- absent: defaults from its population) and its programmed monthly amount
-- (seed, Annex II), in centavos.
CREATE TABLE central_settings (
    central_id                   TEXT PRIMARY KEY REFERENCES centrals (id),
    settings                     TEXT,
    programmed_monthly_centavos  BIGINT NOT NULL,
    updated_at                   BIGINT NOT NULL
);

-- One row per habilitated unit and local day, written by the daily job
-- (milliseconds, as computed; the report shows minutes).
CREATE TABLE unit_days (
    central_id       TEXT NOT NULL REFERENCES centrals (id),
    unit_id          TEXT NOT NULL REFERENCES units (id),
    day              TEXT NOT NULL,        -- YYYY-MM-DD in the central's time zone
    unit_type        TEXT NOT NULL,
    day_ms           BIGINT NOT NULL,
    in_operation_ms  BIGINT NOT NULL,
    counted_out_ms   BIGINT NOT NULL,
    out_ms           TEXT NOT NULL,        -- JSON {"reason": ms}
    in_operation     BIGINT NOT NULL,
    computed_at      BIGINT NOT NULL,
    PRIMARY KEY (unit_id, day)
);
CREATE INDEX unit_days_central ON unit_days (central_id, day);

-- One row per central and local day: was the minimum team present all day?
CREATE TABLE team_days (
    central_id   TEXT NOT NULL REFERENCES centrals (id),
    day          TEXT NOT NULL,
    day_ms       BIGINT NOT NULL,
    covered      BIGINT NOT NULL,
    short_ms     BIGINT NOT NULL,
    gaps         TEXT NOT NULL,               -- JSON list of gaps
    computed_at  BIGINT NOT NULL,
    PRIMARY KEY (central_id, day)
);
