"""Typed, frozen configuration sections and the `Settings` root that holds them.

Every section rejects unknown keys and is immutable once built. Values that may hold a
password (database and Redis URLs, the Databento API key) never appear in a repr, a str or a
dump: URLs render with the password masked and the API key as a `SecretStr`. Read the real value
with `url_value()` / `get_secret_value()` at the one place that opens the connection.

Each component is handed only its own section (`settings.database`, `settings.cache.redis`, ...).
Files, `.env` and environment overrides are handled by `ticklane.config.loader`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import platformdirs
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    SecretStr,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic_core import core_schema

from ticklane.config.accounts import (
    AccountConfig,
    AccountsConfig,
    ConfigModel,
    ExactDecimal,
    SimulationAccountConfig,
)
from ticklane.core.errors import ConfigError

__all__ = [
    "DEFAULT_RUN_MODE",
    "LOG_LEVEL_NAMES",
    "RUN_MODES",
    "AccountConfig",
    "AccountsConfig",
    "AlertingConfig",
    "BackfillConfig",
    "CacheConfig",
    "DatabaseConfig",
    "DatabentoConfig",
    "DatabentoSymbol",
    "LoggingConfig",
    "MemoryCacheConfig",
    "PaperTradingConfig",
    "RedactedUrl",
    "RedisCacheConfig",
    "RunMode",
    "Settings",
    "SimulationAccountConfig",
    "StorageConfig",
    "default_sqlite_path",
    "format_duration",
    "normalize_level",
    "parse_duration",
    "redact_url",
]

RunMode = Literal["development", "production", "test"]
RUN_MODES: tuple[RunMode, ...] = ("development", "production", "test")
DEFAULT_RUN_MODE: RunMode = "development"

# --------------------------------------------------------------------------------------------
# URLs that may hold a password
# --------------------------------------------------------------------------------------------

_SENSITIVE_QUERY_KEY = re.compile(r"pass|secret|token|key", re.IGNORECASE)
_CONNINFO_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def redact_url(url: str) -> str:
    """`url` with its password (and any password-like query parameter) replaced by ``***``.

    ``postgresql://user:pw@host/db`` -> ``postgresql://user:***@host/db``. Text that does not
    parse as a URL is masked entirely.
    """
    if "://" not in url:
        # libpq key=value form: host=... password=secret dbname=...
        return _CONNINFO_PASSWORD.sub(r"\1***", url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    query = "&".join(
        f"{name}=***" if sep and _SENSITIVE_QUERY_KEY.search(name) else f"{name}{sep}{value}"
        for name, sep, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


class RedactedUrl:
    """A connection URL whose repr and str show it with the password masked.

    `get_secret_value()` returns the real URL; `redacted` the masked one. Dumping a model
    (``model_dump``, ``model_dump_json``) also writes the masked form.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """The URL exactly as configured, password included."""
        return self._value

    @property
    def redacted(self) -> str:
        """The URL with its password replaced by ``***``."""
        return redact_url(self._value)

    @property
    def scheme(self) -> str:
        """The URL scheme in lower case (``postgresql``, ``redis``)."""
        return urlsplit(self._value).scheme.lower()

    def __repr__(self) -> str:
        return f"RedactedUrl({self.redacted!r})"

    def __str__(self) -> str:
        return self.redacted

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RedactedUrl) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._coerce,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda url: url.redacted
            ),
        )

    @classmethod
    def _coerce(cls, value: object) -> RedactedUrl:
        if isinstance(value, RedactedUrl):
            return value
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a URL string")
        text = value.strip()
        try:
            parts = urlsplit(text)
        except ValueError:
            raise ValueError("must be a well-formed URL") from None
        if not parts.scheme or not (parts.netloc or parts.path):
            raise ValueError("must be a URL with a scheme, such as scheme://host/...")
        return cls(text)


