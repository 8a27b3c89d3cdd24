"""``trading-core backtest`` as a user runs it: over imported ticks, on each backend."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from cli_process import REPO, Cli

START_S = 1_704_067_200  # 2024-01-01T00:00:00Z


def _write_day_of_trades(path: Path, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    minutes = np.repeat(np.arange(6 * 60), rng.poisson(3, size=6 * 60))
    ts_ms = np.sort(START_S * 1000 + minutes * 60_000 + rng.integers(0, 60_000, len(minutes)))
    cents = 4_000_000 + np.cumsum(rng.integers(-500, 501, size=len(ts_ms)))
    lines = ["timestamp,price,quantity,side,trade_id"]
    lines += [
        f"{t},{c // 100}.{c % 100:02d},0.01,{'buy' if i % 2 else 'sell'},{i + 1}"
        for i, (t, c) in enumerate(zip(ts_ms.tolist(), cents.tolist(), strict=True))
    ]
    path.write_text("\n".join(lines) + "\n")


def _import(cli: Cli) -> None:
    _write_day_of_trades(cli.cwd / "day.csv")
    cli.json("import", "day.csv", "--exchange", "binance", "--symbol", "BTCUSDT")


def backtest(cli: Cli, *args: str):  # type: ignore[no-untyped-def]
    return cli.run("backtest", "--symbol", "BTCUSDT", *args, program="trading-core")


def test_backtest_over_imported_ticks_writes_a_json_result(cli: Cli) -> None:
    _import(cli)
    run = backtest(
        cli,
        "--strategy",
        "sma",
        "--param",
        "short_period=5",
        "--param",
        "long_period=20",
        "--param",
        "quantity=0.05",
        "--capital",
        "50000",
        "--output",
        "result.json",
    )
    assert run.returncode == 0, run.stderr
    result = json.loads((cli.cwd / "result.json").read_text())
    assert result["ticks"] > 500 and result["bars"] >= 359
    assert result["total_trades"] > 0 and result["parameters"]["short_period"] == 5
    assert {"final_equity", "metrics", "trades", "equity_curve"} <= result.keys()
    assert {"sharpe_ratio", "max_drawdown", "win_rate", "profit_factor"} <= result["metrics"].keys()
    assert "final equity" in run.stdout and "Sharpe ratio" in run.stdout
    bars = result["metrics"]["max_drawdown_duration_bars"]
    assert bars > 0 and f"({bars:,} bars)" in run.stdout  # the longest drawdown, reported
    curve = result["equity_curve"]
    assert len(curve) == result["bars"] and all(isinstance(ts, int) for ts, _ in curve)
    assert curve[-1][1] == result["metrics"]["final_equity"]  # exact text, as short as it is


def test_user_strategy_file_runs_and_its_hash_is_recorded(cli_sqlite: Cli) -> None:
    _import(cli_sqlite)
    strategy = REPO / "examples" / "strategies" / "breakout.py"
    run = backtest(cli_sqlite, "--strategy", str(strategy), "--output", "r.json")
    assert run.returncode == 0, run.stderr
    result = json.loads((cli_sqlite.cwd / "r.json").read_text())
    assert result["strategy_hash"] == hashlib.sha256(strategy.read_bytes()).hexdigest()
    hashed = cli_sqlite.run("hash-strategy", str(strategy), program="trading-core")
    assert hashed.stdout.split()[0] == result["strategy_hash"]


def test_range_without_ticks_says_so_and_fails(cli_sqlite: Cli) -> None:
    _import(cli_sqlite)
    run = backtest(cli_sqlite, "--strategy", "sma", "--start", "2023-01-01", "--end", "2023-02-01")
    assert run.returncode == 1
    assert "no ticks for BTCUSDT.binance between" in run.stderr


def test_symbol_never_stored_says_so(cli_sqlite: Cli) -> None:
    run = backtest(cli_sqlite, "--strategy", "sma")
    assert run.returncode == 1 and "no ticks stored for BTCUSDT.binance" in run.stderr


def test_unknown_strategy_lists_the_available_ones(cli_sqlite: Cli) -> None:
    run = backtest(cli_sqlite, "--strategy", "momentum")
    assert run.returncode == 1
    assert "momentum" in run.stderr and "sma" in run.stderr and "rsi" in run.stderr


def test_parameter_out_of_range_names_it_and_the_range(cli_sqlite: Cli) -> None:
    run = backtest(cli_sqlite, "--strategy", "rsi", "--param", "overbought=150")
    assert run.returncode == 1 and "overbought" in run.stderr and "150" in run.stderr


def test_unknown_parameter_lists_the_allowed_ones(cli_sqlite: Cli) -> None:
    run = backtest(cli_sqlite, "--strategy", "sma", "--param", "fast=3")
    assert run.returncode == 1 and "fast='3'" in run.stderr and "short_period" in run.stderr


def test_capital_with_an_accounts_file_is_refused_naming_where_balances_come_from(
    cli_sqlite: Cli,
) -> None:
    accounts = cli_sqlite.cwd / "accounts.toml"
    accounts.write_text(
        '[accounts.default]\nid = "MAIN"\ncurrency = "USDT"\ninitial_balance = "50000"\n'
    )
    run = backtest(cli_sqlite, "--strategy", "sma", "--capital", "999", "--accounts", str(accounts))
    assert run.returncode == 2
    assert "--capital 999" in run.stderr and "initial_balance" in run.stderr


def test_strategy_file_that_fails_to_import_is_named(cli_sqlite: Cli) -> None:
    broken = cli_sqlite.cwd / "broken.py"
    broken.write_text("import numpy\nraise RuntimeError('no API key configured')\n")
    run = backtest(cli_sqlite, "--strategy", str(broken))
    assert run.returncode == 1
    assert "broken.py" in run.stderr and "no API key configured" in run.stderr


def test_malformed_accounts_file_is_refused_before_any_work(cli_sqlite: Cli) -> None:
    accounts = cli_sqlite.cwd / "accounts.toml"
    accounts.write_text(
        '[accounts.default]\nid = "MAIN"\ncurrency = "USDT"\ninitial_balance = "-5"\n'
    )
    run = backtest(cli_sqlite, "--strategy", "sma", "--accounts", str(accounts))
    assert run.returncode == 2
    assert "accounts.default.initial_balance" in run.stderr


def test_list_shows_every_strategy_with_parameters(cli_sqlite: Cli) -> None:
    run = cli_sqlite.run("backtest", "--list", program="trading-core")
    assert run.returncode == 0
    for name in ("sma", "rsi", "macd", "bollinger", "short_period", "overbought"):
        assert name in run.stdout
    assert "overbought (float, default 70.0, 0 to 100)" in run.stdout  # bounds are shown


def test_two_strategies_run_together_each_on_its_own_account(cli_sqlite: Cli) -> None:
    _import(cli_sqlite)
    accounts = cli_sqlite.cwd / "accounts.toml"
    accounts.write_text(
        '[accounts.default]\nid = "MAIN"\ncurrency = "USDT"\ninitial_balance = "50000"\n\n'
        '[[accounts.simulation]]\nid = "RSI"\ncurrency = "USDT"\ninitial_balance = "20000"\n'
        'strategies = ["rsi"]\n'
    )
    run = backtest(
        cli_sqlite,
        "--strategy", "sma", "--strategy", "rsi",
        "--param", "sma.short_period=5", "--param", "sma.quantity=0.05",
        "--param", "rsi.period=7",
        "--accounts", str(accounts), "--output", "both.json",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    sma, rsi = json.loads((cli_sqlite.cwd / "both.json").read_text())["results"]
    assert (sma["strategy"], sma["account_id"], sma["initial_capital"]) == ("sma", "MAIN", "50000")
    assert (rsi["strategy"], rsi["account_id"], rsi["initial_capital"]) == ("rsi", "RSI", "20000")
    assert sma["parameters"]["short_period"] == 5 and rsi["parameters"]["period"] == 7
    assert sma["ticks"] == rsi["ticks"] > 500  # the same ticks, read once
    # sma's result is the one it gets alone
    alone = backtest(
        cli_sqlite,
        "--strategy", "sma", "--param", "short_period=5", "--param", "quantity=0.05",
        "--accounts", str(accounts), "--output", "sma.json",
    )  # fmt: skip
    assert alone.returncode == 0, alone.stderr
    assert json.loads((cli_sqlite.cwd / "sma.json").read_text()) == sma


def test_parameter_without_its_strategy_is_refused_when_several_run(cli_sqlite: Cli) -> None:
    run = backtest(cli_sqlite, "--strategy", "sma", "--strategy", "rsi", "--param", "period=7")
    assert run.returncode == 2
    assert "'period=7' does not name its strategy" in run.stderr and "sma, rsi" in run.stderr


def test_two_strategies_on_one_account_are_refused(cli_sqlite: Cli) -> None:
    _import(cli_sqlite)
    run = backtest(cli_sqlite, "--strategy", "sma", "--strategy", "rsi")
    assert run.returncode != 0
    assert "sma and rsi both trade account" in run.stderr
