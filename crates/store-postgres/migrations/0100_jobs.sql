-- The job queue of the scale-out mode (s1bridge worker). See ARCHITECTURE.md, "The job model".

CREATE TABLE s1b_jobs (
    job_id        BIGSERIAL PRIMARY KEY,
    console       TEXT NOT NULL,
    features      TEXT[] NOT NULL,
    -- The schedule tick (cron time before jitter) or when an operator asked.
    scheduled_for TIMESTAMPTZ NOT NULL,
    -- Claimable from (tick + jitter).
    not_before    TIMESTAMPTZ NOT NULL,
    trigger       TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    state         TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'skipped')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    worker        TEXT,
    worker_owner  TEXT,
    lease_until   TIMESTAMPTZ,
    heartbeat_at  TIMESTAMPTZ,
    run_id        BIGINT,
    run_status    TEXT,
    last_error    TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,
    -- One tick of one console is enqueued once, however many schedulers race.
    CONSTRAINT s1b_jobs_one_per_tick UNIQUE (console, scheduled_for),
    CHECK (state <> 'running' OR (worker IS NOT NULL AND lease_until IS NOT NULL))
);

-- One console is never synced by two workers at once (its rate budget is per token): at most
-- one running job per console, enforced by the database whatever the claimers race.
CREATE UNIQUE INDEX s1b_jobs_one_running_per_console ON s1b_jobs (console) WHERE state = 'running';
CREATE INDEX s1b_jobs_claimable ON s1b_jobs (not_before, job_id) WHERE state = 'queued';
CREATE INDEX s1b_jobs_by_console ON s1b_jobs (console, scheduled_for DESC);

CREATE TABLE s1b_workers (
    worker       TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    concurrency  INTEGER NOT NULL,
    version      TEXT NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    stopped_at   TIMESTAMPTZ,
    scheduler    BOOLEAN NOT NULL DEFAULT false
);
