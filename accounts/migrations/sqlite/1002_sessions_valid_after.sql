-- Access tokens and console sessions issued before this time (seconds) are
-- refused: set when a second factor is turned on, off or reset.
ALTER TABLE users ADD COLUMN sessions_valid_after BIGINT NOT NULL DEFAULT 0;
