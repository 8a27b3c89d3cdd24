"""``data-manager fetch`` from Databento as a process, on each backend, against a local HTTPS
Databento serving the shared DBN files: dry run, the budget guard, the cost ledger and its
report, provenance, and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import databento
import pytest

from cli_process import REPO, Cli
from databento_server import Answer, DatabentoServer, Running, serve

DATA = "databento/python-tests/tests/data/GLBX.MDP3/test_data.trades.dbn.zst"
RANGE = ("--start", "2020-12-28", "--end", "2020-12-29")
ES = ("--exchange", "cme", "--symbols", "ESH1")


@pytest.fixture
def databento_api(shared_data: Path, tmp_path: Path) -> Iterator[Running]:
    with serve(DatabentoServer.of_shared_data(shared_data), tmp_path) as running:
        yield running


def write_config(tmp_path: Path, running: Running, per_request: str = "10") -> Path:
    """config/test.toml with Databento at the local server and ESH1 configured."""
    text = (REPO / "config" / "test.toml").read_text()
    text = text.replace('"https://hist.databento.com"', f'"{running.gateway}"')
    text = text.replace(
        'max_cost_per_request_usd = "10"', f'max_cost_per_request_usd = "{per_request}"'
    )
    text += '\n[[databento.symbols]]\nexchange = "cme"\nsymbol = "ESH1"\ndataset = "GLBX.MDP3"\n'
    path = tmp_path / f"databento-{per_request}.toml"
    path.write_text(text)
    return path


@pytest.fixture
def api_cli(cli: Cli, databento_api: Running) -> Cli:
    cli.env.update(databento_api.env())
    return cli


def recorded_trades(shared_data: Path) -> list[tuple[int, int]]:
    """(ts_event, price) of the file's trades, read by the official client."""
    store = databento.DBNStore.from_bytes((shared_data / DATA).read_bytes())
    return [(int(r.ts_event), int(r.price)) for r in store]


def gets(running: Running, endpoint: str) -> int:
    return sum(1 for _, name, _ in running.server.requests if name == endpoint)


def test_dry_run_prints_records_size_and_cost_and_fetches_nothing(
    api_cli: Cli, databento_api: Running, tmp_path: Path, shared_data: Path
) -> None:
    config = write_config(tmp_path, databento_api)
    result = api_cli.json("-c", str(config), "fetch", *ES, *RANGE, "--dry-run")
    [row] = result["estimates"]
    assert row["records"] == len(recorded_trades(shared_data))
    assert Decimal(row["cost_usd"]) == databento_api.server.expected_cost(row["bytes"]) > 0
    assert gets(databento_api, "timeseries.get_range") == 0
    stats = api_cli.json("-c", str(config), "db", "stats")
    assert stats["series"] == []
    report = api_cli.json("-c", str(config), "backfill", "cost-report")
    assert report["total_usd"] == "0"
    assert [line["estimates"] for line in report["by_symbol"]] == [1]


def test_a_fetch_over_the_budget_is_refused_with_the_figures(
    api_cli: Cli, databento_api: Running, tmp_path: Path
) -> None:
    config = write_config(tmp_path, databento_api, per_request="0.000001")
    result = api_cli.run("-c", str(config), "fetch", *ES, *RANGE)
    assert result.returncode == 4
    assert "refused by the budget" in result.stderr
    assert "exceeds the per-request budget $0.000001" in result.stderr
    assert "--yes-spend" in result.stderr
    assert gets(databento_api, "timeseries.get_range") == 0
    report = api_cli.json("-c", str(config), "backfill", "cost-report")
    assert [line["refused"] for line in report["by_month"]] == [1]
    assert api_cli.json("-c", str(config), "backfill", "status")["jobs"] == []


