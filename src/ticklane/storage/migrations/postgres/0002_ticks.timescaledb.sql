-- TimescaleDB hypertables on an integer time column (UTC ns). Chunks are {partition_interval_ns}
-- wide; compression segments by instrument and orders by time, so a compressed chunk still
-- answers "ticks of a symbol in a range" without decompressing other symbols.
-- Same key and indexes as the partitioned layout (see 0002_ticks.partitioned.sql).

CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE tick_data (
    exchange       text     NOT NULL,
    symbol         text     NOT NULL,
    ts_event       bigint   NOT NULL,
    trade_id       bigint   NOT NULL,
    price          bigint   NOT NULL CHECK (price > 0),
    quantity       bigint   NOT NULL CHECK (quantity > 0),
    side           smallint NOT NULL CHECK (side IN (0, 1, 2)),
    is_buyer_maker boolean  NOT NULL,
    PRIMARY KEY (exchange, symbol, ts_event, trade_id)
);
SELECT create_hypertable('tick_data', 'ts_event',
    chunk_time_interval => {partition_interval_ns}::bigint, create_default_indexes => false);

CREATE TABLE quotes (
    exchange  text   NOT NULL,
    symbol    text   NOT NULL,
    ts_event  bigint NOT NULL,
    sequence  bigint NOT NULL,
    bid_price bigint NOT NULL CHECK (bid_price > 0),
    bid_size  bigint NOT NULL CHECK (bid_size >= 0),
    ask_price bigint NOT NULL CHECK (ask_price > 0),
    ask_size  bigint NOT NULL CHECK (ask_size >= 0),
    PRIMARY KEY (exchange, symbol, ts_event, sequence)
);
SELECT create_hypertable('quotes', 'ts_event',
    chunk_time_interval => {partition_interval_ns}::bigint, create_default_indexes => false);

-- Policies on an integer time column need to know "now" in the same unit.
CREATE OR REPLACE FUNCTION ticklane_now_ns() RETURNS bigint LANGUAGE sql STABLE AS
    $$ SELECT (extract(epoch FROM now()) * 1000000000)::bigint $$;
SELECT set_integer_now_func('tick_data', 'ticklane_now_ns');
SELECT set_integer_now_func('quotes', 'ticklane_now_ns');

ALTER TABLE tick_data SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'exchange, symbol',
    timescaledb.compress_orderby = 'ts_event DESC, trade_id DESC');
ALTER TABLE quotes SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'exchange, symbol',
    timescaledb.compress_orderby = 'ts_event DESC, sequence DESC');
