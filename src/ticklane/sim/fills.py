"""When and at what price the simulated exchange fills an order, and what it costs.

Every assumption about a fill is written down at the line that makes it. In short:

- ``FillPolicy.NEXT_TICK`` (the default): an order is filled by the first trade the exchange
  sees after it was submitted, never by the trade the strategy decided on.
- ``FillPolicy.SIGNAL_BAR_CLOSE_OPTIMISTIC``: a market order fills at the reference price the
  strategy saw (the signal bar's close) at once. Optimistic: that price was already in the
  past when the decision was made.
- Fees are charged in the account's currency on the notional, at the maker or taker rate.
- Slippage moves a taker's price against the trader (buy higher, sell lower); a resting limit
  order filled as maker gets exactly its limit price.
- Stop orders (stop-market): a buy stop triggers at the first trade at or above its stop
  price, a sell stop at the first trade at or below it, and fills AT THAT TRADE'S PRICE with
  slippage, as taker (a gap through the stop fills at the gapped price, not at the stop). A
  stop already crossed at submission triggers on the next trade, like a market order; under
  the optimistic policy it fills at the reference price instead, and an uncrossed stop rests.
- Open orders meet each trade in submission order; every order the trade touches fills on it,
  each at its own rule's price. Within a bar, a stop and a limit are resolved by which trade
  touches each first (the simulation is tick by tick, not bar by bar).
- Orders fill whole (no partial fills, no queue position, no volume limit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal
from enum import Enum
from typing import Final

from ticklane.core.errors import ConfigError
from ticklane.core.fixed import PRICE_DECIMALS, QUANTITY_DECIMALS
from ticklane.core.identifiers import Side
from ticklane.sim.account import EXACT, ZERO
from ticklane.sim.events import Liquidity, Order
from ticklane.strategy.signal import OrderType

__all__ = [
    "FeeModel",
    "FillModel",
    "FillPolicy",
    "SlippageModel",
    "floor_quantity",
]

_BPS: Final = Decimal(10_000)
_ONE: Final = Decimal(1)
_PRICE_STEP: Final = Decimal(1).scaleb(-PRICE_DECIMALS)  # 0.000000001
_QUANTITY_STEP: Final = Decimal(1).scaleb(-QUANTITY_DECIMALS)  # 0.00000001
# Rounding in a stated direction; 60 digits so the division before it loses nothing visible.
_DOWN: Final = Context(prec=60, rounding=ROUND_FLOOR)
_UP: Final = Context(prec=60, rounding=ROUND_CEILING)
# Exact arithmetic through EXACT's methods: no context is entered per fee or price.
_add: Final = EXACT.add
_sub: Final = EXACT.subtract
_mul: Final = EXACT.multiply
_div: Final = EXACT.divide
# Enum members bound once: reading one off its class costs 0.1 us on Python 3.11, and the
# order path reads a dozen per order.
_BUY: Final = Side.BUY
_MARKET: Final = OrderType.MARKET
_LIMIT: Final = OrderType.LIMIT
_STOP: Final = OrderType.STOP
_TAKER: Final = Liquidity.TAKER
_MAKER: Final = Liquidity.MAKER


class FillPolicy(Enum):
    """When a market order fills."""

    NEXT_TICK = "next_tick"
    """At the first trade after submission, at that trade's price (with slippage). Realistic:
    the strategy cannot trade at the price it has already seen."""

    SIGNAL_BAR_CLOSE_OPTIMISTIC = "signal_bar_close_optimistic"
    """OPTIMISTIC: at the reference price passed to ``submit_order`` (the signal bar's close),
    when the engine calls ``SimulatedExchange.fill_now``. Results look better than any live
    run could: use it only to compare with tools that fill this way."""


def _rate(bps: Decimal) -> Decimal:
    return bps.scaleb(-4, context=EXACT)  # exact: a shift of the exponent


def _bps(value: Decimal, name: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or not 0 <= value < _BPS:
        raise ConfigError(f"{name} must be a Decimal from 0 to below 10000 bps, not {value!r}")
    return value


def floor_quantity(value: Decimal) -> Decimal:
    """`value` rounded down to the quantity scale (8 decimal places): never more than asked."""
    return value.quantize(_QUANTITY_STEP, context=_DOWN)


@dataclass(frozen=True, slots=True)
class FeeModel:
    """Trading fees, charged in the account's currency on the fill's notional.

    Options:
        maker_fee_bps: fee of a resting limit order filled as maker, in basis points
            (default 10 = 0.10 %, Binance spot's base rate for both sides).
        taker_fee_bps: fee of a market order or a marketable limit order (default 10).
    """

    maker_fee_bps: Decimal = Decimal(10)
    taker_fee_bps: Decimal = Decimal(10)
    # The rates as fractions, worked out once (they are read at every order and fill).
    _maker_rate: Decimal = field(init=False, repr=False, compare=False)
    _taker_rate: Decimal = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _bps(self.maker_fee_bps, "maker_fee_bps")
        _bps(self.taker_fee_bps, "taker_fee_bps")
        object.__setattr__(self, "_maker_rate", _rate(self.maker_fee_bps))
        object.__setattr__(self, "_taker_rate", _rate(self.taker_fee_bps))

    def rate(self, liquidity: Liquidity) -> Decimal:
        """The fee as a fraction of notional (10 bps -> 0.001)."""
        return self._maker_rate if liquidity is _MAKER else self._taker_rate

    def fee(self, notional: Decimal, liquidity: Liquidity) -> Decimal:
        """The exact fee on `notional` (not rounded: fees are charged to the last digit)."""
        return _mul(notional, self._maker_rate if liquidity is _MAKER else self._taker_rate)


@dataclass(frozen=True, slots=True)
class SlippageModel:
    """A fixed price penalty for taking liquidity.

    Options:
        slippage_bps: basis points added to a taker buy's price and taken off a taker sell's
            (default 0: small orders are assumed not to move the price). Maker fills at a
            limit price never slip.
    """

    slippage_bps: Decimal = ZERO

    def __post_init__(self) -> None:
        _bps(self.slippage_bps, "slippage_bps")

    def apply(self, price: Decimal, side: Side) -> Decimal:
        """`price` moved against a taker on `side`, rounded to the price scale (9 places),
        again against the trader, so the result is a price a venue could print."""
        if not self.slippage_bps:
            return price
        if side is _BUY:
            return _div(_mul(price, _add(_BPS, self.slippage_bps)), _BPS).quantize(
                _PRICE_STEP, context=_UP
            )
        return _div(_mul(price, _sub(_BPS, self.slippage_bps)), _BPS).quantize(
            _PRICE_STEP, context=_DOWN
        )


@dataclass(frozen=True, slots=True)
class FillModel:
    """The fill policy with its fee and slippage models; every option has a safe default.

    Options:
        policy: when market orders fill (``FillPolicy.NEXT_TICK`` by default).
        fees: maker and taker fees (10 bps each by default).
        slippage: taker slippage (none by default).
    """

    policy: FillPolicy = FillPolicy.NEXT_TICK
    fees: FeeModel = field(default_factory=FeeModel)
    slippage: SlippageModel = field(default_factory=SlippageModel)

    @staticmethod
    def is_marketable(order: Order, reference_price: Decimal) -> bool:
        """Whether a limit order would cross at `reference_price`, or a stop order would
        already be triggered there (market orders always cross)."""
        if order.order_type is _STOP and order.stop_price is not None:
            return _stop_touched(order, reference_price)
        if order.order_type is _MARKET or order.limit_price is None:
            return True
        if order.side is _BUY:
            return order.limit_price >= reference_price
        return order.limit_price <= reference_price

    def expected_liquidity(self, order: Order, reference_price: Decimal) -> Liquidity:
        """Taker if the order crosses on arrival, maker if it will rest (for the fee estimate)."""
        if order.order_type is _STOP:
            return _TAKER  # a stop always fills as a market order once triggered
        return _TAKER if self.is_marketable(order, reference_price) else _MAKER

    def estimated_price(self, order: Order, reference_price: Decimal) -> Decimal:
        """The price used to size the lock at submission: the worst the order will accept."""
        if order.order_type is _LIMIT and order.limit_price is not None:
            # A buy never pays more than its limit, a sell never gets less: the limit bounds
            # the cost of a buy and the quantity a sell of an equity fraction needs.
            return order.limit_price
        if order.order_type is _STOP and order.stop_price is not None:
            # A stop fills like a market order at the trade that triggers it, at the stop or
            # beyond: the stop with slippage is the estimate, the reference price if the stop
            # is already crossed there (then it is a market order now). A gap past the stop is
            # caught at fill time, as for a market order.
            buy = order.side is _BUY
            stop = order.stop_price
            trigger = max(stop, reference_price) if buy else min(stop, reference_price)
            return self.slippage.apply(trigger, order.side)
        # A market order will trade at an unknown later price; the reference price with
        # slippage is the estimate. A later price above it is caught at fill time.
        return self.slippage.apply(reference_price, order.side)

    def match_trade(
        self, order: Order, trade_price: Decimal, marketable: bool
    ) -> tuple[Decimal, Liquidity] | None:
        """The fill price and liquidity if the trade at `trade_price` fills `order`, else None.

        `marketable` says whether a limit order crossed (or a stop order was triggered) at
        submission and this is its first trade since; afterwards it rests on the book.
        """
        if order.order_type is _STOP and order.stop_price is not None:
            if not marketable and not _stop_touched(order, trade_price):
                return None  # the stop is not reached: it waits, off the book
            # Fill assumption: a triggered stop becomes a market order and fills AT THE PRICE
            # OF THE TRADE THAT TRIGGERED IT (not at the stop), with slippage, as taker. A gap
            # through the stop therefore fills at the gapped price. A stop triggered at
            # submission fills at the next trade, whatever its price, like a market order.
            return self.slippage.apply(trade_price, order.side), _TAKER
        limit = order.limit_price
        if order.order_type is _MARKET or limit is None:
            # A market order takes whatever the next trade prints, moved by slippage.
            return self.slippage.apply(trade_price, order.side), _TAKER
        buy = order.side is _BUY
        crosses = trade_price <= limit if buy else trade_price >= limit
        if not crosses:
            return None  # the market is beyond the limit: the order keeps resting
        if marketable:
            # A limit order that crossed on arrival takes liquidity like a market order, at
            # the next trade's price with slippage, but never beyond its limit.
            slipped = self.slippage.apply(trade_price, order.side)
            return (min(slipped, limit) if buy else max(slipped, limit)), _TAKER
        # A resting limit order fills as maker at exactly its limit price once a trade prints
        # at or through it (touch = fill). Optimistic about queue position: a trade AT the
        # limit may in reality have filled orders ahead of ours and not ours.
        return limit, _MAKER

    def match_reference(
        self, order: Order, reference_price: Decimal
    ) -> tuple[Decimal, Liquidity] | None:
        """SIGNAL_BAR_CLOSE_OPTIMISTIC: the fill at the reference price itself, as if it were
        still tradable; None for a limit order that does not cross there or a stop order not
        triggered there (it rests)."""
        if order.order_type is _STOP and not self.is_marketable(order, reference_price):
            return None  # OPTIMISTIC only for a stop already crossed at the reference price
        # OPTIMISTIC: the reference price (the signal bar's close) is treated as the price of
        # a trade arriving right after the decision.
        return self.match_trade(order, reference_price, marketable=True)

    def buy_quantity(self, budget: Decimal, price: Decimal, liquidity: Liquidity) -> Decimal:
        """The most a `budget` (fee included) buys at `price`, floored to 8 decimal places,
        so ``quantity * price * (1 + fee rate) <= budget`` holds exactly."""
        unit_cost = _mul(price, _add(_ONE, self.fees.rate(liquidity)))
        return floor_quantity(_DOWN.divide(budget, unit_cost))

    @staticmethod
    def sell_quantity(budget: Decimal, price: Decimal) -> Decimal:
        """The quantity worth `budget` at `price`, floored to 8 decimal places."""
        return floor_quantity(_DOWN.divide(budget, price))

    def buy_cost(self, quantity: Decimal, price: Decimal, liquidity: Liquidity) -> Decimal:
        """Notional plus fee of buying `quantity` at `price`."""
        notional = _mul(quantity, price)
        return _add(notional, self.fees.fee(notional, liquidity))


def _stop_touched(order: Order, price: Decimal) -> bool:
    """Whether a trade at `price` triggers the stop order `order` (at or through its stop)."""
    stop = order.stop_price
    if stop is None:
        return False
    return price >= stop if order.side is _BUY else price <= stop
