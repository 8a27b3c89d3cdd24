"""Strategies: the interface, built-ins, the registry and loading user strategies from files."""
