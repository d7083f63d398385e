-- s1bridge PostgreSQL schema, version 2: indicators s1bridge knows per console (issue 5), the
-- same table as SQLite's migration 8. One row per indicator value on one console object of one
-- target (a batched firewall rule has one row per value). `ours` = the object carries
-- s1bridge's marker.
CREATE TABLE indicators (
    console       TEXT COLLATE "C" NOT NULL,
    target        TEXT COLLATE "C" NOT NULL CHECK (target <> ''),
    object_id     TEXT COLLATE "C" NOT NULL CHECK (object_id <> ''),
    kind          TEXT COLLATE "C" NOT NULL CHECK (kind <> ''),
    value         TEXT COLLATE "C" NOT NULL CHECK (value <> ''),
    os_type       TEXT COLLATE "C",
    direction     TEXT,
    description   TEXT,
    ours          BOOLEAN NOT NULL,
    expires_at    TIMESTAMPTZ,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at  TIMESTAMPTZ NOT NULL,
    state         TEXT NOT NULL,
    state_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (console, target, object_id, kind, value)
);
CREATE INDEX indicators_by_value ON indicators (console, target, kind, value);
