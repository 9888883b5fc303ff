-- Local folders an administrator declared readable by runs as
-- data://NAME/...; `role` is the least role that may read it
-- ('user': every account, 'admin': administrators only).
CREATE TABLE data_roots (
    name TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
