"""The recording readers against the real files, and our own recording format."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from ticklane.core.errors import BadDataError
from ticklane.venues.sim import (
    ConnectionOpened,
    ReceivedFrame,
    RecordingWriter,
    RestBody,
    SentFrame,
    merge_events,
    read_recording,
)
from ticklane.venues.sim.books import LevelBook, book_checksum
from ticklane.venues.sim.recordings import epoch_int_to_ns, seconds_text_to_ns


def test_recv_ns_capture_holds_the_documented_binance_frames(shared_data: Path) -> None:
    recording = read_recording(shared_data / "binance/btcusdt_20230405.dat.gz")
    assert recording.format == "recv-ns"
    assert recording.venue == "binance"
    frames = [e for e in recording.events if isinstance(e, ReceivedFrame)]
    streams = Counter(json.loads(e.frame)["stream"] for e in frames)
    assert len(frames) == 15_088
    assert streams["btcusdt@trade"] == 3_144
    assert streams == {
        "btcusdt@bookTicker": 8_015,
        "btcusdt@depth@100ms": 3_929,
        "btcusdt@trade": 3_144,
    }
    # Microsecond receive times become nanoseconds, in file order.
    assert frames[0].ts_recv == 1_680_652_800_004_107_000
    times = [frame.ts_recv for frame in frames]
    assert times == sorted(times)


def test_recv_ns_snapshot_line_is_a_rest_body_for_the_symbol_of_its_update_ids(
    tmp_path: Path,
) -> None:
    capture = tmp_path / "capture.dat.gz"
    diff = {"e": "depthUpdate", "s": "ETHUSDT", "U": 100, "u": 105, "b": [], "a": []}
    other = {"e": "depthUpdate", "s": "BTCUSDT", "U": 9_000, "u": 9_004, "b": [], "a": []}
    lines = [
        f"1680652800004107000 {json.dumps({'stream': 'ethusdt@depth@100ms', 'data': diff})}",
        f"1680652800004107001 {json.dumps({'stream': 'btcusdt@depth@100ms', 'data': other})}",
        '1680652800104107 {"lastUpdateId":104,"bids":[["1.0","2.0"]],"asks":[]}',
    ]
    capture.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    events = read_recording(capture).events
    rest = events[2]
    assert isinstance(rest, RestBody)
    assert rest.url.endswith("/api/v3/depth?symbol=ETHUSDT&limit=1000")
    assert rest.ts_recv == 1_680_652_800_104_107_000  # microseconds on that line


def test_cryptofeed_session_keeps_connections_sent_frames_and_rest_bodies(
    shared_data: Path,
) -> None:
    recording = read_recording(shared_data / "binance/cryptofeed_2021-04-04_BINANCE-ee25be.0")
    kinds = Counter(type(e).__name__ for e in recording.events)
    assert kinds == {"ConnectionOpened": 1, "RestBody": 3, "ReceivedFrame": 4_716}
    opened = recording.events[0]
    assert isinstance(opened, ConnectionOpened)
    assert opened.url.startswith("wss://stream.binance.com:9443/stream?streams=")
    assert opened.ts_recv == 1_617_566_590_378_895_000
    rest = [e for e in recording.events if isinstance(e, RestBody)]
    assert [json.loads(e.body)["lastUpdateId"] for e in rest] == [
        1_513_939_277,
        9_893_033_066,
        6_591_598_839,
    ]


def test_kraken_session_reads_configuration_and_subscribe_frames(shared_data: Path) -> None:
    recording = read_recording(shared_data / "kraken/2021-04-05_7136ce8d_KRAKEN-82ac16.0")
    assert recording.venue == "kraken"
    assert recording.configuration is not None
    assert "trades" in recording.configuration
    sent = [e for e in recording.events if isinstance(e, SentFrame)]
    assert len(sent) == 1
    assert json.loads(sent[0].frame)["subscription"] == {"name": "trade"}
    assert sent[0].connection == 0


@pytest.mark.parametrize(
    ("name", "path", "key", "count"),
    [
        ("binance", "binance/exchangeInfo_2021.cryptofeed", "symbols", 1_695),
        ("kraken", "kraken/AssetPairs_2021.cryptofeed", "result", 304),
        ("kraken_futures", "kraken_futures/instruments_2021.cryptofeed", "instruments", 27),
    ],
)
def test_rest_dump_holds_the_full_discovery_response(
    shared_data: Path, name: str, path: str, key: str, count: int
) -> None:
    recording = read_recording(shared_data / path)
    assert recording.format == "rest-dump"
    assert recording.venue == name
    (body,) = [e for e in recording.events if isinstance(e, RestBody)]
    assert len(json.loads(body.body)[key]) == count


def test_kraken_book_document_replays_with_every_checksum_reproduced(shared_data: Path) -> None:
    recording = read_recording(shared_data / "kraken/orderbook-v1-2023-05-29.json")
    frames = [json.loads(e.frame) for e in recording.events if isinstance(e, ReceivedFrame)]
    assert len(frames) == 111
    times = [e.ts_recv for e in recording.events]
    assert times == sorted(times)
    assert _checksums_reproduced(frames) == 110


def test_kraken_book_1000_session_reproduces_every_recorded_checksum(shared_data: Path) -> None:
    frames = [
        json.loads(e.frame)
        for e in read_recording(shared_data / "kraken/KRAKEN.ws.50.0").events
        if isinstance(e, ReceivedFrame) and e.frame.startswith("[")
    ]
    assert _checksums_reproduced(frames) == 4_269  # every update of the ten books


def _checksums_reproduced(frames: list[list[object]]) -> int:
    """Apply v1 book frames with the venue's book; count updates whose checksum matches."""
    books: dict[str, LevelBook] = {}
    matched = 0
    for frame in frames:
        pair, name = str(frame[-1]), str(frame[-2])
        parts = [part for part in frame[1:-2] if isinstance(part, dict)]
        if "as" in parts[0] or "bs" in parts[0]:
            book = books[pair] = LevelBook(int(name.split("-")[1]))
            for side, bid in (("as", False), ("bs", True)):
                for level in parts[0].get(side, []):
                    book.put(bid, level[0], level[1])
            continue
        book = books[pair]
        for part in parts:
            for side, bid in (("a", False), ("b", True)):
                for level in part.get(side, []):
                    book.put(bid, level[0], level[1])
        book.truncate()
        assert book_checksum(book) == int(parts[-1]["c"]), f"{pair} checksum"
        matched += 1
    return matched


