-- Notifications read the runs and the failed tasks that ended since their
-- last look, every second: by index, not by scanning every run ever made.
CREATE INDEX IF NOT EXISTS runs_finished_at ON runs (finished_at);
CREATE INDEX IF NOT EXISTS task_runs_failed_at ON task_runs (finished_at) WHERE status = 'failed';
