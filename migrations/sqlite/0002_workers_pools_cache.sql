-- Scale-out: labels a worker must have, named pools with slots, output caching,
-- and a per-pipeline limit of active runs.

ALTER TABLE task_runs ADD COLUMN runs_on TEXT NOT NULL DEFAULT '[]';
ALTER TABLE task_runs ADD COLUMN pool TEXT;
ALTER TABLE task_runs ADD COLUMN cache BIGINT NOT NULL DEFAULT 1;
CREATE INDEX task_runs_by_cache_key ON task_runs (cache_key, status);
CREATE INDEX task_runs_by_pool ON task_runs (pool, status);

ALTER TABLE runs ADD COLUMN max_active_runs BIGINT;

CREATE TABLE pools (
    name  TEXT PRIMARY KEY,
    slots BIGINT NOT NULL
);
