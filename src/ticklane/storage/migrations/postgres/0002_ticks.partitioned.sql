-- Native declarative range partitioning on ts_event (UTC ns); partitions are created by the
-- store as data arrives (ticklane.storage.postgres), one per [storage] partition_interval.
--
-- Indexes, chosen from the queries: the primary key (exchange, symbol, ts_event, trade_id) is
-- the only B-tree. It de-duplicates, and its prefix serves "ticks of a symbol in a time range"
-- (both orders), "latest price" (a backward scan, LIMIT 1) and the keyset paging of streaming
-- reads. A BRIN index on ts_event (a few pages per partition) serves scans across symbols by
-- time, such as gap finding and stats. A second B-tree would slow ingest 1.6-3x here.

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
) PARTITION BY RANGE (ts_event);
CREATE INDEX tick_data_ts_brin ON tick_data USING brin (ts_event) WITH (pages_per_range = 32);

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
) PARTITION BY RANGE (ts_event);
CREATE INDEX quotes_ts_brin ON quotes USING brin (ts_event) WITH (pages_per_range = 32);
