"""``trading-core live``: market data from data-manager over shared memory; paper trading."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from ticklane.cli.common import ConfigOption, err, fail, handle_errors, state
from ticklane.config import Settings, configure_logging, load_settings
from ticklane.core.errors import ConfigError
from ticklane.live.service import Trader


@handle_errors
def live(
    ctx: typer.Context,
    paper_trading: Annotated[
        bool, typer.Option("--paper-trading", help="Run the strategy on the simulated exchange.")
    ] = False,
    strategy: Annotated[
        str | None,
        typer.Option(help="Strategy name or FILE.py (default: [paper_trading] strategy)."),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Strategy parameter name=value.")
    ] = None,
    exchange: Annotated[str, typer.Option(help="Exchange of the traded symbol.")] = "binance",
    symbols: Annotated[
        str | None,
        typer.Option(help="Comma-separated symbols to accept (default: the configured ones)."),
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Prometheus port (0: none).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Consume live data from data-manager over shared memory; --paper-trading runs a strategy."""
    from ticklane.live.service import LiveService

    settings = _settings(ctx, config)
    wanted = [s.strip() for s in symbols.split(",")] if symbols else list(settings.symbols)
    wanted = [s for s in wanted if s]
    if not wanted:
        fail("--symbols: give at least one symbol", 2)
    trader = None
    if paper_trading or (settings.paper_trading.enabled and strategy is not None):
        trader = _paper_trader(settings, strategy, param or [], exchange, wanted)
    service = LiveService(settings, symbols=wanted, trader=trader, metrics_port=metrics_port)

    async def main() -> None:
        from ticklane.datamanager.serve import install_stop_signals

        stop = asyncio.Event()
        install_stop_signals(stop)
        await service.run(stop)
        market = service.market_data
        processed = market.stats.processed if market is not None else 0
        rejected = sum(market.stats.rejected.values()) if market is not None else 0
        ipc = service.exchange.stats
        err.print(
            f"stopped: {processed:,} trades processed, {rejected:,} rejected, "
            f"{ipc.lost:,} lost in the ring, {ipc.reconnections} reconnections",
            soft_wrap=True,
        )

    asyncio.run(main())


def _paper_trader(
    settings: Settings, strategy: str | None, params: list[str], exchange: str, symbols: list[str]
) -> Trader:
    raise ConfigError("paper trading is being wired in (issue #5): run without --paper-trading")


def _settings(ctx: typer.Context, config: object) -> Settings:
    if config is None:
        return state(ctx).settings
    from pathlib import Path

    settings = load_settings(Path(str(config)))
    configure_logging(settings)
    return settings
