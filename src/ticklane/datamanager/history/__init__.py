"""Historical data: sources (Databento, the Binance archive, venue REST), backfill jobs, the
cost ledger and gap filling, behind ``data-manager fetch`` and ``data-manager backfill``."""
