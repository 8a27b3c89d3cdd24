-- Bars as a vendor published them (Databento's ohlcv-1s/1m/1h/1d), for instruments or
-- stretches whose ticks ticklane does not hold. Prices and volume are scaled integers as in
-- tick_data (price * 1e9, volume * 1e8); a bar covers [open_time, open_time + its timeframe).
CREATE TABLE bars (
    exchange   TEXT    NOT NULL,
    symbol     TEXT    NOT NULL,
    timeframe  TEXT    NOT NULL,  -- 1s, 1m, 1h, 1d, ...
    open_time  INTEGER NOT NULL,  -- UTC ns
    open       INTEGER NOT NULL CHECK (open > 0),
    high       INTEGER NOT NULL CHECK (high > 0),
    low        INTEGER NOT NULL CHECK (low > 0),
    close      INTEGER NOT NULL CHECK (close > 0),
    volume     INTEGER NOT NULL CHECK (volume >= 0),
    tick_count INTEGER NOT NULL CHECK (tick_count >= 0),  -- 0 when the vendor does not say
    source     TEXT    NOT NULL,  -- who published it: databento, ...
    PRIMARY KEY (exchange, symbol, timeframe, open_time)
) WITHOUT ROWID;
