-- Trades, quotes, the symbol registry and the paper-trading log, for the embedded store.
-- Prices are int64 scaled by 1e9 and quantities by 1e8 (ticklane.core.fixed); ts_* are UTC ns.

-- WITHOUT ROWID clusters rows by the key, so the one B-tree that de-duplicates also serves
-- time-range scans and the latest-price look-up. No CHECK constraints: they halve SQLite's
-- insert rate (88k vs 187k rows/s measured here), and the store validates every batch with
-- numpy before it writes (ticklane.core.columnar.validate_trades).
CREATE TABLE tick_data (
    exchange       TEXT    NOT NULL,
    symbol         TEXT    NOT NULL,
    ts_event       INTEGER NOT NULL,
    trade_id       INTEGER NOT NULL,
    price          INTEGER NOT NULL,
    quantity       INTEGER NOT NULL,
    side           INTEGER NOT NULL,
    is_buyer_maker INTEGER NOT NULL,
    PRIMARY KEY (exchange, symbol, ts_event, trade_id)
) WITHOUT ROWID;

CREATE TABLE quotes (
    exchange  TEXT    NOT NULL,
    symbol    TEXT    NOT NULL,
    ts_event  INTEGER NOT NULL,
    sequence  INTEGER NOT NULL,
    bid_price INTEGER NOT NULL,
    bid_size  INTEGER NOT NULL,
    ask_price INTEGER NOT NULL,
    ask_size  INTEGER NOT NULL,
    PRIMARY KEY (exchange, symbol, ts_event, sequence)
) WITHOUT ROWID;

CREATE TABLE symbols (
    exchange    TEXT NOT NULL,
    symbol      TEXT NOT NULL,
    base_asset  TEXT,
    quote_asset TEXT,
    tick_size   TEXT,   -- exact decimal as text
    lot_size    TEXT,
    status      TEXT NOT NULL DEFAULT 'active',
    source      TEXT NOT NULL DEFAULT 'manual',
    added_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (exchange, symbol)
);

CREATE TABLE live_strategy_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_event        INTEGER NOT NULL,
    strategy_id     TEXT    NOT NULL,
    strategy_hash   TEXT    NOT NULL,
    account_id      TEXT    NOT NULL,
    exchange        TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    event           TEXT    NOT NULL,   -- signal | order | fill | reject | state
    side            INTEGER,
    price           INTEGER,            -- scaled 1e9
    quantity        INTEGER,            -- scaled 1e8
    client_order_id TEXT,
    fee             TEXT,               -- exact decimals as text
    cash            TEXT,
    position        TEXT,
    equity          TEXT,
    realized_pnl    TEXT,
    details         TEXT                -- JSON
);
CREATE INDEX live_strategy_log_strategy_ts ON live_strategy_log (strategy_id, ts_event);
