-- Runs, task runs, attempts and task logs. Times are milliseconds since the
-- Unix epoch; JSON documents are stored as text.

CREATE TABLE runs (
    id                     TEXT PRIMARY KEY,
    pipeline               TEXT NOT NULL,
    status                 TEXT NOT NULL,
    spec_path              TEXT NOT NULL,
    spec_text              TEXT NOT NULL,
    spec_hash              TEXT NOT NULL,
    params                 TEXT NOT NULL,
    seed                   BIGINT NOT NULL,
    owner                  TEXT,
    error                  TEXT,
    cancel_requested       BIGINT NOT NULL DEFAULT 0,
    coordinator            TEXT,
    coordinator_expires_at BIGINT,
    created_at             BIGINT NOT NULL,
    started_at             BIGINT,
    finished_at            BIGINT
);
CREATE INDEX runs_by_created ON runs (created_at DESC);
CREATE INDEX runs_by_pipeline ON runs (pipeline, created_at DESC);
CREATE INDEX runs_by_status ON runs (status);

CREATE TABLE task_runs (
    run_id           TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    task_id          TEXT NOT NULL,
    position         BIGINT NOT NULL,
    operator         TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempt          BIGINT NOT NULL DEFAULT 0,
    retries          BIGINT NOT NULL,
    max_attempts     BIGINT NOT NULL,
    retry_backoff_ms BIGINT NOT NULL,
    timeout_ms       BIGINT,
    seed             BIGINT NOT NULL,
    config           TEXT,
    inputs           TEXT,
    outputs          TEXT,
    cache_key        TEXT,
    error            TEXT,
    progress         TEXT,
    queued_at        BIGINT,
    available_at     BIGINT,
    started_at       BIGINT,
    finished_at      BIGINT,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    acked            BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (run_id, task_id)
);
CREATE INDEX task_runs_claimable ON task_runs (status, available_at);
CREATE INDEX task_runs_unacked ON task_runs (run_id, acked);

CREATE TABLE task_attempts (
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    task_id     TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    status      TEXT NOT NULL,
    worker      TEXT,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    error       TEXT,
    PRIMARY KEY (run_id, task_id, attempt)
);

CREATE TABLE task_logs (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id  TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    task_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    ts      BIGINT NOT NULL,
    stream  TEXT NOT NULL,
    line    TEXT NOT NULL
);
CREATE INDEX task_logs_by_task ON task_logs (run_id, task_id, id);
