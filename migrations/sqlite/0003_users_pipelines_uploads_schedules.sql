-- The server's catalog: accounts and refresh tokens, stored pipelines and
-- their versions, uploaded files, and cron schedules with the times they fired.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    name          TEXT,
    organization  TEXT,
    position      TEXT,
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Refresh tokens are stored as hashes; a family is one login's chain of
-- rotations, revoked whole when a used token is presented again.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);

CREATE TABLE pipelines (
    name         TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    current_hash TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE pipeline_versions (
    pipeline   TEXT NOT NULL REFERENCES pipelines (name) ON DELETE CASCADE,
    hash       TEXT NOT NULL,
    spec_text  TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (pipeline, hash)
);

CREATE TABLE uploads (
    id           TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    digest       TEXT NOT NULL,
    artifact_key TEXT NOT NULL,
    files        TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX uploads_by_owner ON uploads (owner, created_at);

CREATE TABLE schedules (
    id              TEXT PRIMARY KEY,
    pipeline        TEXT NOT NULL REFERENCES pipelines (name) ON DELETE CASCADE,
    owner           TEXT NOT NULL,
    cron            TEXT NOT NULL,
    timezone        TEXT NOT NULL,
    catchup         BIGINT NOT NULL,
    max_active_runs BIGINT,
    params          TEXT NOT NULL,
    source          TEXT NOT NULL,
    enabled         BIGINT NOT NULL DEFAULT 1,
    created_at      BIGINT NOT NULL,
    last_fire       BIGINT
);

-- One row per (schedule, logical time): the unique key that makes firing
-- exactly-once however many schedulers race for it.
CREATE TABLE schedule_fires (
    schedule_id  TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    logical_time BIGINT NOT NULL,
    run_id       TEXT,
    error        TEXT,
    fired_at     BIGINT NOT NULL,
    PRIMARY KEY (schedule_id, logical_time)
);

CREATE INDEX runs_by_owner ON runs (owner, created_at);
CREATE INDEX task_runs_by_finished ON task_runs (finished_at);
