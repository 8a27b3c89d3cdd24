"""``trading-core live``: market data from data-manager over shared memory; paper trading."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ticklane.cli.common import ConfigOption, err, fail, handle_errors, state
from ticklane.config import SectionsOff, Settings, configure_logging, load_settings_switching_off
from ticklane.core.errors import TicklaneError
from ticklane.core.identifiers import InstrumentId
from ticklane.core.records import TradeRecord
from ticklane.ipc.loop import polling_loop
from ticklane.storage import TickStore, open_store

if TYPE_CHECKING:
    from ticklane.live.paper import PaperTrader


@handle_errors
def live(
    ctx: typer.Context,
    paper_trading: Annotated[
        bool | None,
        typer.Option(
            "--paper-trading/--no-paper-trading",
            help="Run the strategy on the simulated exchange (default: [paper_trading] enabled).",
        ),
    ] = None,
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
        typer.Option(
            help="Comma-separated symbols to accept (default: the configured ones); paper "
            "trading trades the first."
        ),
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Prometheus port (0: none).")
    ] = None,
    warmup_secs: Annotated[
        int, typer.Option(help="Stored trades replayed to the strategy first, in seconds.")
    ] = 3600,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Start a new paper book, not the logged one.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Consume live data from data-manager over shared memory; --paper-trading runs a strategy."""
    from ticklane.live.service import LiveService

    settings, off = _settings(ctx, config)
    if off is not None:
        sections = " and ".join(f"[{section}]" for section in off.sections)
        _report_off(f"configuration: {off.problems}", f"{sections} switched off")
    wanted = [s.strip() for s in symbols.split(",")] if symbols else list(settings.symbols)
    wanted = [s for s in wanted if s]
    if not wanted:
        fail("--symbols: give at least one symbol", 2)
    # The strategy trades the first symbol; the others are still validated and cached.
    if paper_trading is False and strategy is not None:
        fail("--strategy runs a paper trader: it cannot go with --no-paper-trading", 2)
    enabled = settings.paper_trading.enabled if paper_trading is None else paper_trading
    trading = enabled or strategy is not None
    params = _params(param or [])

    async def main() -> None:
        from ticklane.datamanager.serve import install_stop_signals

        stop = asyncio.Event()
        install_stop_signals(stop)
        store = open_store(settings.database, settings.storage) if trading else None
        try:
            trader = None
            if store is not None:
                try:
                    await asyncio.to_thread(store.migrate)
                    trader = await _paper_trader(
                        settings, store, strategy, params, exchange, wanted[0], warmup_secs, fresh
                    )
                except TicklaneError as error:  # an unknown strategy, a store it cannot use
                    _report_off(f"paper trading: {error}", "no paper trading")
            service = LiveService(
                settings, symbols=wanted, trader=trader, metrics_port=metrics_port
            )
            await service.run(stop)
        finally:
            if store is not None:
                store.close()
        market = service.market_data
        processed = market.stats.processed if market is not None else 0
        rejected = sum(market.stats.rejected.values()) if market is not None else 0
        ipc = service.exchange.stats
        err.print(
            f"stopped: {processed:,} trades processed, {rejected:,} rejected, "
            f"{ipc.lost:,} lost in the ring, {ipc.reconnections} reconnections",
            soft_wrap=True,
        )
        if trader is not None:
            err.print(trader.status_line(), soft_wrap=True)

    # The loop polls data-manager's ring itself while it waits (ipc.loop): a trade reaches
    # the strategy without a thread hand-off.
    with asyncio.Runner(loop_factory=polling_loop) as runner:
        runner.run(main())


class _Trading:
    """The paper trader as the live service drives it."""

    def __init__(self, trader: PaperTrader) -> None:
        self.trader = trader

    def on_trade(self, trade: TradeRecord) -> None:
        self.trader.on_trade(trade)

    def on_clock(self, now_ns: int) -> None:
        self.trader.on_clock(now_ns)

    async def aclose(self) -> None:
        await self.trader.close()

    def status_line(self) -> str:
        return self.trader.status_line()


async def _paper_trader(
    settings: Settings,
    store: TickStore,
    strategy: str | None,
    params: dict[str, str],
    exchange: str,
    symbol: str,
    warmup_secs: int,
    fresh: bool,
) -> _Trading:
    from ticklane.live.paper import PaperTrader
    from ticklane.live.paper_setup import PaperOptions

    trader = await PaperTrader.resume(
        store,
        InstrumentId.of(exchange, symbol),
        paper=settings.paper_trading,
        now_ns=time.time_ns(),
        accounts=settings.accounts,
        strategy=strategy,
        params=params or None,
        options=PaperOptions(
            report_every_secs=settings.live.report_every_secs, warmup_secs=warmup_secs
        ),
        report=lambda line: err.print(line, soft_wrap=True),
        fresh=fresh,
    )
    return _Trading(trader)


def _report_off(problem: str, consequence: str) -> None:
    """A part of trading-core cannot run: say why, and that the rest runs without it."""
    err.print(
        f"[bold red]error:[/] {escape(problem)}\n{escape(consequence)}; the market-data "
        "pipeline runs on (fix it and restart to have it back)",
        soft_wrap=True,
    )


def _params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            fail(f"--param: {pair!r} is not name=value (e.g. --param period=14)", 2)
        params[name.strip()] = value.strip()
    return params


# Sections the live pipeline can run without: a bad one is reported and switched off.
_OPTIONAL_SECTIONS: dict[str, dict[str, object]] = {
    "alerting": {"enabled": False},
    "paper_trading": {"enabled": False},
}


def _settings(ctx: typer.Context, config: object) -> tuple[Settings, SectionsOff | None]:
    """The settings, and what is wrong in a section switched off (alerting, paper trading)."""
    from pathlib import Path

    path = Path(str(config)) if config is not None else state(ctx).config_file
    settings, off = load_settings_switching_off(path, _OPTIONAL_SECTIONS)
    configure_logging(settings)
    return settings, off