def _url_with_scheme(
    schemes: tuple[str, ...], example: str
) -> Callable[[RedactedUrl], RedactedUrl]:
    def check(url: RedactedUrl) -> RedactedUrl:
        if url.scheme not in schemes:
            *rest, last = [f"{scheme}://" for scheme in schemes]
            allowed = f"{', '.join(rest)} or {last}" if rest else last
            raise ValueError(f"must be a {allowed} URL such as {example}")
        return url

    return check


DatabaseUrl = Annotated[
    RedactedUrl,
    AfterValidator(
        _url_with_scheme(("postgresql", "postgres"), "postgresql://user:password@localhost/db")
    ),
]
RedisUrl = Annotated[
    RedactedUrl,
    AfterValidator(_url_with_scheme(("redis", "rediss", "unix"), "redis://127.0.0.1:6379")),
]
WebhookUrl = Annotated[
    RedactedUrl,
    AfterValidator(_url_with_scheme(("https", "http"), "https://hooks.slack.com/services/...")),
]

# --------------------------------------------------------------------------------------------
# Durations, paths, names
# --------------------------------------------------------------------------------------------

_DURATION_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:\d+[wdhms])+")
_DURATION_PART = re.compile(r"(\d+)([wdhms])")
_DURATION_ALLOWED = (
    'must be a duration string greater than zero such as "1d", "12h", "30m" or "1h30m" '
    "(units w, d, h, m, s)"
)


