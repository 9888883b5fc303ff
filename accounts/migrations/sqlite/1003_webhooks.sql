-- Webhooks: where an account wants its runs' events POSTed, the hosts an
-- administrator allows them to point at, and every delivery with its attempts.
CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    url        TEXT NOT NULL,
    -- JSON array of event names this webhook gets for every run of its owner.
    events     TEXT NOT NULL,
    -- The HMAC key the events are signed with (the receiver holds it too).
    secret     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, name)
);

CREATE TABLE webhook_hosts (
    host       TEXT PRIMARY KEY,
    added_at   BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    -- What happened, once: a second server noticing the same event inserts nothing.
    event_key       TEXT NOT NULL,
    event           TEXT NOT NULL,
    run_id          TEXT,
    task_id         TEXT,
    body            TEXT NOT NULL,
    -- pending, delivered or failed (given up).
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT,
    UNIQUE (webhook_id, event_key)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_of ON webhook_deliveries (webhook_id, created_at);
