-- Vulnerability findings (feature "vulnerabilities"): the latest observation of each
-- (console, endpoint, application, version, CVE), its lifecycle status, and every status change.
--
-- `fid` is the stable public id (`FindingKey::finding_id`) as a signed 64-bit integer: the text
-- form is 'f' followed by its 16 hex digits. It is looked up through `finding_ids`.
CREATE TABLE findings (
    fid                 INTEGER NOT NULL,
    console             TEXT NOT NULL,
    agent_id            TEXT NOT NULL,
    application         TEXT NOT NULL,
    application_version TEXT NOT NULL,
    -- Stored upper-cased (CVE ids are case-insensitive; the finding id hashes the upper case).
    cve_id              TEXT NOT NULL,
    computer_name       TEXT,
    application_vendor  TEXT,
    console_row_id      TEXT,
    vendor_severity     TEXT,
    cvss_score          REAL,
    cvss_version        TEXT,
    published_at        TEXT,
    detected_at         TEXT,
    days_detected       INTEGER,
    console_status      TEXT,
    mark_type           TEXT,
    marked_by           TEXT,
    marked_at           TEXT,
    mark_reason         TEXT,
    extra               TEXT NOT NULL,
    priority            TEXT NOT NULL,
    -- critical 4, high 3, medium 2, low 1, info (or anything else) 0: for ordering and filters.
    priority_rank       INTEGER NOT NULL,
    -- 1 when a priority factor is named 'kev'.
    kev                 INTEGER NOT NULL,
    factors             TEXT NOT NULL,
    status              TEXT NOT NULL,
    -- The pass that set the current status.
    status_pass_id      INTEGER NOT NULL,
    -- The pass that last saw this finding.
    last_pass_id        INTEGER NOT NULL,
    first_seen_at       TEXT NOT NULL,
    last_seen_at        TEXT NOT NULL,
    fixed_at            TEXT,
    -- Set by the upsert of a page that sees a fixed/device_removed finding again (to that
    -- status); the same page then writes the transition, sets `reopened` and clears it, so it is
    -- never set outside a transaction. (Status changes stay out of the upsert itself, which
    -- keeps the per-row path away from the status index.)
    reopen_from         TEXT,
    PRIMARY KEY (console, agent_id, application, application_version, cve_id)
);

CREATE INDEX findings_status ON findings (console, status);
CREATE INDEX findings_reopen ON findings (reopen_from) WHERE reopen_from IS NOT NULL;

CREATE TABLE finding_transitions (
    -- The findings row (its rowid): history is read by it, and new findings get increasing
    -- rowids, so this index grows at its end.
    finding_ref INTEGER NOT NULL,
    finding_id  TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    at          TEXT NOT NULL,
    run_id      INTEGER NOT NULL,
    reason      TEXT NOT NULL
);

CREATE INDEX finding_transitions_finding ON finding_transitions (finding_ref, at);

-- Findings by public id. Hash ids arrive in random order, and inserting them into an index one
-- page at a time rewrites most of the index's pages for every page of findings; so the findings
-- a pass added are indexed here in bulk (sorted) when a findings pass completes, and until then
-- are found by scanning the findings stored after `finding_ids_upto.upto` (rowids only grow:
-- findings are never deleted).
CREATE TABLE finding_ids (
    fid         INTEGER PRIMARY KEY,
    finding_ref INTEGER NOT NULL
);

CREATE TABLE finding_ids_upto (upto INTEGER NOT NULL);
INSERT INTO finding_ids_upto (upto) VALUES (0);
