-- Vulnerability findings (feature "vulnerabilities"): the latest observation of each
-- (console, endpoint, application, version, CVE), its lifecycle status, and every status change.
--
-- `fid` is the stable public id (`FindingKey::finding_id`) as a signed 64-bit integer: the text
-- form is 'f' followed by its 16 hex digits. An integer keeps its unique index small, which
-- matters because hash ids arrive in random order.
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
    -- Set by a page that reopens the finding (to the status it had), cleared by the same page
    -- once the transition is written; never set outside a transaction.
    reopen_from         TEXT,
    PRIMARY KEY (console, agent_id, application, application_version, cve_id)
);

CREATE UNIQUE INDEX findings_fid ON findings (fid);
CREATE INDEX findings_status ON findings (console, status);
CREATE INDEX findings_kev ON findings (console) WHERE kev = 1;
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
