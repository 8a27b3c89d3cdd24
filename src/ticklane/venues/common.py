"""What every venue's protocol layer shares: error counters, feed actions, instrument info.

A venue parser turns frames into ``core.records`` and never raises on bad input: it counts
the frame under a ``Reason``, logs it (throttled) with the venue, the symbol and a snippet, and
goes on with the next frame. What the parser cannot do itself (fetch a REST snapshot,
resubscribe a book, backfill missed trades, reconnect) it asks of the feed runner as
``FeedAction``s, drained with ``take_actions()``.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from enum import StrEnum
from typing import Final, Protocol

import msgspec

from ticklane.core.records import MarketRecord

SNIPPET_CHARS: Final = 200
DEFAULT_LOG_INTERVAL_S: Final = 10.0


class Reason(StrEnum):
    """Why a frame, or part of one, was not turned into records."""

    MALFORMED = "malformed"  # not JSON, or not the shape the venue documents
    UNKNOWN_TYPE = "unknown_type"  # a channel, stream, feed or event we do not know
    BAD_VALUE = "bad_value"  # a non-numeric, non-positive or out-of-range price/qty/time/side
    OUT_OF_ORDER = "out_of_order"  # a sequence number or trade id that went backwards
    GAP = "gap"  # a sequence number or trade id that jumped: something was missed
    CHECKSUM = "checksum"  # a Kraken book checksum that does not match our book
    UNSYNCED = "unsynced"  # a book update for a book that has no valid snapshot
    VENUE_ERROR = "venue_error"  # the venue answered a request with an error


class ParseErrors:
    """Counts of rejected frames by reason, and a throttled log of them.

    ``counts`` is read by the metrics exporter (one counter per reason). Each reason is logged
    at most once per ``log_interval_s`` seconds, with how many were not logged since.
    """

    def __init__(
        self,
        exchange: str,
        logger: logging.Logger,
        *,
        log_interval_s: float = DEFAULT_LOG_INTERVAL_S,
    ) -> None:
        self.exchange = exchange
        self.counts: dict[str, int] = {reason.value: 0 for reason in Reason}
        self._logger = logger
        self._interval = log_interval_s
        self._last_logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, reason: Reason, symbol: str, detail: str, frame: bytes | str = b"") -> None:
        """Count one problem and log it unless this reason was logged less than N s ago."""
        self.counts[reason.value] += 1
        now = time.monotonic()
        last = self._last_logged.get(reason)
        if last is not None and now - last < self._interval:
            self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
            return
        self._last_logged[reason] = now
        suppressed = self._suppressed.pop(reason, 0)
        self._logger.warning(
            "%s %s: %s: %s (frame: %s)%s",
            self.exchange,
            symbol or "-",
            reason.value,
            detail,
            snippet(frame),
            f" [{suppressed} more {reason.value} not logged]" if suppressed else "",
        )


def snippet(frame: bytes | str, limit: int = SNIPPET_CHARS) -> str:
    """The first ``limit`` characters of a frame, for a log line."""
    text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
    return text if len(text) <= limit else text[:limit] + "..."


class ActionKind(StrEnum):
    """What a parser needs the feed runner to do."""

    FETCH_BOOK_SNAPSHOT = "fetch_book_snapshot"  # Binance: GET depth, then apply_snapshot()
    RESUBSCRIBE_BOOK = "resubscribe_book"  # Kraken, Kraken Futures: unsubscribe + subscribe
    BACKFILL_TRADES = "backfill_trades"  # trade ids first_missing..last_missing were not seen
    RECONNECT = "reconnect"  # the venue announced a shutdown of this connection


class FeedAction(msgspec.Struct, frozen=True):
    """A request from a parser to its feed runner.

    For ``BACKFILL_TRADES``: ``first_missing``..``last_missing`` are the venue's trade ids (or
    sequence numbers) not seen; ``after_ts`` and ``before_ts`` the ``ts_event`` of the trades
    seen just before and just after them (venues whose history is paged by time, Kraken and
    Kraken Futures, search between the two; Binance is backfilled by id). 0 wherever not
    relevant.
    """

    kind: ActionKind
    exchange: str
    symbol: str
    reason: str
    first_missing: int = 0
    last_missing: int = 0
    after_ts: int = 0
    before_ts: int = 0


class InstrumentInfo(msgspec.Struct, frozen=True):
    """One instrument as the venue's discovery endpoint lists it.

    ``symbol`` is ours (``BTCUSDT``, ``BTC/USD``, ``PI_XBTUSD``); ``venue_symbol`` is what the
    venue's REST API calls it. ``status`` is ``active`` (trading) or ``halted`` (listed but not
    trading); ``venue_status`` keeps the venue's own word. Sizes are exact decimals, ``None``
    where the venue does not say.
    """

    exchange: str
    symbol: str
    venue_symbol: str
    base_asset: str
    quote_asset: str
    status: str
    venue_status: str
    tick_size: Decimal | None = None
    lot_size: Decimal | None = None
    min_quantity: Decimal | None = None
    contract_size: Decimal | None = None
    kind: str = "spot"


class FrameParser(Protocol):
    """What a feed runner drives: one parser per connection."""

    exchange: str
    errors: ParseErrors

    def parse(self, frame: bytes | str, ts_recv: int) -> list[MarketRecord]:
        """Records carried by one WebSocket frame; bad input is counted, never raised."""
        ...

    def take_actions(self) -> list[FeedAction]:
        """The actions asked for since the last call, oldest first."""
        ...

    def reset_books(self) -> None:
        """Forget every book: after a reconnect each needs a new snapshot."""
        ...


class ActionQueue:
    """The pending ``FeedAction``s of one parser, without duplicates of a pending one."""

    def __init__(self) -> None:
        self._pending: list[FeedAction] = []

    def add(self, action: FeedAction) -> None:
        if action.kind is not ActionKind.BACKFILL_TRADES:
            for queued in self._pending:
                if queued.kind is action.kind and queued.symbol == action.symbol:
                    return
        self._pending.append(action)

    def take(self) -> list[FeedAction]:
        taken, self._pending = self._pending, []
        return taken
