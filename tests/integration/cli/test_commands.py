"""The command-line apps as a user runs them: help, storage commands, errors, exit codes."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cli_process import Cli


def test_data_manager_help_lists_every_command(cli_sqlite: Cli) -> None:
    result = cli_sqlite.run("--help")
    assert result.returncode == 0
    for command in ("serve", "fetch", "symbol", "db", "backfill", "import"):
        assert f" {command} " in result.stdout, command


def test_trading_core_help_lists_every_command(cli_sqlite: Cli) -> None:
    result = cli_sqlite.run("--help", program="trading-core")
    assert result.returncode == 0
    for command in ("live", "backtest", "hash-strategy"):
        assert f" {command} " in result.stdout, command


def test_migrate_twice_applies_each_migration_once(cli: Cli) -> None:
    first = cli.json("db", "migrate")["migrations"]
    second = cli.json("db", "migrate")["migrations"]
    assert first and all(m["newly_applied"] for m in first)
    assert [m["version"] for m in second] == [m["version"] for m in first]
    assert not any(m["newly_applied"] for m in second)


def test_symbols_added_listed_and_removed(cli: Cli) -> None:
    assert cli.json("symbol", "add", "--symbols", "BTCUSDT,ETHUSDT") == {"added": 2, "updated": 0}
    assert cli.json("symbol", "add", "--symbols", "ETHUSDT") == {"added": 0, "updated": 1}
    # Kraken's XBT is registered as BTC, the name the Kraken feed's records carry.
    cli.json("symbol", "add", "--symbols", "XBT/USD", "--exchange", "kraken")
    listed = cli.json("symbol", "list")
    assert [(s["exchange"], s["symbol"]) for s in listed] == [
        ("binance", "BTCUSDT"),
        ("binance", "ETHUSDT"),
        ("kraken", "BTC/USD"),
    ]
    assert [s["symbol"] for s in cli.json("symbol", "list", "--exchange", "kraken")] == ["BTC/USD"]
    assert cli.json("symbol", "remove", "--symbols", "ETHUSDT,DOGEUSDT") == {
        "removed": 1,
        "not_registered": 1,
    }
    assert [s["symbol"] for s in cli.json("symbol", "list")] == ["BTCUSDT", "BTC/USD"]
    assert cli.json("symbol", "remove", "--symbols", "XBT/USD", "--exchange", "kraken") == {
        "removed": 1,
        "not_registered": 0,
    }


def test_invalid_symbol_is_refused_naming_it(cli_sqlite: Cli) -> None:
    result = cli_sqlite.run("symbol", "add", "--symbols", "BTC USDT")
    assert result.returncode == 1
    assert "'BTC USDT' is not a valid symbol" in result.stderr


def test_stats_of_an_empty_store(cli: Cli) -> None:
    stats = cli.json("db", "stats")
    assert stats["series"] == [] and stats["backend"] in {"sqlite", "postgresql"}
    table = cli.run("db", "stats")
    assert table.returncode == 0 and "No ticks stored yet" in table.stdout


def test_compress_without_timescaledb_says_what_the_backend_offers(cli: Cli) -> None:
    result = cli.run("db", "compress")
    assert result.returncode == 3
    assert "no compression" in result.stderr
    assert ("partition" in result.stderr) or ("SQLite" in result.stderr)


def test_bad_config_value_stops_start_up_naming_file_and_key(cli_sqlite: Cli) -> None:
    config = cli_sqlite.cwd / "bad.toml"
    config.write_text("[cache.redis]\nttl_seconds = 0\n")
    result = cli_sqlite.run("-c", str(config), "db", "stats")
    assert result.returncode == 2
    assert str(config) in result.stderr and "cache.redis.ttl_seconds" in result.stderr


def test_unknown_config_key_is_refused_listing_allowed_keys(cli_sqlite: Cli) -> None:
    config = cli_sqlite.cwd / "typo.toml"
    config.write_text("[database]\nmax_conections = 5\n")
    result = cli_sqlite.run("-c", str(config), "db", "migrate")
    assert result.returncode == 2
    assert "database.max_conections" in result.stderr and "max_connections" in result.stderr
    assert "allowed keys in [database]:" in result.stderr  # the section, printed as text


def test_hash_strategy_prints_the_files_sha256(cli_sqlite: Cli, tmp_path: Path) -> None:
    strategy = tmp_path / "my_strategy.py"
    strategy.write_text("class MyStrategy:\n    pass\n")
    result = cli_sqlite.run("hash-strategy", str(strategy), program="trading-core")
    assert result.returncode == 0
    assert result.stdout.split()[0] == hashlib.sha256(strategy.read_bytes()).hexdigest()


def test_database_password_never_printed(cli_sqlite: Cli) -> None:
    cli_sqlite.env["DATABASE_URL"] = "postgresql://ticklane:s3cr3t-pw@127.0.0.1:1/nowhere"
    result = cli_sqlite.run("db", "stats")
    assert result.returncode == 1
    assert "s3cr3t-pw" not in result.stdout + result.stderr
    assert "***" in result.stderr
