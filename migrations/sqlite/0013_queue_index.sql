-- The claim walks the queue in claim order and stops after a few rows: with
-- `position` in the index no claim sorts the queued rows, so its cost does
-- not grow with how many tasks are queued.
DROP INDEX task_runs_claimable;
CREATE INDEX task_runs_queue ON task_runs (status, available_at, position);
