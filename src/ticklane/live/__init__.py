"""Live trading: market data from the IPC ring, validation, the cache, paper trading."""
