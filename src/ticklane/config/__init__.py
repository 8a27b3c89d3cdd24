"""Typed, validated configuration: `load_settings()` builds a frozen `Settings`.

Each component receives only its section (``settings.database``, ``settings.cache.redis``, ...).
See `ticklane.config.loader` for where values come from and in which order.
"""

from ticklane.config.accounts import AccountConfig, AccountsConfig, SimulationAccountConfig
from ticklane.config.loader import (
    SectionsOff,
    configure_logging,
    find_config_file,
    load_settings,
    load_settings_switching_off,
)
from ticklane.config.settings import (
    DEFAULT_RUN_MODE,
    RUN_MODES,
    AlertingConfig,
    CacheConfig,
    DatabaseConfig,
    DatabentoConfig,
    LoggingConfig,
    MemoryCacheConfig,
    PaperTradingConfig,
    RedactedUrl,
    RedisCacheConfig,
    RunMode,
    Settings,
    StorageConfig,
    default_sqlite_path,
    format_duration,
    parse_duration,
    redact_url,
)

__all__ = [
    "DEFAULT_RUN_MODE",
    "RUN_MODES",
    "AccountConfig",
    "AccountsConfig",
    "AlertingConfig",
    "CacheConfig",
    "DatabaseConfig",
    "DatabentoConfig",
    "LoggingConfig",
    "MemoryCacheConfig",
    "PaperTradingConfig",
    "RedactedUrl",
    "RedisCacheConfig",
    "RunMode",
    "SectionsOff",
    "Settings",
    "SimulationAccountConfig",
    "StorageConfig",
    "configure_logging",
    "default_sqlite_path",
    "find_config_file",
    "format_duration",
    "load_settings",
    "load_settings_switching_off",
    "parse_duration",
    "redact_url",
]
