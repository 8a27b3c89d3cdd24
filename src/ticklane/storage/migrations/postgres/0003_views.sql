-- Human-readable views for psql users: timestamps as timestamptz, prices as numeric.
CREATE VIEW tick_data_readable AS
SELECT exchange, symbol,
       to_timestamp(ts_event / 1e9) AS "timestamp",
       ts_event, trade_id,
       price::numeric / 1000000000 AS price,
       quantity::numeric / 100000000 AS quantity,
       CASE side WHEN 1 THEN 'buy' WHEN 2 THEN 'sell' ELSE 'none' END AS side,
       is_buyer_maker
FROM tick_data;
