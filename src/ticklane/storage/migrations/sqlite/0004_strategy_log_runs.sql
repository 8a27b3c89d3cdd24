-- Paper-trading sessions in the strategy log. run_id names the session (process run) that wrote
-- a row and seq numbers the rows of a session; (run_id, seq) is unique, so a batch written
-- again after a failed commit stores nothing twice (ticklane.live.strategy_log). Rows written
-- by anything else may leave both NULL: NULLs never conflict.
ALTER TABLE live_strategy_log ADD COLUMN run_id TEXT;
ALTER TABLE live_strategy_log ADD COLUMN seq INTEGER;
CREATE UNIQUE INDEX live_strategy_log_run_seq ON live_strategy_log (run_id, seq);
-- A restart reads the rows of one strategy and account by kind, newest first (the last state).
CREATE INDEX live_strategy_log_account ON live_strategy_log (strategy_id, account_id, event, id);
