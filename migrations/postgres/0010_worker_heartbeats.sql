-- Workers say they are alive: each running `hangar worker` or `hangar serve`
-- with embedded workers refreshes its row every third of a lease, and
-- removes it when it stops. /metrics counts the fresh ones.
CREATE TABLE workers (
    id         TEXT PRIMARY KEY,
    labels     TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL
);
