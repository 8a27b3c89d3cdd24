-- Bars as a vendor published them (Databento's ohlcv-1s/1m/1h/1d), for instruments or
-- stretches whose ticks ticklane does not hold. Prices and volume are scaled integers as in
-- tick_data (price * 1e9, volume * 1e8); a bar covers [open_time, open_time + its timeframe).
-- The primary key de-duplicates and serves "bars of a series in a time range".
CREATE TABLE bars (
    exchange   text    NOT NULL,
    symbol     text    NOT NULL,
    timeframe  text    NOT NULL,  -- 1s, 1m, 1h, 1d, ...
    open_time  bigint  NOT NULL,  -- UTC ns
    open       bigint  NOT NULL CHECK (open > 0),
    high       bigint  NOT NULL CHECK (high > 0),
    low        bigint  NOT NULL CHECK (low > 0),
    close      bigint  NOT NULL CHECK (close > 0),
    volume     bigint  NOT NULL CHECK (volume >= 0),
    tick_count integer NOT NULL CHECK (tick_count >= 0),  -- 0 when the vendor does not say
    source     text    NOT NULL,  -- who published it: databento, ...
    PRIMARY KEY (exchange, symbol, timeframe, open_time)
);
