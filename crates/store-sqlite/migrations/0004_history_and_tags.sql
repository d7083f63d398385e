-- The "first seen" transition of a finding is implied by the finding itself (its first_seen_at
-- and the run that first stored it), so a first sync of a million findings writes a million
-- rows, not two million. History reads synthesise it. Transitions no longer repeat the finding's
-- public id: it is the findings row's `fid`.
ALTER TABLE findings ADD COLUMN first_run_id INTEGER;

UPDATE findings SET first_run_id = (
    SELECT t.run_id FROM finding_transitions t
    WHERE t.finding_ref = findings.rowid AND t.from_status IS NULL
    ORDER BY t.rowid LIMIT 1);

DELETE FROM finding_transitions WHERE from_status IS NULL;

ALTER TABLE finding_transitions DROP COLUMN finding_id;

-- Device tags (`key=value`, or the bare value of a key-less tag), a JSON list like ips and macs:
-- criticality rules match them.
ALTER TABLE devices ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
