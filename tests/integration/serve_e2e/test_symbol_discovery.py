"""``data-manager symbol discover --provider binance`` against the local venue serving the
recorded 2021 exchangeInfo (1,695 symbols); then the registry refuses a symbol the venue does
not list, in ``symbol add`` and in ``serve`` before any connection is made."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from serve_e2e_support import free_port, serve_config

from ticklane.venues.sim.server import LocalVenue

from cli_process import BIN, Cli

LISTED = 1_695  # symbols in the recorded exchangeInfo (its README)
DEADLINE_S = 120.0


async def run_cli(cli: Cli, config: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(BIN / "data-manager"), "-c", str(config), *args,
        cwd=cli.cwd, env=cli.env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(DEADLINE_S):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def test_discovered_symbols_fill_the_registry_and_an_unlisted_one_is_refused(
    backend_cli: Cli, segment: str, shared_data: Path
) -> None:
    dump = shared_data / "binance" / "exchangeInfo_2021.cryptofeed"

    async def scenario() -> None:
        async with LocalVenue("binance", [dump]) as venue:
            config = serve_config(backend_cli.cwd, [], metrics_port=free_port(), segment=segment)
            with config.open("a") as extra:
                extra.write(f'[venues.binance]\nws_url = "{venue.ws_url}"\n'
                            f'rest_url = "{venue.http_url}"\n')  # fmt: skip

            code, out, err = await run_cli(
                backend_cli, config, "symbol", "discover", "--provider", "binance",
                "--format", "json",
            )  # fmt: skip
            assert code == 0, err
            assert json.loads(out)["instruments"] == LISTED
            code, out, err = await run_cli(
                backend_cli, config, "symbol", "list", "--exchange", "binance", "--format", "json"
            )
            assert code == 0, err
            listed = json.loads(out)
            assert len(listed) == LISTED
            assert all(s["tick_size"] and s["lot_size"] for s in listed)
            btc = next(s for s in listed if s["symbol"] == "BTCUSDT")
            assert (btc["tick_size"], btc["lot_size"]) == (
                "0.01",
                "0.00001",
            )  # PRICE_FILTER, LOT_SIZE

            add = ("symbol", "add", "--symbols", "BTCUSDT,NOPEUSDT")
            code, _, err = await run_cli(backend_cli, config, *add)
            assert code == 1
            assert "NOPEUSDT" in err
            assert "BTCUSDT" not in err  # only the unlisted one is named

            serve = ("serve", "--live", "--provider", "binance", "--symbols", "NOPEUSDT")
            code, _, err = await run_cli(backend_cli, config, *serve, "--persist")
            assert code == 2
            assert "NOPEUSDT" in err
            assert venue.connections == []  # refused before connecting
            assert venue.http_requests["/api/v3/exchangeInfo"] == 1

    asyncio.run(scenario())
