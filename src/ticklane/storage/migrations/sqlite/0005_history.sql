-- Historical data (data-manager fetch and backfill): jobs and their chunks, so a job resumes
-- after a crash without fetching a finished chunk again; the cost ledger of paid requests;
-- and where each stored stretch of ticks came from (provenance). Times are UTC ns.
CREATE TABLE backfill_jobs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    kind           TEXT    NOT NULL,  -- fetch, backfill, fill-gaps
    source         TEXT    NOT NULL,
    exchange       TEXT    NOT NULL,
    symbols        TEXT    NOT NULL,  -- comma-separated
    schema         TEXT    NOT NULL,
    dataset        TEXT    NOT NULL DEFAULT '',  -- Databento's, when it is the source
    start_ns       INTEGER NOT NULL,
    end_ns         INTEGER NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'interrupted')),
    chunks_total   INTEGER NOT NULL DEFAULT 0,
    chunks_done    INTEGER NOT NULL DEFAULT 0,
    rows_stored    INTEGER NOT NULL DEFAULT 0,
    rows_duplicate INTEGER NOT NULL DEFAULT 0,
    rows_rejected  INTEGER NOT NULL DEFAULT 0,
    cost_usd       TEXT    NOT NULL DEFAULT '0',
    error          TEXT,
    owner          TEXT  NOT NULL DEFAULT '',  -- host:pid of the process running it
    created_ns     INTEGER NOT NULL,
    updated_ns     INTEGER NOT NULL
);

CREATE TABLE backfill_chunks (
    job_id         INTEGER NOT NULL REFERENCES backfill_jobs (id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    exchange       TEXT    NOT NULL,
    symbol         TEXT    NOT NULL,
    start_ns       INTEGER NOT NULL,
    end_ns         INTEGER NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    rows_stored    INTEGER NOT NULL DEFAULT 0,
    rows_duplicate INTEGER NOT NULL DEFAULT 0,
    rows_rejected  INTEGER NOT NULL DEFAULT 0,
    cost_usd       TEXT    NOT NULL DEFAULT '0',
    detail         TEXT    NOT NULL DEFAULT '',
    error          TEXT,
    fetches        INTEGER NOT NULL DEFAULT 0,  -- times its download started
    finished_ns    INTEGER,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE cost_ledger (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ns         INTEGER NOT NULL,
    job_id        INTEGER,
    source        TEXT    NOT NULL,
    dataset       TEXT    NOT NULL DEFAULT '',
    schema        TEXT    NOT NULL DEFAULT '',
    exchange      TEXT    NOT NULL,
    symbol        TEXT    NOT NULL,
    start_ns      INTEGER NOT NULL,
    end_ns        INTEGER NOT NULL,
    records       INTEGER,
    bytes         INTEGER,
    estimated_usd TEXT    NOT NULL,
    actual_usd    TEXT,
    outcome       TEXT    NOT NULL CHECK (outcome IN ('estimate', 'refused', 'fetched', 'failed')),
    detail        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX cost_ledger_ts ON cost_ledger (ts_ns);

CREATE TABLE tick_provenance (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    exchange   TEXT    NOT NULL,
    symbol     TEXT    NOT NULL,
    start_ns   INTEGER NOT NULL,
    end_ns     INTEGER NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('live', 'archive', 'rest', 'databento', 'import')),
    source     TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT '',
    rows       INTEGER NOT NULL DEFAULT 0,
    job_id     INTEGER,
    created_ns INTEGER NOT NULL
);
CREATE INDEX tick_provenance_instrument ON tick_provenance (exchange, symbol, start_ns);