def test_yes_spend_fetches_stores_the_trades_and_the_ledger_sums_the_cost(
    api_cli: Cli, databento_api: Running, tmp_path: Path, shared_data: Path
) -> None:
    config = write_config(tmp_path, databento_api, per_request="0.000001")
    result = api_cli.run("-c", str(config), "fetch", *ES, *RANGE, "--yes-spend")
    assert result.returncode == 0, result.stderr
    expected = recorded_trades(shared_data)
    assert f"{len(expected)} rows stored" in result.stdout
    assert gets(databento_api, "timeseries.get_range") == 1

    stats = api_cli.json("-c", str(config), "db", "stats")
    [series] = stats["series"]
    assert (series["exchange"], series["symbol"], series["rows"]) == ("cme", "ESH1", len(expected))
    assert series["first_ts"] == min(ts for ts, _ in expected)
    [provenance] = stats["provenance"]
    assert (provenance["kind"], provenance["rows"]) == ("databento", len(expected))

    report = api_cli.json("-c", str(config), "backfill", "cost-report")
    [estimate] = [
        e for _, name, e in databento_api.server.requests if name == "metadata.get_billable_size"
    ][:1]
    assert estimate["dataset"] == "GLBX.MDP3" and estimate["symbols"] == "ESH1"
    total = Decimal(report["total_usd"])
    assert total > 0
    assert [Decimal(line["spent_usd"]) for line in report["by_symbol"]] == [total]
    assert [line["key"] for line in report["by_symbol"]] == ["cme:ESH1"]
    assert [Decimal(line["spent_usd"]) for line in report["by_day"]] == [total]

    # The same fetch again finds the job done: a new job, every row already stored.
    again = api_cli.run("-c", str(config), "fetch", *ES, *RANGE, "--yes-spend")
    assert again.returncode == 0 and f"{len(expected)} already stored" in again.stdout


def test_a_server_error_fails_the_job_and_the_ledger_records_it(
    api_cli: Cli, databento_api: Running, tmp_path: Path
) -> None:
    config = write_config(tmp_path, databento_api)
    databento_api.server.faults["timeseries.get_range"] = [
        Answer(500, b'{"detail": "internal error"}') for _ in range(10)
    ]
    result = api_cli.run("-c", str(config), "fetch", *ES, *RANGE)
    assert result.returncode == 1
    assert "internal error" in result.stderr
    job = api_cli.json("-c", str(config), "backfill", "status")["jobs"][0]
    assert job["state"] == "failed" and "internal error" in job["error"]
    ledger = api_cli.json("-c", str(config), "backfill", "cost-report")
    assert [line["failed"] for line in ledger["by_symbol"]] == [1]


def test_a_symbol_databento_does_not_carry_lists_what_is_configured(
    api_cli: Cli, databento_api: Running, tmp_path: Path
) -> None:
    config = write_config(tmp_path, databento_api)
    result = api_cli.run("-c", str(config), "fetch", "--symbols", "BTCUSDT", *RANGE)
    assert result.returncode == 1
    assert "BTCUSDT" in result.stderr and "cme:ESH1" in result.stderr


def test_without_an_api_key_the_message_names_the_variable(
    cli: Cli, databento_api: Running, tmp_path: Path
) -> None:
    config = write_config(tmp_path, databento_api)
    cli.env.pop("DATABENTO_API_KEY", None)
    cli.env["REQUESTS_CA_BUNDLE"] = str(databento_api.ca_bundle)
    result = cli.run("-c", str(config), "fetch", *ES, *RANGE, "--dry-run")
    assert result.returncode == 2 and "DATABENTO_API_KEY" in result.stderr


def test_an_unknown_schema_or_dataset_is_named(
    api_cli: Cli, databento_api: Running, tmp_path: Path
) -> None:
    config = write_config(tmp_path, databento_api)
    schema = api_cli.run("-c", str(config), "fetch", *ES, *RANGE, "--schema", "trades-2")
    assert schema.returncode != 0 and "trades-2" in schema.stderr
    dataset = api_cli.run(
        "-c", str(config), "fetch", *ES, *RANGE, "--dataset", "XXXX.NOPE", "--dry-run"
    )
    assert dataset.returncode == 1 and "XXXX.NOPE" in dataset.stderr


