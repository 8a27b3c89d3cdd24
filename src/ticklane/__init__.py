"""ticklane: market data, tick storage, backtests and paper trading."""

__version__ = "0.1.0"
