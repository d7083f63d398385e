-- s1bridge SQLite schema, version 8: indicators s1bridge knows per console (issue 5).

-- One row per indicator value on one console object of one target (a batched firewall rule
-- has one row per value). `ours` = the object carries s1bridge's marker.
CREATE TABLE indicators (
    console       TEXT NOT NULL,
    target        TEXT NOT NULL CHECK (target <> ''),
    object_id     TEXT NOT NULL CHECK (object_id <> ''),
    kind          TEXT NOT NULL CHECK (kind <> ''),
    value         TEXT NOT NULL CHECK (value <> ''),
    os_type       TEXT,
    direction     TEXT,
    description   TEXT,
    ours          INTEGER NOT NULL,
    expires_at    TEXT,
    first_seen_at TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    state         TEXT NOT NULL,
    state_at      TEXT NOT NULL,
    PRIMARY KEY (console, target, object_id, kind, value)
);
CREATE INDEX indicators_by_value ON indicators (console, target, kind, value);
