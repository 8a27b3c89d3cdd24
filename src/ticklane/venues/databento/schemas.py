"""Databento's DBN record layouts and schema names, in Databento's own field names.

Each record is a little-endian C struct (``protocols.md`` 4.4); the dtypes below read a whole
block of them with ``np.frombuffer``. The layouts of the schemas we read are the same in DBN
versions 1, 2 and 3 (the tests compare them with ``databento_dbn``'s). ``side`` and ``action``
are ASCII bytes read as ``u1`` so that they compare as integers over a whole block.

What each schema becomes (conversion lives in ``parse``):

==========================  ==============================================
schema                      our type
==========================  ==============================================
trades                      trades
tbbo                        trades, and quotes (the book before each trade)
mbp-1, bbo-1s, bbo-1m       quotes (best bid and ask)
mbp-10                      quotes from level 0
mbo                         trades, from the records whose action is ``T``
ohlcv-1s, -1m, -1h, -1d      bars (``core.bars.Bar``), stored in the ``bars`` table
==========================  ==============================================
"""

from __future__ import annotations

from enum import Enum
from typing import Final

import numpy as np

from ticklane.core.bars import Timeframe

UNDEF_PRICE: Final = 2**63 - 1  # i64::MAX: no price (an empty book side, no trade yet)
FIXED_PRICE_SCALE: Final = 1_000_000_000  # DBN prices: 1 unit = 1e-9, as our PRICE_SCALE
SIDE_ASK: Final = ord("A")  # the aggressor sold (hit the bid)
SIDE_BID: Final = ord("B")  # the aggressor bought (lifted the ask)
SIDE_NONE: Final = ord("N")
ACTION_TRADE: Final = ord("T")

_HEADER: Final = [
    ("length", "u1"),  # record length in 4-byte words
    ("rtype", "u1"),
    ("publisher_id", "<u2"),
    ("instrument_id", "<u4"),
    ("ts_event", "<u8"),
]
_TRADE_BODY: Final = [
    ("price", "<i8"),
    ("size", "<u4"),
    ("action", "u1"),
    ("side", "u1"),
    ("flags", "u1"),
    ("depth", "u1"),
    ("ts_recv", "<u8"),
    ("ts_in_delta", "<i4"),
    ("sequence", "<u4"),
]


def _levels(count: int) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    for level in range(count):
        fields += [
            (f"bid_px_{level:02d}", "<i8"),
            (f"ask_px_{level:02d}", "<i8"),
            (f"bid_sz_{level:02d}", "<u4"),
            (f"ask_sz_{level:02d}", "<u4"),
            (f"bid_ct_{level:02d}", "<u4"),
            (f"ask_ct_{level:02d}", "<u4"),
        ]
    return fields


TRADE_MSG: Final = np.dtype(_HEADER + _TRADE_BODY)
MBP1_MSG: Final = np.dtype(_HEADER + _TRADE_BODY + _levels(1))
MBP10_MSG: Final = np.dtype(_HEADER + _TRADE_BODY + _levels(10))
MBO_MSG: Final = np.dtype(
    [
        *_HEADER,
        ("order_id", "<u8"),
        ("price", "<i8"),
        ("size", "<u4"),
        ("flags", "u1"),
        ("channel_id", "u1"),
        ("action", "u1"),
        ("side", "u1"),
        ("ts_recv", "<u8"),
        ("ts_in_delta", "<i4"),
        ("sequence", "<u4"),
    ]
)
BBO_MSG: Final = np.dtype(
    [
        *_HEADER,
        ("price", "<i8"),  # the last trade's price, UNDEF_PRICE when none in the interval
        ("size", "<u4"),
        ("_reserved1", "u1"),
        ("side", "u1"),
        ("flags", "u1"),
        ("_reserved2", "u1"),
        ("ts_recv", "<u8"),  # the end of the interval
        ("_reserved3", "V4"),
        ("sequence", "<u4"),
        *_levels(1),
    ]
)
OHLCV_MSG: Final = np.dtype(
    [
        *_HEADER,  # ts_event: the bar's open time
        ("open", "<i8"),
        ("high", "<i8"),
        ("low", "<i8"),
        ("close", "<i8"),
        ("volume", "<u8"),
    ]
)


class Output(Enum):
    """What a schema's records become."""

    TRADES = "trades"
    QUOTES = "quotes"
    TRADES_AND_QUOTES = "trades and quotes"
    BARS = "bars"


class SchemaSpec:
    """One schema we read: its record layout, record type(s) and what it becomes."""

    def __init__(
        self,
        name: str,
        dtype: np.dtype[np.void],
        rtypes: tuple[int, ...],
        output: Output,
        *,
        timeframe: Timeframe | None = None,
        quote_time: str = "ts_event",
    ) -> None:
        self.name = name
        self.dtype = dtype
        self.rtypes = rtypes
        self.output = output
        self.timeframe = timeframe
        self.quote_time = quote_time  # the field that stamps a quote

    @property
    def has_trades(self) -> bool:
        return self.output in (Output.TRADES, Output.TRADES_AND_QUOTES)

    @property
    def has_quotes(self) -> bool:
        return self.output in (Output.QUOTES, Output.TRADES_AND_QUOTES)

    def __repr__(self) -> str:
        return f"SchemaSpec({self.name!r}, {self.output.value})"


SCHEMAS: Final = {
    spec.name: spec
    for spec in (
        SchemaSpec("trades", TRADE_MSG, (0x00,), Output.TRADES),
        SchemaSpec("tbbo", MBP1_MSG, (0x01,), Output.TRADES_AND_QUOTES),
        SchemaSpec("mbp-1", MBP1_MSG, (0x01,), Output.QUOTES),
        SchemaSpec("mbp-10", MBP10_MSG, (0x0A,), Output.QUOTES),
        # A bbo record samples the book at the end of its interval (ts_recv); its ts_event is
        # the last update's, undefined when nothing changed in the interval.
        SchemaSpec("bbo-1s", BBO_MSG, (0xC3,), Output.QUOTES, quote_time="ts_recv"),
        SchemaSpec("bbo-1m", BBO_MSG, (0xC4,), Output.QUOTES, quote_time="ts_recv"),
        SchemaSpec("mbo", MBO_MSG, (0xA0,), Output.TRADES),
        # 0x11 is the deprecated OHLCV rtype of DBN v1 files, used for every cadence.
        SchemaSpec(
            "ohlcv-1s", OHLCV_MSG, (0x20, 0x11), Output.BARS, timeframe=Timeframe.ONE_SECOND
        ),
        SchemaSpec(
            "ohlcv-1m", OHLCV_MSG, (0x21, 0x11), Output.BARS, timeframe=Timeframe.ONE_MINUTE
        ),
        SchemaSpec("ohlcv-1h", OHLCV_MSG, (0x22, 0x11), Output.BARS, timeframe=Timeframe.ONE_HOUR),
        SchemaSpec("ohlcv-1d", OHLCV_MSG, (0x23, 0x11), Output.BARS, timeframe=Timeframe.ONE_DAY),
    )
}

# Schemas whose records the backfill stores as ticks.
TICK_SCHEMAS: Final = tuple(
    name for name, spec in SCHEMAS.items() if spec.output is not Output.BARS
)
