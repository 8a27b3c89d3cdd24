"""Backtests: the engine over stored ticks, the portfolio, metrics and reports."""