def test_merged_recordings_number_connections_apart_in_time_order(shared_data: Path) -> None:
    paths = ["kraken/KRAKEN.ws.48.0", "kraken/KRAKEN.ws.49.0", "kraken/KRAKEN.ws.50.0"]
    events = merge_events(read_recording(shared_data / p) for p in paths)
    opened = [e for e in events if isinstance(e, ConnectionOpened)]
    assert sorted(e.connection for e in opened) == [0, 1, 2]
    assert [e.ts_recv for e in events] == sorted(e.ts_recv for e in events)


def test_unix_seconds_text_converts_exactly() -> None:
    assert seconds_text_to_ns("1626994927.6892228") == 1_626_994_927_689_222_800
    assert seconds_text_to_ns("1617566591") == 1_617_566_591_000_000_000
    assert epoch_int_to_ns(1_680_652_800_004) == 1_680_652_800_004_000_000
    with pytest.raises(BadDataError):
        seconds_text_to_ns("1617566591.3e2")


def test_writer_round_trips_frames_rest_bodies_and_line_breaks(tmp_path: Path) -> None:
    with RecordingWriter(tmp_path, "binance") as writer:
        connection = writer.open_connection("wss://stream.binance.com/stream?streams=a", 10)
        writer.write_sent(connection, '{"method":"SUBSCRIBE"}', 11)
        writer.write_received(connection, b'{"stream":"a","data":{}}', 12)
        writer.write_received(connection, '{"odd":\n"frame"}', 13)
        writer.write_rest("https://api.binance.com/api/v3/depth?symbol=A", '{"lastUpdateId":1}', 14)
    recording = read_recording(tmp_path)
    assert recording.format == "ticklane"
    assert recording.venue == "binance"
    assert list(recording.events) == [
        ConnectionOpened(10, 0, "wss://stream.binance.com/stream?streams=a"),
        SentFrame(11, 0, '{"method":"SUBSCRIBE"}'),
        ReceivedFrame(12, 0, '{"stream":"a","data":{}}'),
        ReceivedFrame(13, 0, '{"odd":\n"frame"}'),
        RestBody(14, "https://api.binance.com/api/v3/depth?symbol=A", '{"lastUpdateId":1}'),
    ]


def test_writer_rotates_by_size_and_each_file_names_its_open_connections(tmp_path: Path) -> None:
    with RecordingWriter(tmp_path, "kraken", rotate_bytes=200) as writer:
        connection = writer.open_connection("wss://ws.kraken.com/v2", 1)
        for number in range(20):
            writer.write_received(
                connection, json.dumps({"n": number, "pad": "x" * 40}), 2 + number
            )
    assert len(writer.paths) > 3
    frames = [e for e in read_recording(tmp_path).events if isinstance(e, ReceivedFrame)]
    assert [json.loads(e.frame)["n"] for e in frames] == list(range(20))
    with gzip.open(writer.paths[-1], "rt") as last:
        header = json.loads(last.readline().split(" ", 2)[2])
    assert header["connections"] == {"0": "wss://ws.kraken.com/v2"}
    assert read_recording(writer.paths[-1]).format == "ticklane"


def test_flushed_recording_is_readable_while_still_being_written(tmp_path: Path) -> None:
    writer = RecordingWriter(tmp_path, "binance")
    try:
        connection = writer.open_connection("wss://x/ws", 1)
        writer.write_received(connection, '{"a":1}', 2)
        writer.flush()
        events = read_recording(writer.paths[0]).events
    finally:
        writer.close()
    assert events == (ConnectionOpened(1, 0, "wss://x/ws"), ReceivedFrame(2, 0, '{"a":1}'))
