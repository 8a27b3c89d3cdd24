"""Loading, overriding and validating the configuration, with real files in tmp_path."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import platformdirs
import pytest
from pydantic import ValidationError

from ticklane.config import (
    AccountsConfig,
    Settings,
    configure_logging,
    format_duration,
    load_settings,
    load_settings_switching_off,
    parse_duration,
    redact_url,
)
from ticklane.core.errors import ConfigError

REPO_CONFIG_DIR = Path(__file__).resolve().parents[3] / "config"

DB_PASSWORD = "s3cret-db-pw"
REDIS_PASSWORD = "s3cret-redis-pw"
API_KEY = "db-APIKEY-123456"
SECRET_ENV = {
    "DATABASE_URL": f"postgresql://trader:{DB_PASSWORD}@db.internal:5432/ticks",
    "REDIS_URL": f"redis://:{REDIS_PASSWORD}@cache.internal:6379/0",
    "DATABENTO_API_KEY": API_KEY,
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current directory, so no ./config or ./.env from the repository is seen."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path, run_mode: str | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, run_mode=run_mode, environ={})
    return str(info.value)


# -- the shipped files ---------------------------------------------------------------------


@pytest.mark.parametrize("run_mode", ["development", "production", "test"])
def test_each_shipped_config_file_loads_cleanly(run_mode: str, workdir: Path) -> None:
    path = REPO_CONFIG_DIR / f"{run_mode}.toml"
    settings = load_settings(path, run_mode=run_mode, environ={})
    assert settings.config_file == path
    assert settings.run_mode == run_mode
    assert settings.symbols
    assert settings.database.min_connections <= settings.database.max_connections


def test_every_key_in_shipped_files_has_a_comment() -> None:
    for path in sorted(REPO_CONFIG_DIR.glob("*.toml")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            stripped = line.strip()
            if "=" in stripped and not stripped.startswith(("#", "[", '"')):
                previous = lines[number - 1].strip()
                assert previous.startswith("#"), f"{path.name}:{number + 1} has no comment"


def test_development_file_maps_reference_strategies_to_their_accounts(workdir: Path) -> None:
    settings = load_settings(REPO_CONFIG_DIR / "development.toml", environ={})
    accounts = settings.accounts
    assert accounts.account_for_strategy("momentum") == "SIM-AGGRESSIVE"
    assert accounts.account_for_strategy("rsi") == "SIM-CONSERVATIVE"
    assert accounts.account_for_strategy("unlisted") == "SIM-001"
    assert accounts.simulation[1].initial_balance == Decimal("200000")


# -- choosing the file ---------------------------------------------------------------------


def test_run_mode_variable_chooses_the_file_under_current_config_dir(workdir: Path) -> None:
    write(workdir / "config" / "development.toml", 'symbols = ["DEVUSDT"]\n')
    write(workdir / "config" / "test.toml", 'symbols = ["TESTUSDT"]\n')

    assert load_settings(environ={}).symbols == ("DEVUSDT",)
    chosen = load_settings(environ={"RUN_MODE": "test"})
    assert chosen.symbols == ("TESTUSDT",)
    assert chosen.run_mode == "test"
    assert chosen.config_file == workdir / "config" / "test.toml"


def test_run_mode_argument_beats_run_mode_variable(workdir: Path) -> None:
    write(workdir / "config" / "production.toml", 'symbols = ["PRODUSDT"]\n')
    settings = load_settings(run_mode="production", environ={"RUN_MODE": "test"})
    assert settings.symbols == ("PRODUSDT",)


def test_unknown_run_mode_is_rejected_with_allowed_modes(workdir: Path) -> None:
    with pytest.raises(ConfigError, match=r"'prodution'.*development, production, test"):
        load_settings(environ={"RUN_MODE": "prodution"})


def test_config_dir_variable_beats_current_config_dir(workdir: Path) -> None:
    write(workdir / "config" / "development.toml", 'symbols = ["LOCAL"]\n')
    custom = write(workdir / "elsewhere" / "development.toml", 'symbols = ["CUSTOM"]\n')
    settings = load_settings(environ={"DATA_MANAGER_CONFIG_DIR": str(custom.parent)})
    assert settings.symbols == ("CUSTOM",)


def test_explicit_file_beats_config_dir_variable(workdir: Path) -> None:
    write(workdir / "dir" / "development.toml", 'symbols = ["FROMDIR"]\n')
    explicit = write(workdir / "mine.toml", 'symbols = ["EXPLICIT"]\n')
    settings = load_settings(explicit, environ={"DATA_MANAGER_CONFIG_DIR": str(workdir / "dir")})
    assert settings.symbols == ("EXPLICIT",)


def test_missing_explicit_file_is_named(workdir: Path) -> None:
    missing = workdir / "nope.toml"
    with pytest.raises(ConfigError, match=re.escape(str(missing))):
        load_settings(missing, environ={})


def test_missing_config_dir_is_named(workdir: Path) -> None:
    with pytest.raises(ConfigError, match="DATA_MANAGER_CONFIG_DIR=/no/such/dir"):
        load_settings(environ={"DATA_MANAGER_CONFIG_DIR": "/no/such/dir"})


def test_config_dir_without_the_run_mode_file_is_named(workdir: Path) -> None:
    write(workdir / "dir" / "development.toml", "")
    with pytest.raises(ConfigError, match=r"holds no test\.toml"):
        load_settings(environ={"DATA_MANAGER_CONFIG_DIR": str(workdir / "dir"), "RUN_MODE": "test"})


def test_no_file_anywhere_gives_complete_sqlite_memory_only_defaults(workdir: Path) -> None:
    settings = load_settings(environ={})
    assert settings.config_file is None
    assert settings.database.backend == "sqlite"
    expected = Path(platformdirs.user_data_dir("ticklane")) / "ticks.sqlite3"
    assert settings.database.sqlite_file() == expected
    assert not settings.cache.redis.enabled
    assert settings.cache.memory.max_ticks_per_symbol == 1000
    assert settings.storage.partition_interval == timedelta(days=1)
    assert settings.storage.compress_after == timedelta(days=7)
    assert settings.paper_trading.initial_capital == Decimal("10000")
    assert settings.accounts.all_account_ids() == ("SIM-001",)
    assert settings.logging.level == "INFO"
    assert settings.databento.api_key is None


# -- environment and .env ------------------------------------------------------------------


def test_env_variable_beats_dotenv_which_beats_the_file(workdir: Path) -> None:
    path = write(workdir / "c.toml", '[database]\nurl = "postgresql://u@file-host/db"\n')
    write(workdir / ".env", "DATABASE_URL=postgresql://u@dotenv-host/db\n")

    from_dotenv = load_settings(path, environ={})
    assert from_dotenv.database.url_value() == "postgresql://u@dotenv-host/db"

    from_env = load_settings(path, environ={"DATABASE_URL": "postgresql://u@env-host/db"})
    assert from_env.database.url_value() == "postgresql://u@env-host/db"


def test_real_environment_beats_dotenv_for_every_variable(workdir: Path) -> None:
    write(workdir / "config" / "test.toml", 'symbols = ["TEST"]\n')
    write(workdir / "config" / "production.toml", 'symbols = ["PROD"]\n')
    write(workdir / ".env", "RUN_MODE=test\nREDIS_URL=redis://dotenv:6379\nLOG_LEVEL=debug\n")
    settings = load_settings(
        environ={"RUN_MODE": "production", "REDIS_URL": "redis://env:6379", "LOG_LEVEL": "error"}
    )
    assert settings.symbols == ("PROD",)
    assert settings.cache.redis.url_value() == "redis://env:6379"
    assert settings.logging.level == "ERROR"


def test_dotenv_alone_sets_run_mode_and_urls(workdir: Path) -> None:
    write(workdir / "config" / "test.toml", 'symbols = ["TEST"]\n')
    write(workdir / ".env", "RUN_MODE=test\nREDIS_URL=redis://127.0.0.1:6379\n")
    settings = load_settings(environ={})
    assert settings.run_mode == "test"
    assert settings.cache.redis.enabled


def test_explicit_dotenv_path_is_read_and_missing_one_is_named(workdir: Path) -> None:
    dotenv = write(workdir / "secrets" / "app.env", "DATABENTO_API_KEY=from-file\n")
    settings = load_settings(environ={}, dotenv_path=dotenv)
    assert settings.databento.require_api_key() == "from-file"
    missing = workdir / "missing.env"
    with pytest.raises(ConfigError, match=re.escape(str(missing))):
        load_settings(environ={}, dotenv_path=missing)


def test_empty_env_variable_counts_as_unset(workdir: Path) -> None:
    settings = load_settings(environ={"DATABASE_URL": "", "REDIS_URL": ""})
    assert settings.database.backend == "sqlite"
    assert not settings.cache.redis.enabled


def test_log_variables_override_file_levels_and_merge_per_logger(workdir: Path) -> None:
    path = write(
        workdir / "c.toml",
        '[logging]\nlevel = "info"\n[logging.levels]\npsycopg = "error"\nwebsockets = "info"\n',
    )
    settings = load_settings(
        path, environ={"LOG_LEVEL": "warn", "TICKLANE_LOG": "ticklane=debug,psycopg=warning"}
    )
    assert settings.logging.level == "WARNING"
    assert settings.logging.levels == {
        "psycopg": "WARNING",
        "websockets": "INFO",
        "ticklane": "DEBUG",
    }


def test_rust_log_is_accepted_as_alias_with_bare_root_level(workdir: Path) -> None:
    settings = load_settings(environ={"RUST_LOG": "info,data_manager::ipc=trace,sqlx=warn"})
    assert settings.logging.level == "INFO"
    assert settings.logging.levels == {"data_manager.ipc": "DEBUG", "sqlx": "WARNING"}


def test_ticklane_log_wins_over_rust_log(workdir: Path) -> None:
    settings = load_settings(environ={"TICKLANE_LOG": "ticklane=error", "RUST_LOG": "sqlx=warn"})
    assert settings.logging.levels == {"ticklane": "ERROR"}


def test_bad_level_in_log_variable_names_the_variable(workdir: Path) -> None:
    with pytest.raises(ConfigError, match=r"RUST_LOG: entry 'sqlx=loud'.*must be one of"):
        load_settings(environ={"RUST_LOG": "sqlx=loud"})


def test_bad_database_url_from_env_names_variable_without_echoing_it(workdir: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"DATABASE_URL": f"mysql://u:{DB_PASSWORD}@h/db"})
    message = str(info.value)
    assert "database.url (from environment variable DATABASE_URL)" in message
    assert "must be a postgresql:// or postgres:// URL" in message
    assert DB_PASSWORD not in message


# -- validation errors ---------------------------------------------------------------------


def test_unknown_key_names_file_dotted_key_and_allowed_keys(workdir: Path) -> None:
    path = write(workdir / "c.toml", "[cache.redis]\nttl_secs = 5\n")
    message = load_error(path)
    assert str(path) in message
    assert "cache.redis.ttl_secs" in message
    assert (
        "allowed keys in [cache.redis]: url, key_prefix, max_ticks_per_symbol, ttl_seconds"
        in message
    )


def test_unknown_top_level_section_lists_sections(workdir: Path) -> None:
    path = write(workdir / "c.toml", "[databse]\nmax_connections = 5\n")
    message = load_error(path)
    assert "databse: unknown key" in message
    assert "symbols, database, storage" in message
    assert "run_mode" not in message


def test_loader_only_keys_are_unknown_in_a_file(workdir: Path) -> None:
    path = write(workdir / "c.toml", 'run_mode = "production"\n')
    assert "unknown key 'run_mode'" in load_error(path)


def test_out_of_range_value_names_file_key_and_allowed_range(workdir: Path) -> None:
    path = write(workdir / "c.toml", "[cache.redis]\nttl_seconds = 0\n")
    message = load_error(path)
    assert str(path) in message
    assert "cache.redis.ttl_seconds: got 0; must be an integer >= 1" in message


def test_wrong_type_is_rejected_not_coerced(workdir: Path) -> None:
    path = write(workdir / "c.toml", '[database]\nmax_connections = "5"\n')
    assert "database.max_connections: got '5'; must be an integer >= 1" in load_error(path)


def test_percent_threshold_above_hundred_names_both_bounds(workdir: Path) -> None:
    path = write(workdir / "c.toml", "[alerting]\nchannel_backpressure_threshold = 120.0\n")
    message = load_error(path)
    assert "alerting.channel_backpressure_threshold: got 120.0" in message
    assert "must be a number >= 0 and <= 100" in message


def test_bad_duration_names_key_and_accepted_units(workdir: Path) -> None:
    path = write(workdir / "c.toml", '[storage]\npartition_interval = "1 day"\n')
    message = load_error(path)
    assert "storage.partition_interval" in message
    assert "units w, d, h, m, s" in message


def test_section_written_as_value_is_rejected_as_not_a_table(workdir: Path) -> None:
    path = write(workdir / "c.toml", "database = 5\n")
    assert "database: got 5; must be a table" in load_error(path, run_mode="test")


def test_errors_in_array_of_tables_name_the_index(workdir: Path) -> None:
    path = write(
        workdir / "c.toml",
        '[[accounts.simulation]]\nid = "A"\ncurrency = "usdt"\ninitial_balance = "1"\n',
    )
    message = load_error(path)
    assert "accounts.simulation[0].currency" in message
    assert "upper-case" in message


def test_invalid_toml_names_file_and_line(workdir: Path) -> None:
    path = write(workdir / "c.toml", 'symbols = ["BTCUSDT"]\n\n[database\nmax_connections = 5\n')
    message = load_error(path)
    assert f"{path}:3:" in message
    assert "invalid TOML" in message


def test_min_connections_above_max_is_rejected(workdir: Path) -> None:
    path = write(workdir / "c.toml", "[database]\nmax_connections = 2\nmin_connections = 3\n")
    message = load_error(path)
    assert str(path) in message
    assert "database: min_connections (3) must be <= max_connections (2)" in message


def test_duplicate_account_ids_are_rejected(workdir: Path) -> None:
    path = write(
        workdir / "c.toml",
        '[accounts.default]\nid = "A"\ncurrency = "USDT"\ninitial_balance = "1"\n'
        '[[accounts.simulation]]\nid = "A"\ncurrency = "USDT"\ninitial_balance = "1"\n',
    )
    assert "account id 'A' is used by more than one account" in load_error(path)


def test_strategy_assigned_to_two_simulation_accounts_is_rejected() -> None:
    config = AccountsConfig.with_default("MAIN", "USDT", 100_000).add_simulation_account(
        "A", "USDT", "1", ["rsi"]
    )
    with pytest.raises(ConfigError, match="strategy 'rsi' is assigned to both 'A' and 'B'"):
        config.add_simulation_account("B", "USDT", "1", ["rsi"])


def test_api_key_written_in_file_is_refused(workdir: Path) -> None:
    path = write(workdir / "c.toml", '[databento]\napi_key = "abc"\n')
    message = load_error(path)
    assert "databento.api_key must not be written in a file" in message
    assert "DATABENTO_API_KEY" in message
    assert "abc" not in message


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.database.max_connections = 50


# -- secrets -------------------------------------------------------------------------------


def test_secrets_absent_from_repr_str_and_dump(workdir: Path) -> None:
    settings = load_settings(environ=SECRET_ENV)
    rendered = [
        repr(settings),
        str(settings),
        settings.model_dump_json(),
        str(settings.model_dump()),
    ]
    for text in rendered:
        for secret in (DB_PASSWORD, REDIS_PASSWORD, API_KEY):
            assert secret not in text
    assert "postgresql://trader:***@db.internal:5432/ticks" in repr(settings)
    assert settings.database.url_value() == SECRET_ENV["DATABASE_URL"]
    assert settings.cache.redis.url_value() == SECRET_ENV["REDIS_URL"]
    assert settings.databento.require_api_key() == API_KEY


def test_secrets_absent_from_log_record_of_logged_settings(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(environ=SECRET_ENV)
    with caplog.at_level(logging.INFO, logger="ticklane.test"):
        logging.getLogger("ticklane.test").info("settings: %s %r", settings, settings.database)
    (record,) = caplog.records
    for secret in (DB_PASSWORD, REDIS_PASSWORD, API_KEY):
        assert secret not in record.getMessage()


def test_redact_url_masks_password_and_password_query_parameters() -> None:
    assert redact_url("postgresql://user:pw@host/db") == "postgresql://user:***@host/db"
    assert redact_url("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert redact_url("postgresql://h/db?password=pw&sslmode=require") == (
        "postgresql://h/db?password=***&sslmode=require"
    )
    assert redact_url("postgresql://user@host/db") == "postgresql://user@host/db"


# -- accounts and decimals -----------------------------------------------------------------


def test_accounts_builder_returns_new_instances_and_falls_back_to_default() -> None:
    base = AccountsConfig.with_default("MAIN", "USDT", Decimal("100000"))
    aggressive = base.add_simulation_account("AGGRESSIVE", "USDT", 50_000, ["momentum"])
    both = aggressive.add_simulation_account("CONSERVATIVE", "USDT", "200000", ["rsi"])

    assert base.all_account_ids() == ("MAIN",)
    assert aggressive.all_account_ids() == ("MAIN", "AGGRESSIVE")
    assert both.all_account_ids() == ("MAIN", "AGGRESSIVE", "CONSERVATIVE")
    assert both.account_for_strategy("momentum") == "AGGRESSIVE"
    assert both.account_for_strategy("rsi") == "CONSERVATIVE"
    assert both.account_for_strategy("breakout") == "MAIN"


def test_initial_balance_is_an_exact_decimal_from_strings_ints_and_floats(workdir: Path) -> None:
    path = write(
        workdir / "c.toml",
        "[paper_trading]\ninitial_capital = 10000.1\n"
        '[accounts.default]\nid = "A"\ncurrency = "USDT"\ninitial_balance = "100000.10"\n'
        '[[accounts.simulation]]\nid = "B"\ncurrency = "USDT"\ninitial_balance = 50000\n',
    )
    settings = load_settings(path, environ={})
    assert settings.paper_trading.initial_capital == Decimal("10000.1")
    assert str(settings.accounts.default.initial_balance) == "100000.10"
    assert settings.accounts.simulation[0].initial_balance == Decimal(50000)


def test_non_numeric_balance_is_rejected_with_how_to_write_it(workdir: Path) -> None:
    path = write(
        workdir / "c.toml",
        '[accounts.default]\nid = "A"\ncurrency = "USDT"\ninitial_balance = "lots"\n',
    )
    message = load_error(path)
    assert "accounts.default.initial_balance" in message
    assert 'string such as "10000"' in message


# -- durations and logging -----------------------------------------------------------------


def test_durations_parse_and_format_round_trip() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("2w") == timedelta(days=14)
    assert format_duration(timedelta(days=1, hours=6)) == "1d6h"
    with pytest.raises(ValueError, match="greater than zero"):
        parse_duration("0d")


@pytest.fixture
def restore_levels() -> Iterator[None]:
    names = ["", "ticklane.cfgtest", "psycopg.cfgtest"]
    saved = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def test_configure_logging_applies_root_and_logger_levels(
    workdir: Path, restore_levels: None
) -> None:
    settings = load_settings(
        environ={"LOG_LEVEL": "error", "TICKLANE_LOG": "ticklane.cfgtest=debug,psycopg.cfgtest=off"}
    )
    configure_logging(settings)
    assert logging.getLogger().level == logging.ERROR
    assert logging.getLogger("ticklane.cfgtest").level == logging.DEBUG
    assert not logging.getLogger("psycopg.cfgtest").isEnabledFor(logging.CRITICAL)


# -- sections a process can run without ------------------------------------------------------

OFF = {"alerting": {"enabled": False}, "paper_trading": {"enabled": False}}


def test_a_bad_optional_section_is_switched_off_and_reported(workdir: Path) -> None:
    path = write(
        workdir / "c.toml",
        'symbols = ["BTCUSDT"]\n[alerting]\ninterval_secs = 0\n'
        '[paper_trading]\nenabled = true\nstrategy = "sma"\n',
    )
    settings, off = load_settings_switching_off(path, OFF, environ={})
    assert off is not None and off.sections == ("alerting",)
    assert "alerting.interval_secs: got 0" in off.problems and str(path) in off.problems
    assert not settings.alerting.enabled
    assert settings.paper_trading.enabled and settings.symbols == ("BTCUSDT",)  # the rest kept


def test_a_problem_outside_the_optional_sections_still_stops_the_load(workdir: Path) -> None:
    path = write(
        workdir / "c.toml", "[database]\nmax_conections = 3\n[alerting]\ninterval_secs = 0\n"
    )
    with pytest.raises(ConfigError, match=r"database\.max_conections"):
        load_settings_switching_off(path, OFF, environ={})


def test_a_good_file_switches_nothing_off(workdir: Path) -> None:
    path = write(workdir / "c.toml", "[alerting]\ninterval_secs = 5\n")
    settings, off = load_settings_switching_off(path, OFF, environ={})
    assert off is None and settings.alerting.enabled and settings.alerting.interval_secs == 5
