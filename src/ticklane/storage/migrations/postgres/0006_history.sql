-- Historical data (data-manager fetch and backfill): jobs and their chunks, so a job resumes
-- after a crash without fetching a finished chunk again; the cost ledger of paid requests;
-- and where each stored stretch of ticks came from (provenance). Times are UTC ns.
CREATE TABLE backfill_jobs (
    id             bigserial PRIMARY KEY,
    kind           text    NOT NULL,  -- fetch, backfill, fill-gaps
    source         text    NOT NULL,
    exchange       text    NOT NULL,
    symbols        text    NOT NULL,  -- comma-separated
    schema         text    NOT NULL,
    dataset        text    NOT NULL DEFAULT '',  -- Databento's, when it is the source
    start_ns       bigint  NOT NULL,
    end_ns         bigint  NOT NULL,
    state          text    NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'interrupted')),
    chunks_total   bigint  NOT NULL DEFAULT 0,
    chunks_done    bigint  NOT NULL DEFAULT 0,
    rows_stored    bigint  NOT NULL DEFAULT 0,
    rows_duplicate bigint  NOT NULL DEFAULT 0,
    rows_rejected  bigint  NOT NULL DEFAULT 0,
    cost_usd       numeric NOT NULL DEFAULT 0,
    error          text,
    owner          text  NOT NULL DEFAULT '',  -- host:pid of the process running it
    created_ns     bigint  NOT NULL,
    updated_ns     bigint  NOT NULL
);

CREATE TABLE backfill_chunks (
    job_id         bigint  NOT NULL REFERENCES backfill_jobs (id) ON DELETE CASCADE,
    seq            bigint  NOT NULL,
    exchange       text    NOT NULL,
    symbol         text    NOT NULL,
    start_ns       bigint  NOT NULL,
    end_ns         bigint  NOT NULL,
    state          text    NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    rows_stored    bigint  NOT NULL DEFAULT 0,
    rows_duplicate bigint  NOT NULL DEFAULT 0,
    rows_rejected  bigint  NOT NULL DEFAULT 0,
    cost_usd       numeric NOT NULL DEFAULT 0,
    detail         text    NOT NULL DEFAULT '',
    error          text,
    fetches        bigint  NOT NULL DEFAULT 0,  -- times its download started
    finished_ns    bigint,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE cost_ledger (
    id            bigserial PRIMARY KEY,
    ts_ns         bigint  NOT NULL,
    job_id        bigint,
    source        text    NOT NULL,
    dataset       text    NOT NULL DEFAULT '',
    schema        text    NOT NULL DEFAULT '',
    exchange      text    NOT NULL,
    symbol        text    NOT NULL,
    start_ns      bigint  NOT NULL,
    end_ns        bigint  NOT NULL,
    records       bigint,
    bytes         bigint,
    estimated_usd numeric NOT NULL,
    actual_usd    numeric,
    outcome       text    NOT NULL CHECK (outcome IN ('estimate', 'refused', 'fetched', 'failed')),
    detail        text    NOT NULL DEFAULT ''
);
CREATE INDEX cost_ledger_ts ON cost_ledger (ts_ns);

CREATE TABLE tick_provenance (
    id         bigserial PRIMARY KEY,
    exchange   text    NOT NULL,
    symbol     text    NOT NULL,
    start_ns   bigint  NOT NULL,
    end_ns     bigint  NOT NULL,
    kind       text    NOT NULL CHECK (kind IN ('live', 'archive', 'rest', 'databento', 'import')),
    source     text    NOT NULL,
    detail     text    NOT NULL DEFAULT '',
    rows       bigint  NOT NULL DEFAULT 0,
    job_id     bigint,
    created_ns bigint  NOT NULL
);
CREATE INDEX tick_provenance_instrument ON tick_provenance (exchange, symbol, start_ns);
