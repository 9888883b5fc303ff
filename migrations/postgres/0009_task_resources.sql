-- A task's own limits for its attempts' processes, as JSON
-- ({"memory_bytes", "cpu_seconds"}); NULL or unset fields: the worker's.
ALTER TABLE task_runs ADD COLUMN resources TEXT;
