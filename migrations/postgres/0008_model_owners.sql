-- Who may change a model name: the account whose run registered its first
-- version (NULL: the machine's owner or an administrator; changed only by
-- administrators). Reading and serving stay open to every account.
CREATE TABLE models (
    name       TEXT PRIMARY KEY,
    owner      TEXT,
    created_at BIGINT NOT NULL
);
INSERT INTO models (name, owner, created_at)
SELECT v.name, (SELECT r.owner FROM runs r WHERE r.id = v.run_id), v.created_at
FROM model_versions v
WHERE v.version = (SELECT MIN(w.version) FROM model_versions w WHERE w.name = v.name);
