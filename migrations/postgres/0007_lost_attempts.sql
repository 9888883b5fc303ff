-- An attempt lost to a dead or cut-off worker is the platform's failure,
-- not the task's: it is run again without counting against `retries`,
-- at most `max_lost_attempts` times (then against `retries`).
ALTER TABLE task_runs ADD COLUMN lost_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE task_runs ADD COLUMN max_lost_attempts BIGINT NOT NULL DEFAULT 3;
