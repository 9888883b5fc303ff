-- A paused schedule (enabled = 0) fires nothing; when it is resumed, the
-- times it missed while paused are not fired afterwards, catch-up or not:
-- pausing is a decision, not downtime.
ALTER TABLE schedules ADD COLUMN resumed_at BIGINT;
