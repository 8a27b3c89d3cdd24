-- Stretches of a live feed whose trades were not received and could not be fetched afterwards
-- (the venue's REST history did not reach back far enough, or failed). `backfill fill-gaps`
-- reads them; from_ns and to_ns are UTC ns, the gap lying strictly between them.
CREATE TABLE gaps (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    exchange    TEXT    NOT NULL,
    symbol      TEXT    NOT NULL,
    from_ns     INTEGER NOT NULL,
    to_ns       INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    recorded_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    filled_at   TEXT
);
CREATE INDEX gaps_instrument ON gaps (exchange, symbol, from_ns);
