-- A task with `map:` runs as instances `ID[0]`, `ID[1]`, … added to the run
-- when its items are known; the task's own row counts them.
ALTER TABLE task_runs ADD COLUMN map_size INTEGER;
