"""Local HTTP servers for the free history sources: a Binance archive tree (zips built in the
test from recorded trades, with ``.CHECKSUM`` files) and a server answering by a function, for
the venues' REST histories. Recorded trades are read from ``../shared/data`` in place."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Query = dict[str, list[str]]
Responder = Callable[[str, str, Query], Answer]  # (method, path, query) -> answer


@dataclass
class Server:
    """What a served test saw: every request as ``(method, path, query)``."""

    respond: Responder
    requests: list[tuple[str, str, Query]] = field(default_factory=list)
    faults: list[Answer] = field(default_factory=list)  # answered first, one per request


@contextmanager
def serve(server: Server) -> Iterator[str]:
    """Serve on 127.0.0.1 (a free port); yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            server.requests.append((method, parts.path, query))
            answer = server.faults.pop(0) if server.faults else None
            if answer is None:
                answer = server.respond(method, parts.path, query)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(answer.body)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_HEAD(self) -> None:
            self._answer("HEAD")

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: tests assert on requests, not on the log."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# --- recorded trades -----------------------------------------------------------------------


@dataclass(frozen=True)
class Trade:
    """One recorded Binance ``@trade``: its exact text fields."""

    trade_id: int
    price: str
    qty: str
    time_ms: int
    buyer_is_maker: bool


def recorded_binance_trades(shared_data: Path) -> list[Trade]:
    """The ``@trade`` frames of the 2023-04-05 BTCUSDT capture, in trade id order."""
    trades = {}
    with gzip.open(shared_data / "binance" / "btcusdt_20230405.dat.gz", "rb") as handle:
        for line in handle:
            _, _, body = line.partition(b" ")
            if b"@trade" not in body:
                continue
            data = json.loads(body)["data"]
            trades[data["t"]] = Trade(data["t"], data["p"], data["q"], data["T"], data["m"])
    return [trades[key] for key in sorted(trades)]


def trades_csv(trades: list[Trade], *, microseconds: dict[int, int] | None = None) -> bytes:
    """The archive's headerless trades CSV; ``microseconds`` maps an id to its µs time."""
    lines = []
    for t in trades:
        stamp = microseconds[t.trade_id] if microseconds is not None else t.time_ms
        quote = Decimal(t.price) * Decimal(t.qty)
        lines.append(f"{t.trade_id},{t.price},{t.qty},{quote},{stamp},{t.buyer_is_maker},True\n")
    return "".join(lines).encode()


@dataclass(frozen=True)
class AggTrade:
    agg_id: int
    price: str
    qty: Decimal
    first_id: int
    last_id: int
    time_ms: int
    buyer_is_maker: bool


def aggregate(trades: list[Trade]) -> list[AggTrade]:
    """Binance's aggregation: consecutive fills of one taker order at one price (same time,
    price and side) make one aggregate trade, numbered from 1."""
    groups: list[list[Trade]] = []
    for t in trades:
        last = groups[-1][-1] if groups else None
        if last and (last.time_ms, last.price, last.buyer_is_maker) == (
            t.time_ms,
            t.price,
            t.buyer_is_maker,
        ):
            groups[-1].append(t)
        else:
            groups.append([t])
    return [
        AggTrade(
            agg_id=number,
            price=group[0].price,
            qty=sum((Decimal(t.qty) for t in group), Decimal(0)),
            first_id=group[0].trade_id,
            last_id=group[-1].trade_id,
            time_ms=group[0].time_ms,
            buyer_is_maker=group[0].buyer_is_maker,
        )
        for number, group in enumerate(groups, start=1)
    ]


def agg_trades_csv(rows: list[AggTrade]) -> bytes:
    """The archive's headerless 8-column aggTrades CSV."""
    return "".join(
        f"{r.agg_id},{r.price},{r.qty:f},{r.first_id},{r.last_id},{r.time_ms},"
        f"{r.buyer_is_maker},True\n"
        for r in rows
    ).encode()


# --- the archive ---------------------------------------------------------------------------


def make_zip(member: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, content)
    return buffer.getvalue()


def corrupt_member(zip_bytes: bytes) -> bytes:
    """The zip with bytes in the middle of its compressed data changed (CRC then fails)."""
    data = bytearray(zip_bytes)
    middle = len(data) // 2
    for index in range(middle, middle + 16):
        data[index] ^= 0xFF
    return bytes(data)


@dataclass
class ArchiveTree:
    """Files by URL path; a path not here answers 404, as the real archive does."""

    files: dict[str, bytes] = field(default_factory=dict)

    def add(
        self,
        path: str,
        csv: bytes,
        *,
        checksum_of: bytes | None = None,
        damage: bool = False,
    ) -> bytes:
        """Publish ``csv`` zipped at ``path`` (``data/spot/...zip``) with its ``.CHECKSUM``.

        ``damage`` corrupts the zip after zipping; ``checksum_of`` publishes the checksum of
        other bytes (default: of the zip as served). Returns the zip as served.
        """
        name = path.rsplit("/", 1)[1]
        body = make_zip(name.removesuffix(".zip") + ".csv", csv)
        if damage:
            body = corrupt_member(body)
        digest = hashlib.sha256(checksum_of if checksum_of is not None else body).hexdigest()
        self.files["/" + path] = body
        self.files["/" + path + ".CHECKSUM"] = f"{digest}  {name}\n".encode()
        return body

    def respond(self, method: str, path: str, query: Query) -> Answer:
        body = self.files.get(path)
        if body is None:
            return Answer(404, b"<Error><Code>NoSuchKey</Code></Error>")
        return Answer(200, body, {"Content-Type": "application/zip"})
