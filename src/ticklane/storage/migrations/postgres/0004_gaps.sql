-- Stretches of a live feed whose trades were not received and could not be fetched afterwards
-- (the venue's REST history did not reach back far enough, or failed). `backfill fill-gaps`
-- reads them; from_ns and to_ns are UTC ns, the gap lying strictly between them.
CREATE TABLE gaps (
    id          bigserial PRIMARY KEY,
    exchange    text        NOT NULL,
    symbol      text        NOT NULL,
    from_ns     bigint      NOT NULL,
    to_ns       bigint      NOT NULL,
    reason      text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    filled_at   timestamptz
);
CREATE INDEX gaps_instrument ON gaps (exchange, symbol, from_ns);
