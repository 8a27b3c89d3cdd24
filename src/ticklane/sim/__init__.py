"""The simulated exchange: accounts with isolated balances, orders, fund locking and fills."""
