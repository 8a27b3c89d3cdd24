"""Kraken books and their CRC32 checksums (protocols.md 2.3), on every recorded v1 session."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import msgspec

from ticklane.core.records import BookFlags, BookRecord
from ticklane.venues.common import ActionKind
from ticklane.venues.kraken import KrakenParser
from ticklane.venues.kraken.book import level_token

from venue_recordings import received

TS = 1_685_349_935_000_000_000


def replay(parser: KrakenParser, frames: list[tuple[int, bytes]]) -> list[Any]:
    records = []
    for ts_recv, frame in frames:
        records += parser.parse(frame, ts_recv)
    return records


def test_level_token_is_the_documented_example() -> None:
    assert level_token("0.05000", "0.00000304") == "5000304"


def test_every_checksum_of_the_2021_book_1000_session_validates(shared_data: Path) -> None:
    parser = KrakenParser()
    records = replay(parser, received(shared_data / "kraken" / "KRAKEN.ws.50.0"))
    assert parser.checksums_verified == 4269  # golden: every update of ten book-1000 pairs
    assert parser.errors.counts["checksum"] == 0
    assert parser.errors.counts["unsynced"] == 0
    # One real ask of 9,999,999,997 CHF (BTC/CHF) exceeds the price column (±9.2e9): it is
    # left out of the book and counted; far from the top, it never reaches the checksum.
    assert parser.errors.counts["bad_value"] == 1
    assert parser.errors.total == 1
    assert len(parser.books) == 10 and all(book.synced for book in parser.books.values())
    assert all(not book.book.is_crossed() for book in parser.books.values())
    snapshots = [r for r in records if r.flags & BookFlags.CLEAR]
    assert len(snapshots) == 10


def test_every_checksum_of_the_2023_book_10_session_validates(shared_data: Path) -> None:
    document = json.loads((shared_data / "kraken" / "orderbook-v1-2023-05-29.json").read_bytes())
    parser = KrakenParser()
    frames = [json.dumps(document["init"]).encode()]
    frames += [json.dumps(update).encode() for update in document["updates"]]
    records = replay(parser, [(TS, frame) for frame in frames])
    assert parser.checksums_verified == len(document["updates"]) == 110
    assert parser.errors.total == 0
    book = parser.books["BTC/USD"]
    assert book.depth == 10 and len(book.book.bids) == len(book.book.asks) == 10
    assert all(isinstance(record, BookRecord) for record in records)


def v2_number(text: str) -> msgspec.Raw:
    """A v1 decimal string written as the JSON number v2 would send, digits unchanged."""
    return msgspec.Raw(text.encode())


def v2_levels(levels: list[list[str]]) -> list[dict[str, msgspec.Raw]]:
    return [{"price": v2_number(level[0]), "qty": v2_number(level[1])} for level in levels]


def v1_to_v2(message: list[Any]) -> bytes:
    """A v1 book frame re-expressed as a v2 ``book`` message (numbers, not strings)."""
    payloads = message[1:-2]
    if "as" in payloads[0]:
        data = {
            "symbol": "BTC/USD",
            "bids": v2_levels(payloads[0]["bs"]),
            "asks": v2_levels(payloads[0]["as"]),
            # The v1 snapshot has no checksum to carry over: this one goes unverified.
        }
        kind = "snapshot"
    else:
        data = {"symbol": "BTC/USD", "bids": [], "asks": []}
        for payload in payloads:
            data["bids"] += v2_levels(payload.get("b", []))
            data["asks"] += v2_levels(payload.get("a", []))
            if "c" in payload:
                data["checksum"] = int(payload["c"])
        data["timestamp"] = "2023-05-29T09:25:35.063741Z"
        kind = "update"
    return msgspec.json.encode({"channel": "book", "type": kind, "data": [data]})


def test_v2_checksums_validate_on_the_2023_book_re_expressed_as_v2(shared_data: Path) -> None:
    document = json.loads((shared_data / "kraken" / "orderbook-v1-2023-05-29.json").read_bytes())
    frames = [v1_to_v2(document["init"])] + [v1_to_v2(u) for u in document["updates"]]
    assert b'"price":27918.60000' in frames[0]  # trailing zeros travel as in a v2 frame
    parser = KrakenParser(book_depth=10)
    replay(parser, [(TS, frame) for frame in frames])
    assert parser.checksums_verified == 110
    assert parser.errors.total == 0


def test_a_checksum_mismatch_drops_the_book_until_a_new_snapshot(shared_data: Path) -> None:
    document = json.loads((shared_data / "kraken" / "orderbook-v1-2023-05-29.json").read_bytes())
    parser = KrakenParser()
    parser.parse(json.dumps(document["init"]), TS)
    broken = document["updates"][0]
    broken[1]["c"] = "12345"
    [record] = parser.parse(json.dumps(broken), TS)
    assert record.flags == BookFlags.CLEAR | BookFlags.LAST  # type: ignore[union-attr]
    assert parser.errors.counts["checksum"] == 1
    [action] = parser.take_actions()
    assert (action.kind, action.symbol) == (ActionKind.RESUBSCRIBE_BOOK, "BTC/USD")
    # Later updates are not applied to a book known to be wrong...
    assert parser.parse(json.dumps(document["updates"][1]), TS) == []
    assert parser.errors.counts["unsynced"] == 1
    # ... until the resubscription's snapshot arrives.
    assert parser.parse(json.dumps(document["init"]), TS)
    assert parser.books["BTC/USD"].synced


def test_levels_pushed_beyond_the_depth_are_cut_and_published_as_removed() -> None:
    parser = KrakenParser()
    asks = [[f"{100 + i}.0", "1.0", "1685349935.000000"] for i in range(10)]
    parser.parse(json.dumps([1, {"as": asks, "bs": []}, "book-10", "XBT/USD"]), TS)
    book = parser.books["BTC/USD"]
    better = [["99.5", "2.0", "1685349936.000000"]]
    # Expected checksum written out by hand: top 10 asks, "." removed, leading zeros stripped.
    text = "99520" + "".join(f"{100 + i}010" for i in range(9))
    checksum = zlib.crc32(text.encode())
    update = [1, {"a": better, "c": str(checksum)}, "book-10", "XBT/USD"]
    records = parser.parse(json.dumps(update), TS)
    assert [(r.price, r.size) for r in records] == [  # type: ignore[union-attr]
        (99_500_000_000, 200_000_000),
        (109_000_000_000, 0),  # the 11th ask, cut: Kraken sends no removal for it
    ]
    assert records[-1].flags == BookFlags.LAST  # type: ignore[union-attr]
    assert len(book.book.asks) == 10 and parser.errors.total == 0
