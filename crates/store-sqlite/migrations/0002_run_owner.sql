-- Which process runs a sync ("host:pid"), so that a run whose process died can be recognised
-- and abandoned at once instead of after its heartbeat goes stale.
ALTER TABLE sync_runs ADD COLUMN owner TEXT;
