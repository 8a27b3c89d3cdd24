"""One bar aggregator for backtests and live trading, with a historical and a real-time driver."""
