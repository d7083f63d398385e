-- How often each worker promised a heartbeat (a third of its lease), so that readers can tell a
-- worker that went silent (killed, frozen, cut off; no clean stop) from one that is alive:
-- silent once its last heartbeat is more than three periods old. Rows of workers registered
-- before this column existed get the default lease's period (60 s / 3).
ALTER TABLE s1b_workers ADD COLUMN heartbeat_secs DOUBLE PRECISION NOT NULL DEFAULT 20;
