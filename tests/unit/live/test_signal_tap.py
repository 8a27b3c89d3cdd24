"""The tap the paper trader puts around a strategy: the engine sees the real strategy, every
decision is noted before it is traded, and a muted tap lets the strategy warm up unheard."""

from __future__ import annotations

from decimal import Decimal

from ticklane.bars.events import BarData, BarDataMode
from ticklane.core.bars import BarType, Timeframe
from ticklane.core.identifiers import InstrumentId
from ticklane.live.tap import SignalTap
from ticklane.strategy.base import Parameter, Strategy
from ticklane.strategy.registry import create_strategy
from ticklane.strategy.signal import HOLD, Action, Signal

BTC = InstrumentId("binance", "BTCUSDT")


class BuysEveryThirdBar(Strategy):
    name = "every_third"
    description = "Buys on every third event."
    parameters = (Parameter("size", "decimal", "0.5", "Order size."),)

    def reset(self) -> None:
        self.seen = 0

    def on_bar_data(self, bar_data: BarData) -> Signal:
        self.seen += 1
        if self.seen % 3:
            return HOLD
        return Signal.buy(self.params["size"], reason=f"event {self.seen}")

    def bar_data_mode(self) -> BarDataMode:
        return BarDataMode.ON_CLOSE_BAR


def event(ts: int) -> BarData:
    bar = BarData(BTC, BarType.time(Timeframe.ONE_MINUTE))
    bar.ts_event = ts
    return bar


def test_the_engine_sees_the_real_strategy_and_every_decision_is_noted() -> None:
    inner = BuysEveryThirdBar()
    inner.initialize({"size": "0.25"})
    noted: list[tuple[str, int]] = []
    tap = SignalTap.around(inner, lambda signal, bar: noted.append((signal.reason, bar.ts_event)))
    assert (tap.name, tap.description, tap.parameters) == (
        "every_third",
        "Buys on every third event.",
        inner.parameters,
    )
    assert tap.params == {"size": Decimal("0.25")}
    assert tap.bar_data_mode() is BarDataMode.ON_CLOSE_BAR
    assert tap.preferred_bar_type() == BarType.time(Timeframe.ONE_MINUTE)
    inner.set_account_id("SIM-002")
    assert tap.account_id() == "SIM-002"
    answers = [tap.on_bar_data(event(ts)) for ts in range(1, 7)]
    assert [a.action for a in answers] == [Action.HOLD] * 2 + [Action.BUY] + [Action.HOLD] * 2 + [
        Action.BUY
    ]
    assert noted == [("event 3", 3), ("event 6", 6)]
    tap.reset()
    assert inner.seen == 0


def test_a_muted_tap_lets_the_strategy_learn_but_drops_its_decisions() -> None:
    inner = BuysEveryThirdBar()
    noted: list[Signal] = []
    tap = SignalTap.around(inner, lambda signal, _bar: noted.append(signal))
    tap.muted = True
    assert all(tap.on_bar_data(event(ts)) is HOLD for ts in range(1, 7))
    assert inner.seen == 6 and noted == []
    tap.muted = False
    for ts in (7, 8):
        tap.on_bar_data(event(ts))
    assert tap.on_bar_data(event(9)).action is Action.BUY and len(noted) == 1


class AnswersNonsense(BuysEveryThirdBar):
    def on_bar_data(self, bar_data: BarData) -> Signal:
        return "buy"  # type: ignore[return-value]


def test_an_answer_that_is_not_a_signal_goes_to_the_engine_unnoted() -> None:
    noted: list[Signal] = []
    tap = SignalTap.around(AnswersNonsense(), lambda signal, _bar: noted.append(signal))
    assert tap.on_bar_data(event(1)) == "buy"  # the engine stops the run and says why
    assert noted == []


def test_a_builtin_keeps_its_name_and_parameters_behind_the_tap() -> None:
    inner = create_strategy("sma", {"short_period": 5, "long_period": 15})
    tap = SignalTap.around(inner, lambda _signal, _bar: None)
    assert tap.name == "sma" and tap.params is inner.params
    assert type(tap).__name__ == "SmaCrossoverTap"
    tap.initialize({"short_period": 3, "long_period": 9})
    assert tap.params["short_period"] == 3 == inner.params["short_period"]
