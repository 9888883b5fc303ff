-- The model registry: versions of each named model, the aliases that point
-- at them (production, staging, ...) and every move of an alias, so that a
-- promotion can be rolled back.

CREATE TABLE model_versions (
    name            TEXT NOT NULL,
    version         BIGINT NOT NULL,
    run_id          TEXT,
    task_id         TEXT,
    artifact_key    TEXT NOT NULL,
    artifact_digest TEXT NOT NULL,
    metrics         TEXT NOT NULL,
    status          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE model_aliases (
    name       TEXT NOT NULL,
    alias      TEXT NOT NULL,
    version    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (name, alias)
);

CREATE TABLE model_alias_moves (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    alias      TEXT NOT NULL,
    version    BIGINT NOT NULL,
    previous   BIGINT,
    moved_at   BIGINT NOT NULL
);
CREATE INDEX model_alias_moves_by_alias ON model_alias_moves (name, alias, moved_at);
