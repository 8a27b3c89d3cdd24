"""The ``TickCache`` protocol every cache tier implements, and the counters each one keeps.

Order: every read returns ticks **newest first**, in the order the cache received them (the
order of a Redis list filled with LPUSH, and of the reference system's live queries). A venue
sends one symbol's trades in time order, so this is descending ``ts_event`` order too.

Expiry: a tick whose receive time (``ts_recv``) is ``ttl_seconds`` or more in the past is not
returned by any tier, and each tier holds at most ``max_ticks_per_symbol`` ticks per symbol,
dropping the oldest first.

Failures: a cache never raises a backend failure (Redis down, slow, refusing) into its caller.
The operation is counted in ``stats.failures``, logged at most once per interval, and answers
as a miss: ``recent`` with ``[]``, ``since`` with ``None``, a write with nothing stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Context, Decimal
from typing import Final, Protocol

import msgspec

from ticklane.core.fixed import INT64_MAX, PRICE_DECIMALS, QUANTITY_DECIMALS
from ticklane.core.identifiers import Side
from ticklane.core.records import TradeRecord
from ticklane.core.ticks import TradeTick
from ticklane.core.time import MAX_TS_NS, MIN_TS_NS


class CacheStats:
    """What a cache tier did; the metrics endpoint and the cache-failure alert read these.

    Attributes:
        operations: cache operations attempted (one per put, put_many, recent, since; a read
            that needs two round trips to Redis counts two).
        failures: of those, how many failed, timed out or were skipped (always 0 in memory).
        skipped: of the failures, operations not tried because the backend was failing (the
            Redis tier backs off for a moment after failures in a row).
        ticks_written: ticks handed to ``put`` / ``put_many``.
        ticks_failed: of those, ticks whose write failed and are not in this tier.
        bad_entries: cached elements skipped on read because they were not valid ticks.
    """

    __slots__ = (
        "bad_entries",
        "failures",
        "operations",
        "skipped",
        "ticks_failed",
        "ticks_written",
    )

    def __init__(self) -> None:
        self.operations = 0
        self.failures = 0
        self.skipped = 0
        self.ticks_written = 0
        self.ticks_failed = 0
        self.bad_entries = 0

    @property
    def failure_rate(self) -> float:
        """Failed cache updates over processed ticks (the alert rule's ratio); 0.0 before any."""
        return self.ticks_failed / self.ticks_written if self.ticks_written else 0.0

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)}" for name in sorted(self.__slots__))
        return f"CacheStats({fields})"


class TickCache(Protocol):
    """Recent trades per instrument, newest first (see the module docstring)."""

    @property
    def stats(self) -> CacheStats:
        """Counters of this cache (for a tiered cache: those of its Redis tier)."""
        ...

    async def put(self, record: TradeRecord) -> None:
        """Cache one trade. Never raises a backend failure."""
        ...

    async def put_many(self, records: Sequence[TradeRecord]) -> None:
        """Cache trades of any instruments, in the order given (oldest first)."""
        ...

    async def recent(self, exchange: str, symbol: str, limit: int) -> list[TradeTick]:
        """Up to ``limit`` most recent trades of one instrument, newest first; ``[]`` on a miss."""
        ...

    async def since(self, exchange: str, symbol: str, start_ns: int) -> list[TradeTick] | None:
        """Every cached trade with ``ts_event >= start_ns``, newest first, when the cache
        reaches back to ``start_ns``; ``None`` when it does not (or cannot say), so the caller
        must ask the tick store.

        The cache reaches back to ``start_ns`` when it still holds an unexpired trade with
        ``ts_event < start_ns``: everything received after that trade is held too.
        """
        ...

    async def close(self) -> None:
        """Release connections; the cache must not be used afterwards."""
        ...


def check_limit(limit: int) -> int:
    """``limit`` if it is a positive int; ValueError naming it otherwise."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"cache: limit must be an integer >= 1; got {limit!r}")
    return limit


def to_ticks(records: Sequence[TradeRecord]) -> list[TradeTick]:
    """Trade objects (exact ``Decimal`` values) for user code."""
    return [to_tick(record) for record in records]


# ``TradeTick``'s constructor checks its Decimal values (a few microseconds a tick, most of the
# time of a cache read). The same checks on the record's integers cost a fraction of that, and
# the object is then a copy of a valid one with the record's values set. A record they refuse
# goes through the constructor, which raises the ``BadDataError`` naming what is wrong.
_TEMPLATE: Final = TradeTick(
    "binance", "BTCUSDT", Decimal(1), Decimal(1), Side.NONE, MIN_TS_NS, 0, is_buyer_maker=False
)
# msgspec structs copy without running __post_init__.
_copy: Final[Callable[[], TradeTick]] = _TEMPLATE.__copy__  # type: ignore[attr-defined]
_set: Final = msgspec.structs.force_setattr
_SIDES: Final = {int(side): side for side in Side}
# Exact for any int64 (19 digits): the Decimal ``from_scaled`` makes, whatever this thread's
# context is.
_scaleb: Final = Context(prec=40).scaleb
_PRICE_EXPONENT: Final = Decimal(-PRICE_DECIMALS)
_QUANTITY_EXPONENT: Final = Decimal(-QUANTITY_DECIMALS)
_INSTRUMENTS_REMEMBERED: Final = 4096
_instruments: dict[tuple[str, str], str] = {}  # (exchange, symbol) checked -> canonical exchange


def to_tick(record: TradeRecord) -> TradeTick:
    """``record.to_trade_tick()``, the same object with the same checks, made for less."""
    price, quantity, ts_event, trade_id = (
        record.price,
        record.quantity,
        record.ts_event,
        record.trade_id,
    )
    side = _SIDES.get(record.side)
    exchange = _instruments.get((record.exchange, record.symbol))
    if (
        side is None
        or exchange is None
        or type(price) is not int
        or type(quantity) is not int
        or type(ts_event) is not int
        or type(trade_id) is not int
        or not 0 < price <= INT64_MAX
        or not 0 < quantity <= INT64_MAX
        or not MIN_TS_NS <= ts_event < MAX_TS_NS
    ):
        tick = record.to_trade_tick()  # raises when the record is not a valid trade
        if len(_instruments) >= _INSTRUMENTS_REMEMBERED:
            _instruments.clear()
        _instruments[record.exchange, record.symbol] = tick.exchange
        return tick
    tick = _copy()
    _set(tick, "exchange", exchange)
    _set(tick, "symbol", record.symbol)
    _set(tick, "price", _scaleb(price, _PRICE_EXPONENT))  # as price_from_raw makes it
    _set(tick, "quantity", _scaleb(quantity, _QUANTITY_EXPONENT))
    _set(tick, "side", side)
    _set(tick, "ts_event", ts_event)
    _set(tick, "trade_id", trade_id)
    _set(tick, "is_buyer_maker", side is Side.SELL)
    return tick