def test_auto_reaches_databento_last_within_the_budget_and_records_the_cost(
    api_cli: Cli, databento_api: Running, tmp_path: Path
) -> None:
    backfill = ("backfill", "fetch", "--source", "auto", *ES, *RANGE)
    tight = write_config(tmp_path, databento_api, per_request="0.000001")
    refused = api_cli.run("-c", str(tight), *backfill)
    assert refused.returncode == 1 and "refused by the budget" in refused.stderr
    assert gets(databento_api, "timeseries.get_range") == 0

    config = write_config(tmp_path, databento_api)
    result = api_cli.run("-c", str(config), *backfill)
    assert result.returncode == 0, result.stderr
    report = api_cli.json("-c", str(config), "backfill", "cost-report")
    [line] = report["by_symbol"]
    assert (line["requests"], line["refused"]) == (1, 1)
    assert Decimal(report["total_usd"]) > 0
    provenance = api_cli.json("-c", str(config), "db", "stats")["provenance"]
    assert [(p["kind"], p["rows"]) for p in provenance] == [("databento", 4)]


def test_resuming_a_paid_job_checks_the_budget_again(
    api_cli: Cli, databento_api: Running, tmp_path: Path
) -> None:
    databento_api.server.faults["timeseries.get_range"] = [
        Answer(500, b'{"detail": "internal error"}') for _ in range(10)
    ]
    config = write_config(tmp_path, databento_api)
    assert api_cli.run("-c", str(config), "fetch", *ES, *RANGE).returncode == 1
    job = api_cli.json("-c", str(config), "backfill", "status")["jobs"][0]
    assert job["state"] == "failed"
    attempts = gets(databento_api, "timeseries.get_range")

    tight = write_config(tmp_path, databento_api, per_request="0.000001")
    again = api_cli.run("-c", str(tight), "backfill", "fetch", "--job", str(job["id"]))
    assert again.returncode == 4 and "refused by the budget" in again.stderr
    assert gets(databento_api, "timeseries.get_range") == attempts  # nothing more asked


def test_a_paid_download_that_turns_out_corrupt_still_counts_as_spent(
    api_cli: Cli, databento_api: Running, tmp_path: Path
) -> None:
    databento_api.server.faults["timeseries.get_range"] = [
        Answer(200, b"\x28\xb5\x2f\xfd not a zstd frame", "application/octet-stream")
    ]
    config = write_config(tmp_path, databento_api)
    result = api_cli.run("-c", str(config), "fetch", *ES, *RANGE)
    assert result.returncode == 1
    report = api_cli.json("-c", str(config), "backfill", "cost-report")
    [line] = report["by_symbol"]
    assert line["failed"] == 1 and Decimal(report["total_usd"]) > 0
    job = api_cli.json("-c", str(config), "backfill", "status")["jobs"][0]
    assert job["state"] == "failed"


def test_ohlcv_bars_are_fetched_into_the_bars_table_and_read_back(
    api_cli: Cli, databento_api: Running, tmp_path: Path, shared_data: Path
) -> None:
    config = write_config(tmp_path, databento_api)
    path = shared_data / DATA.replace("trades", "ohlcv-1m")
    expected = list(databento.DBNStore.from_bytes(path.read_bytes()))
    result = api_cli.run("-c", str(config), "fetch", *ES, *RANGE, "--schema", "ohlcv-1m")
    assert result.returncode == 0, result.stderr
    assert f"{len(expected)} bars stored" in result.stdout

    stats = api_cli.json("-c", str(config), "db", "stats")
    assert stats["series"] == [] and stats["provenance"] == []  # bars are not ticks
    [series] = stats["bars"]
    assert (series["timeframe"], series["source"], series["bars"]) == ("1m", "databento", 4)
    read = api_cli.json("-c", str(config), "db", "bars", "cme:ESH1", "-t", "1m", *RANGE)["bars"]
    assert [b["open_time"] for b in read] == [r.ts_event for r in expected]
    assert [Decimal(b["close"]) * 10**9 for b in read] == [r.close for r in expected]
    assert [Decimal(b["volume"]) for b in read] == [r.volume for r in expected]
    table = api_cli.run("-c", str(config), "db", "bars", "cme:ESH1", *RANGE)
    assert table.returncode == 0 and "cme:ESH1 1m bars" in table.stdout

    again = api_cli.run("-c", str(config), "fetch", *ES, *RANGE, "--schema", "ohlcv-1m")
    assert again.returncode == 0 and f"{len(expected)} already stored" in again.stdout
    hourly = api_cli.run("-c", str(config), "db", "bars", "cme:ESH1", "-t", "1h", *RANGE)
    assert hourly.returncode == 1 and "no 1h bars of cme:ESH1" in hourly.stderr
