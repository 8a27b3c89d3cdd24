"""The two command-line apps, ``data-manager`` and ``trading-core``."""
