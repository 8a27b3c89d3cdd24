"""A local HTTPS server playing Databento's historical HTTP API (``protocols.md`` 4.1) over the
real DBN files in ``../shared/data/databento`` (read in place, never copied).

The official client reaches it through ``gateway="https://127.0.0.1:<port>"`` with
``REQUESTS_CA_BUNDLE`` naming the test CA (``trustme``); ``Running.env()`` gives the variables
a child process (``data-manager``) needs. Behaviour, as the real API:

- HTTP Basic auth, username = the key: otherwise 401 ``{"detail": ...}``;
- POST forms ``/v0/metadata.get_record_count | get_billable_size | get_cost`` and
  ``/v0/timeseries.get_range``; GET ``/v0/metadata.list_datasets | list_schemas |
  get_dataset_range``;
- an unknown dataset, schema or symbol: 422 ``{"detail": {"case", "message", "docs"}}``;
- ``get_range``: the file's records in ``[start, end)`` (on ``ts_recv`` when the schema has
  it, else ``ts_event``) of the requested symbols, as a zstd DBN stream (the file's metadata,
  then the records kept); counts, billable size (record bytes) and cost
  (``size * USD_PER_GB / 1e9``) are computed from the same records.

``faults[endpoint]`` answers are served first, one per request (a 500, a corrupt body).
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import databento
import numpy as np
import trustme
import zstandard

API_KEY: Final = "db-ticklane-test-key-0001"
USD_PER_GB: Final = Decimal("12.5")  # the price the fake charges, per 10**9 billable bytes
DOCS: Final = "https://databento.com/docs/api-reference-historical"


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"


@dataclass
class DbnData:
    """One file's header bytes, records and symbology, decoded once."""

    header: bytes
    records: np.ndarray[Any, Any]
    mappings: dict[str, list[int]]  # raw symbol -> instrument ids
    start: int
    end: int

    @classmethod
    def load(cls, path: Path) -> DbnData:
        raw = path.read_bytes()
        if raw[:4] == b"\x28\xb5\x2f\xfd":
            raw = zstandard.ZstdDecompressor().decompressobj().decompress(raw)
        header_length = 8 + int.from_bytes(raw[4:8], "little")
        store = databento.DBNStore.from_bytes(raw)
        records = np.asarray(store.to_ndarray())
        mappings = {
            symbol: [int(i["symbol"]) for i in intervals if str(i["symbol"]).isdigit()]
            for symbol, intervals in store.mappings.items()
        }
        end = store.metadata.end
        return cls(raw[:header_length], records, mappings, store.metadata.start, end or 0)


