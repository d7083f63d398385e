-- s1bridge SQLite schema, version 1.
--
-- Timestamps are RFC 3339 UTC text with exactly nine fractional digits
-- (YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ), so lexical order is time order.
-- Booleans are INTEGER 0/1. Lists (ips, macs, scope, planned features) are JSON text.
-- There is deliberately no column for an API token anywhere.

CREATE TABLE consoles (
    name        TEXT PRIMARY KEY NOT NULL CHECK (name <> ''),
    description TEXT,
    url         TEXT NOT NULL,
    mode        TEXT NOT NULL,
    scope       TEXT NOT NULL DEFAULT '{"account_ids":[],"site_ids":[],"group_ids":[]}'
);

CREATE TABLE sync_runs (
    run_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    console      TEXT NOT NULL,
    status       TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    heartbeat_at TEXT,
    -- The features the run was started for (JSON list of names).
    planned      TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX sync_runs_by_console ON sync_runs (console, status);

CREATE TABLE run_features (
    run_id      INTEGER NOT NULL REFERENCES sync_runs (run_id) ON DELETE CASCADE,
    feature     TEXT NOT NULL,
    status      TEXT NOT NULL,
    reason      TEXT,
    records     INTEGER NOT NULL DEFAULT 0,
    requests    INTEGER NOT NULL DEFAULT 0,
    retries     INTEGER NOT NULL DEFAULT 0,
    errors      INTEGER NOT NULL DEFAULT 0,
    started_at  TEXT,
    finished_at TEXT,
    PRIMARY KEY (run_id, feature)
);

CREATE TABLE devices (
    console             TEXT NOT NULL,
    agent_id            TEXT NOT NULL CHECK (agent_id <> ''),
    uuid                TEXT,
    computer_name       TEXT NOT NULL,
    os_name             TEXT,
    os_type             TEXT,
    os_revision         TEXT,
    os_arch             TEXT,
    agent_version       TEXT,
    ips                 TEXT NOT NULL DEFAULT '[]',
    macs                TEXT NOT NULL DEFAULT '[]',
    external_ip         TEXT,
    last_logged_in_user TEXT,
    account_id          TEXT,
    account_name        TEXT,
    site_id             TEXT,
    site_name           TEXT,
    group_id            TEXT,
    group_name          TEXT,
    machine_type        TEXT,
    serial_number       TEXT,
    domain              TEXT,
    model_name          TEXT,
    network_status      TEXT,
    infected            INTEGER NOT NULL DEFAULT 0,
    active_threats      INTEGER NOT NULL DEFAULT 0,
    last_active_at      TEXT,
    registered_at       TEXT,
    console_updated_at  TEXT,
    is_active           INTEGER NOT NULL DEFAULT 0,
    is_decommissioned   INTEGER NOT NULL DEFAULT 0,
    is_uninstalled      INTEGER NOT NULL DEFAULT 0,
    first_seen_at       TEXT NOT NULL,
    last_seen_at        TEXT NOT NULL,
    removed_at          TEXT,
    duplicate_of        TEXT,
    -- The pass that last wrote this row (removal decisions compare against it).
    last_pass_id        INTEGER NOT NULL,
    -- The pass that last brought this device back after it had been marked removed.
    restored_pass       INTEGER,
    PRIMARY KEY (console, agent_id)
);

CREATE TABLE checkpoints (
    console        TEXT NOT NULL,
    feature        TEXT NOT NULL,
    stream         TEXT NOT NULL,
    pass_id        INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    cursor         TEXT,
    done           INTEGER NOT NULL,
    records        INTEGER NOT NULL,
    max_updated_at TEXT,
    since          TEXT,
    PRIMARY KEY (console, feature, stream)
);

CREATE TABLE watermarks (
    console      TEXT NOT NULL,
    feature      TEXT NOT NULL,
    value        TEXT,
    last_full_at TEXT,
    PRIMARY KEY (console, feature)
);