def parse_duration(text: str) -> timedelta:
    """Parse ``"1d"``, ``"12h"``, ``"1h30m"`` (units w, d, h, m, s) into a positive timedelta."""
    compact = text.strip().lower()
    if _DURATION.fullmatch(compact) is None:
        raise ValueError(_DURATION_ALLOWED)
    seconds = sum(int(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_PART.findall(compact))
    if seconds <= 0:
        raise ValueError(_DURATION_ALLOWED)
    return timedelta(seconds=seconds)


def format_duration(duration: timedelta) -> str:
    """The shortest duration string for a whole number of seconds: ``timedelta(days=1)`` -> "1d"."""
    remaining = int(duration.total_seconds())
    parts = []
    for unit, size in _DURATION_UNITS.items():
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _to_duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        if value.total_seconds() <= 0:
            raise ValueError(_DURATION_ALLOWED)
        return value
    if not isinstance(value, str):
        raise ValueError(_DURATION_ALLOWED)
    return parse_duration(value)


def _to_path(value: object) -> Path:
    if isinstance(value, Path):
        return value.expanduser()
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty path string")
    return Path(value.strip()).expanduser()


def _check_symbols(value: tuple[str, ...]) -> tuple[str, ...]:
    for symbol in value:
        if not symbol or any(ch.isspace() for ch in symbol):
            raise ValueError(f"must be a list of symbols without spaces; got {symbol!r}")
    repeated = sorted({symbol for symbol in value if value.count(symbol) > 1})
    if repeated:
        raise ValueError(f"must list each symbol once; repeated: {', '.join(repeated)}")
    return value


def _check_non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty string")
    return value


Duration = Annotated[timedelta, BeforeValidator(_to_duration)]
FilePath = Annotated[Path, BeforeValidator(_to_path)]
NonEmptyStr = Annotated[StrictStr, AfterValidator(_check_non_empty)]
Symbols = Annotated[tuple[StrictStr, ...], AfterValidator(_check_symbols)]

# --------------------------------------------------------------------------------------------
# Log levels
# --------------------------------------------------------------------------------------------

# Accepted spellings (any case) -> stdlib level name. "trace" and "warn" come from RUST_LOG;
# "OFF" silences a logger entirely.
LOG_LEVEL_NAMES = {
    "trace": "DEBUG",
    "debug": "DEBUG",
    "info": "INFO",
    "warn": "WARNING",
    "warning": "WARNING",
    "error": "ERROR",
    "critical": "CRITICAL",
    "off": "OFF",
}
_LEVEL_ALLOWED = "must be one of " + ", ".join(LOG_LEVEL_NAMES) + " (any case)"


def normalize_level(text: str) -> str:
    """The stdlib level name for `text` (``"warn"`` -> ``"WARNING"``); ValueError if unknown."""
    try:
        return LOG_LEVEL_NAMES[text.strip().lower()]
    except KeyError:
        raise ValueError(_LEVEL_ALLOWED) from None


def _check_levels(value: dict[str, str]) -> dict[str, str]:
    levels = {}
    for name, level in value.items():
        if not name.strip():
            raise ValueError("logger names must be non-empty")
        try:
            levels[name.strip()] = normalize_level(level)
        except ValueError:
            raise ValueError(f"level of logger {name!r} {_LEVEL_ALLOWED}; got {level!r}") from None
    return levels


LogLevel = Annotated[StrictStr, AfterValidator(normalize_level)]
LoggerLevels = Annotated[dict[StrictStr, StrictStr], AfterValidator(_check_levels)]

# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


def default_sqlite_path() -> Path:
    """Where the SQLite tick store lives when ``sqlite_path`` is unset."""
    return Path(platformdirs.user_data_dir("ticklane")) / "ticks.sqlite3"


class DatabaseConfig(ConfigModel):
    """Where ticks are stored: PostgreSQL when `url` is set, otherwise a SQLite file.

    Options:
        max_connections: largest PostgreSQL pool size, >= 1.
        min_connections: connections the pool keeps open, 0 to `max_connections`.
        url: PostgreSQL URL, normally from ``DATABASE_URL``; unset means SQLite.
        sqlite_path: SQLite file; unset means `default_sqlite_path()` under the user data dir.
            A relative path is relative to the current directory.
    """

    max_connections: StrictInt = Field(default=5, ge=1)
    min_connections: StrictInt = Field(default=1, ge=0)
    url: DatabaseUrl | None = None
    sqlite_path: FilePath | None = None

    @model_validator(mode="after")
    def _pool_bounds(self) -> DatabaseConfig:
        if self.min_connections > self.max_connections:
            raise ValueError(
                f"min_connections ({self.min_connections}) must be <= "
                f"max_connections ({self.max_connections})"
            )
        return self

    @property
    def backend(self) -> Literal["postgresql", "sqlite"]:
        """Which tick store this configuration selects."""
        return "postgresql" if self.url is not None else "sqlite"

    def url_value(self) -> str | None:
        """The real PostgreSQL URL, password included; None when SQLite is used."""
        return None if self.url is None else self.url.get_secret_value()

    def sqlite_file(self) -> Path:
        """The SQLite file to use: `sqlite_path`, or the default under the user data dir."""
        return self.sqlite_path if self.sqlite_path is not None else default_sqlite_path()


class StorageConfig(ConfigModel):
    """Tick-store layout (PostgreSQL partitions / TimescaleDB chunks).

    Options:
        partition_interval: time span of one partition or chunk, e.g. "1d".
        compress_after: age after which a chunk is compressed, e.g. "7d".
    """

    partition_interval: Duration = timedelta(days=1)
    compress_after: Duration = timedelta(days=7)


class MemoryCacheConfig(ConfigModel):
    """In-process cache of recent ticks.

    Options:
        max_ticks_per_symbol: ticks kept per symbol, >= 1.
        ttl_seconds: seconds a tick stays cached, >= 1.
    """

    max_ticks_per_symbol: StrictInt = Field(default=1000, ge=1)
    ttl_seconds: StrictInt = Field(default=300, ge=1)


class RedisCacheConfig(ConfigModel):
    """Shared Redis cache of recent ticks; disabled when `url` is unset.

    Options:
        url: Redis URL, normally from ``REDIS_URL``; unset means no Redis.
        max_ticks_per_symbol: ticks kept per symbol, >= 1.
        ttl_seconds: seconds a tick stays cached, >= 1.
        key_prefix: put before every key (``<prefix>ticks:<exchange>:<SYMBOL>``), so several
            deployments or test runs can share one Redis server.
    """

    url: RedisUrl | None = None
    key_prefix: StrictStr = ""
    max_ticks_per_symbol: StrictInt = Field(default=10_000, ge=1)
    ttl_seconds: StrictInt = Field(default=3600, ge=1)

    @property
    def enabled(self) -> bool:
        """True when a Redis URL is configured."""
        return self.url is not None

    def url_value(self) -> str | None:
        """The real Redis URL, password included; None when Redis is not used."""
        return None if self.url is None else self.url.get_secret_value()


class CacheConfig(ConfigModel):
    """The two cache tiers: `memory` always, `redis` when it has a URL."""

    memory: MemoryCacheConfig = MemoryCacheConfig()
    redis: RedisCacheConfig = RedisCacheConfig()


class PaperTradingConfig(ConfigModel):
    """Paper trading in live mode.

    Options:
        enabled: run the strategy against live data on the simulated exchange.
        strategy: name of the strategy to run.
        initial_capital: starting capital, an exact decimal > 0.
    """

    enabled: StrictBool = False
    strategy: NonEmptyStr = "rsi"
    initial_capital: ExactDecimal = Field(default=Decimal("10000"), gt=0)


class AlertingConfig(ConfigModel):
    """Health alerts raised from runtime metrics.

    Options:
        enabled: evaluate the alert rules.
        interval_secs: seconds between evaluations, >= 1.
        cooldown_secs: seconds before the same alert may fire again, >= 0.
        channel_backpressure_threshold: channel fill, in percent (0-100), that raises an alert.
        reconnection_storm_threshold: reconnects per evaluation interval that raise an alert.
        cache_failure_threshold: cache failures per processed tick (0-1) over an evaluation
            interval that raise an alert.
        webhook_url: Slack-compatible incoming-webhook URL that alerts are posted to; unset
            means the log only. A secret: set it from the environment (ALERT_WEBHOOK_URL).
        webhook_timeout_secs: deadline of one POST, > 0.
        webhook_retries: further attempts after a 5xx, 429, timeout or connection error.
    """

    enabled: StrictBool = True
    interval_secs: StrictInt = Field(default=30, ge=1)
    cooldown_secs: StrictInt = Field(default=300, ge=0)
    channel_backpressure_threshold: StrictFloat = Field(
        default=80.0, ge=0, le=100, allow_inf_nan=False
    )
    reconnection_storm_threshold: StrictInt = Field(default=10, ge=1)
    cache_failure_threshold: StrictFloat = Field(default=0.1, ge=0, le=1, allow_inf_nan=False)
    webhook_url: WebhookUrl | None = None
    webhook_timeout_secs: StrictFloat = Field(default=5.0, gt=0, allow_inf_nan=False)
    webhook_retries: StrictInt = Field(default=3, ge=0)


class LiveConfig(ConfigModel):
    """``trading-core live``.

    Options:
        metrics_port: port of trading-core's Prometheus endpoint, 0 for none.
        channel_capacity: trades between the IPC reader and processing, >= 1; when full the
            reader waits and the ring counts what it overwrote.
        max_future_ms: a trade stamped further ahead of the local clock is rejected.
        max_age_secs: a trade older than this is rejected; 0 accepts any age (replays).
        report_every_secs: seconds between paper-trading P&L lines, >= 1.
    """

    metrics_port: StrictInt = Field(default=9101, ge=0, le=65_535)
    channel_capacity: StrictInt = Field(default=10_000, ge=1)
    max_future_ms: StrictInt = Field(default=5_000, ge=0)
    max_age_secs: StrictInt = Field(default=60, ge=0)
    report_every_secs: StrictInt = Field(default=30, ge=1)


class WriterConfig(ConfigModel):
    """The batched store writer of ``data-manager serve --persist``.

    Options:
        batch_size: records per store write, >= 1; a full batch is written at once.
        flush_interval_secs: seconds after which a partial batch is written, > 0.
        max_pending: records waiting in memory when the store falls behind, >= batch_size;
            beyond it new records are dropped (counted and logged), the feed never blocks.
    """

    batch_size: StrictInt = Field(default=5_000, ge=1)
    flush_interval_secs: StrictFloat = Field(default=0.5, gt=0, allow_inf_nan=False)
    max_pending: StrictInt = Field(default=1_000_000, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> WriterConfig:
        if self.max_pending < self.batch_size:
            raise ValueError(
                f"max_pending ({self.max_pending}) must be >= batch_size ({self.batch_size})"
            )
        return self


class IpcConfig(ConfigModel):
    """The shared-memory ring between data-manager and trading-core.

    Options:
        name: segment name under /dev/shm, or an absolute path (a container and its host
            share /dev/shm).
        capacity: records the ring holds, a power of two >= 1024; a reader further behind
            than this loses records (counted).
    """

    name: NonEmptyStr = "ticklane"
    capacity: StrictInt = Field(default=65_536, ge=1024)

    @model_validator(mode="after")
    def _power_of_two(self) -> IpcConfig:
        if self.capacity & (self.capacity - 1):
            raise ValueError(f"capacity ({self.capacity}) must be a power of two")
        return self


class DataManagerConfig(ConfigModel):
    """``data-manager serve``.

    Options:
        metrics_port: port of the Prometheus endpoint, 0 for none.
        watchdog_secs: a feed silent this long is restarted, > 0.
        reconnect_initial_secs: first delay before reconnecting, > 0; it doubles per failed
            attempt, with random jitter, up to reconnect_max_secs.
        reconnect_max_secs: longest delay between reconnect attempts.
        writer, ipc: the sections, documented on their classes.
    """

    metrics_port: StrictInt = Field(default=9100, ge=0, le=65_535)
    watchdog_secs: StrictFloat = Field(default=30.0, gt=0, allow_inf_nan=False)
    reconnect_initial_secs: StrictFloat = Field(default=0.5, gt=0, allow_inf_nan=False)
    reconnect_max_secs: StrictFloat = Field(default=30.0, gt=0, allow_inf_nan=False)
    writer: WriterConfig = WriterConfig()
    ipc: IpcConfig = IpcConfig()


class VenueEndpoints(ConfigModel):
    """Where a venue is reached; tests and users may point it at another server.

    Options:
        ws_url: WebSocket base URL.
        rest_url: REST base URL.
        demo_ws_url, demo_rest_url: the same for ``--demo`` (the venue's test environment).
    """

    ws_url: NonEmptyStr
    rest_url: NonEmptyStr
    demo_ws_url: NonEmptyStr | None = None
    demo_rest_url: NonEmptyStr | None = None


class VenuesConfig(ConfigModel):
    """Endpoints per venue (defaults: the venues' public production and demo hosts)."""

    binance: VenueEndpoints = VenueEndpoints(
        ws_url="wss://stream.binance.com:9443",
        rest_url="https://api.binance.com",
        demo_ws_url="wss://stream.testnet.binance.vision",
        demo_rest_url="https://testnet.binance.vision",
    )
    kraken: VenueEndpoints = VenueEndpoints(
        ws_url="wss://ws.kraken.com/v2", rest_url="https://api.kraken.com"
    )
    kraken_futures: VenueEndpoints = VenueEndpoints(
        ws_url="wss://futures.kraken.com/ws/v1",
        rest_url="https://futures.kraken.com",
        demo_ws_url="wss://demo-futures.kraken.com/ws/v1",
        demo_rest_url="https://demo-futures.kraken.com",
    )


class BackfillConfig(ConfigModel):
    """``data-manager fetch`` and ``data-manager backfill``.

    Options:
        binance_archive_url: base URL of Binance's public data archive.
        retries: attempts per request after a transient error or a rate limit, >= 0.
        requests_per_second: pace of REST history requests per venue (``binance``,
            ``kraken``, ``kraken_futures``); the venues' limits are in protocols.md.
        gap_threshold_secs: a stretch without stored trades longer than this is a gap.
        gap_threshold_secs_by_symbol: the same per symbol (a quiet pair needs a longer one).
    """

    binance_archive_url: NonEmptyStr = "https://data.binance.vision"
    retries: StrictInt = Field(default=5, ge=0)
    requests_per_second: dict[StrictStr, StrictFloat] = Field(
        default_factory=lambda: {"binance": 3.0, "kraken": 1.0, "kraken_futures": 2.0}
    )
    gap_threshold_secs: StrictFloat = Field(default=300.0, gt=0, allow_inf_nan=False)
    gap_threshold_secs_by_symbol: dict[StrictStr, StrictFloat] = Field(default_factory=dict)


class LoggingConfig(ConfigModel):
    """Log levels, applied by `ticklane.config.configure_logging`.

    Options:
        level: root logger level (``LOG_LEVEL``).
        levels: per-logger levels, e.g. ``{"psycopg" = "warning"}`` (``TICKLANE_LOG``).
    """

    level: LogLevel = "INFO"
    # Libraries that log every connection and request at INFO are quieter by default.
    levels: LoggerLevels = Field(
        default_factory=lambda: {"websockets": "WARNING", "httpx": "WARNING"}
    )


class DatabentoSymbol(ConfigModel):
    """How one of our instruments is found at Databento.

    Options:
        exchange, symbol: the instrument as ticklane stores it (``cme``, ``BTCZ5``).
        dataset: the Databento dataset, e.g. ``GLBX.MDP3``.
        raw_symbol: the symbol in that dataset; defaults to ``symbol``.
        stype_in: Databento's symbology type of ``raw_symbol`` (``raw_symbol``,
            ``continuous``, ``parent``, ...).
    """

    exchange: NonEmptyStr
    symbol: NonEmptyStr
    dataset: NonEmptyStr
    raw_symbol: NonEmptyStr | None = None
    stype_in: NonEmptyStr = "raw_symbol"


class DatabentoConfig(ConfigModel):
    """Databento historical data access; the key comes only from ``DATABENTO_API_KEY``.

    Options:
        gateway: the historical API's base URL (tests point it at a local server).
        max_cost_per_request_usd: a request estimated above this is refused (without
            ``--yes-spend``).
        monthly_budget_usd: refused too when this month's spending plus the estimate would
            exceed it.
        symbols: our instruments and where Databento has them (``[[databento.symbols]]``).
    """

    api_key: SecretStr | None = None
    gateway: NonEmptyStr = "https://hist.databento.com"
    max_cost_per_request_usd: ExactDecimal = Field(default=Decimal("10"), ge=0)
    monthly_budget_usd: ExactDecimal = Field(default=Decimal("100"), ge=0)
    symbols: tuple[DatabentoSymbol, ...] = ()

    def require_api_key(self) -> str:
        """The API key; ConfigError naming the variable when it is not set."""
        if self.api_key is None:
            raise ConfigError("DATABENTO_API_KEY is not set; the Databento commands need it")
        return self.api_key.get_secret_value()


class Settings(ConfigModel):
    """The whole configuration. Hand each component only its section.

    Options:
        run_mode: which config file was chosen (``RUN_MODE``); set by the loader.
        config_file: the file loaded, or None for built-in defaults; set by the loader.
        symbols: trading pairs to monitor, e.g. ``["BTCUSDT", "ETHUSDT"]``.
        database, storage, cache, paper_trading, accounts, alerting, logging, databento,
            backfill, data_manager, venues, live: the sections, documented on their classes.
    """

    run_mode: RunMode = DEFAULT_RUN_MODE
    config_file: Path | None = None
    symbols: Symbols = ("BTCUSDT", "ETHUSDT")
    database: DatabaseConfig = DatabaseConfig()
    storage: StorageConfig = StorageConfig()
    cache: CacheConfig = CacheConfig()
    paper_trading: PaperTradingConfig = PaperTradingConfig()
    accounts: AccountsConfig = AccountsConfig()
    alerting: AlertingConfig = AlertingConfig()
    logging: LoggingConfig = LoggingConfig()
    databento: DatabentoConfig = DatabentoConfig()
    backfill: BackfillConfig = BackfillConfig()
    data_manager: DataManagerConfig = DataManagerConfig()
    venues: VenuesConfig = VenuesConfig()
    live: LiveConfig = LiveConfig()


# Keys of `Settings` filled in by the loader, never read from a file.
LOADER_KEYS = frozenset({"run_mode", "config_file"})
