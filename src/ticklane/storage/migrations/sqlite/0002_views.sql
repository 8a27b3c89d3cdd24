-- Human-readable view for sqlite3 users: ISO timestamps and decimal prices (display only:
-- SQLite prints these as floats, the stored integers are the exact values).
CREATE VIEW tick_data_readable AS
SELECT exchange, symbol,
       strftime('%Y-%m-%dT%H:%M:%f', ts_event / 1000000000.0, 'unixepoch') || 'Z' AS "timestamp",
       ts_event, trade_id,
       price / 1000000000.0 AS price,
       quantity / 100000000.0 AS quantity,
       CASE side WHEN 1 THEN 'buy' WHEN 2 THEN 'sell' ELSE 'none' END AS side,
       is_buyer_maker
FROM tick_data;
