-- s1bridge SQLite schema, version 5: AI coding agents seen in process telemetry.

-- One row per (console, device, user, agent). Evidence is a JSON list of
-- {image_path, command_line, parent} samples.
CREATE TABLE ai_detections (
    console       TEXT NOT NULL,
    agent_id      TEXT NOT NULL CHECK (agent_id <> ''),
    user_name     TEXT NOT NULL CHECK (user_name <> ''),
    agent_name    TEXT NOT NULL CHECK (agent_name <> ''),
    display_name  TEXT NOT NULL,
    computer_name TEXT NOT NULL,
    user_source   TEXT NOT NULL,
    process_user  TEXT,
    version       TEXT,
    first_seen_at TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    event_count   INTEGER NOT NULL,
    evidence      TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (console, agent_id, user_name, agent_name)
);
CREATE INDEX ai_detections_by_last_seen ON ai_detections (console, last_seen_at);

-- The time window the detections cover: [covered_from, covered_to).
CREATE TABLE ai_coverage (
    console      TEXT PRIMARY KEY NOT NULL,
    covered_from TEXT NOT NULL,
    covered_to   TEXT NOT NULL
);