@dataclass
class DatabentoServer:
    """The datasets served: ``files[dataset][schema]``; what was asked: ``requests``."""

    files: dict[str, dict[str, Path]]
    key: str = API_KEY
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    faults: dict[str, list[Answer]] = field(default_factory=dict)
    _loaded: dict[Path, DbnData] = field(default_factory=dict)

    @classmethod
    def of_shared_data(cls, shared_data: Path) -> DatabentoServer:
        """Every ``python-tests/tests/data/<DATASET>/test_data.<schema>.dbn.zst``."""
        root = shared_data / "databento" / "python-tests" / "tests" / "data"
        files: dict[str, dict[str, Path]] = {}
        for path in sorted(root.glob("*/test_data.*.dbn.zst")):
            schema = path.name.removeprefix("test_data.").removesuffix(".dbn.zst")
            files.setdefault(path.parent.name, {})[schema] = path
        return cls(files)

    def data(self, dataset: str, schema: str) -> DbnData:
        path = self.files[dataset][schema]
        if path not in self._loaded:
            self._loaded[path] = DbnData.load(path)
        return self._loaded[path]

    def selected(self, fields: dict[str, str]) -> tuple[DbnData, np.ndarray[Any, Any]] | Answer:
        """The records a request asks for, or the error answer."""
        dataset, schema = fields.get("dataset", ""), fields.get("schema", "trades")
        if dataset not in self.files:
            return _error(422, "dataset_invalid", f"Unknown dataset '{dataset}'.")
        if schema not in self.files[dataset]:
            return _error(
                422, "schema_invalid", f"Schema '{schema}' is not available for {dataset}."
            )
        data = self.data(dataset, schema)
        start, end = _timestamp(fields.get("start")), _timestamp(fields.get("end"))
        if start is None:
            return _error(422, "start_invalid", "A start time is required.")
        if end is not None and end <= start:
            return _error(422, "data_start_after_end", "The start must be before the end.")
        wanted = [s for s in fields.get("symbols", "").split(",") if s]
        ids: set[int] = set()
        if wanted and wanted != ["ALL_SYMBOLS"]:
            for symbol in wanted:
                if fields.get("stype_in") == "instrument_id" and symbol.isdigit():
                    ids.add(int(symbol))
                else:
                    ids.update(data.mappings.get(symbol, []))
            if not ids:
                return _error(
                    422, "symbology_invalid_request", "None of the symbols could be resolved"
                )
        records = data.records
        on = "ts_recv" if "ts_recv" in (records.dtype.names or ()) else "ts_event"
        keep = records[on] >= start
        if end is not None:
            keep &= records[on] < end
        if ids:
            keep &= np.isin(records["instrument_id"], list(ids))
        return data, records[keep]

    def answer(self, method: str, endpoint: str, fields: dict[str, str]) -> Answer:
        queued = self.faults.get(endpoint)
        if queued:
            return queued.pop(0)
        if endpoint == "metadata.list_datasets":
            return _json(sorted(self.files))
        if endpoint == "metadata.list_schemas":
            dataset = fields.get("dataset", "")
            if dataset not in self.files:
                return _error(422, "dataset_invalid", f"Unknown dataset '{dataset}'.")
            return _json(sorted(self.files[dataset]))
        if endpoint == "metadata.get_dataset_range":
            dataset = fields.get("dataset", "")
            if dataset not in self.files:
                return _error(422, "dataset_invalid", f"Unknown dataset '{dataset}'.")
            loaded = [self.data(dataset, schema) for schema in self.files[dataset]]
            return _json(
                {
                    "start": _iso(min(d.start for d in loaded)),
                    "end": _iso(max(d.end for d in loaded)),
                }
            )
        got = self.selected(fields)
        if isinstance(got, Answer):
            return got
        data, kept = got
        if endpoint == "metadata.get_record_count":
            return _json(len(kept))
        if endpoint == "metadata.get_billable_size":
            return _json(kept.nbytes)
        if endpoint == "metadata.get_cost":
            return _json(float(Decimal(kept.nbytes) * USD_PER_GB / 10**9))
        if endpoint == "timeseries.get_range":
            body = zstandard.ZstdCompressor().compress(data.header + kept.tobytes())
            return Answer(200, body, "application/octet-stream")
        return Answer(404, b'{"detail": "Not found"}')

    def expected_cost(self, billable_bytes: int) -> Decimal:
        return Decimal(billable_bytes) * USD_PER_GB / 10**9


def _error(status: int, case: str, message: str) -> Answer:
    detail = {"case": case, "message": message, "status_code": status, "docs": DOCS}
    return _json({"detail": detail}, status)


def _json(value: object, status: int = 200) -> Answer:
    return Answer(status, json.dumps(value).encode())


def _timestamp(text: str | None) -> int | None:
    if not text:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // 10**9, UTC).isoformat()


@dataclass
class Running:
    """A started server: what a client (or a child process) needs to reach it."""

    gateway: str
    ca_bundle: Path
    key: str
    server: DatabentoServer

    def env(self) -> dict[str, str]:
        return {"REQUESTS_CA_BUNDLE": str(self.ca_bundle), "DATABENTO_API_KEY": self.key}


@contextmanager
def serve(server: DatabentoServer, tmp_path: Path) -> Iterator[Running]:
    """Serve over TLS on 127.0.0.1 (a free port), the CA's PEM written under ``tmp_path``."""
    ca = trustme.CA()
    ca_bundle = tmp_path / "databento-test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_bundle))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    expected_auth = "Basic " + base64.b64encode(f"{server.key}:".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            fields = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            if method == "POST":
                length = int(self.headers.get("Content-Length") or 0)
                form = self.rfile.read(length).decode()
                fields.update({k: v[-1] for k, v in parse_qs(form).items()})
            endpoint = parts.path.removeprefix("/v0/")
            server.requests.append((method, endpoint, fields))
            if self.headers.get("Authorization") != expected_auth:
                answer = _json({"detail": "Authentication failed."}, 401)
            else:
                answer = server.answer(method, endpoint, fields)
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: tests assert on ``requests``."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        gateway = f"https://127.0.0.1:{httpd.server_address[1]}"
        yield Running(gateway, ca_bundle, server.key, server)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
