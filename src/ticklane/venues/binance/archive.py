"""Binance's public data archive (data.binance.vision, protocols.md 1.6): file names, checksums
and verified downloads of spot ``trades`` and ``aggTrades`` zips.

::

    {base}/data/spot/daily/{kind}/{S}/{S}-{kind}-YYYY-MM-DD.zip      (+ ".CHECKSUM")
    {base}/data/spot/monthly/{kind}/{S}/{S}-{kind}-YYYY-MM.zip       (+ ".CHECKSUM")

A ``.CHECKSUM`` file is one ``sha256sum`` line, ``<hex>  <zip name>``. A download streams the
zip to a file while hashing it (memory stays bounded whatever the size) and is kept only when
its SHA-256 equals the published one. HTTP 404 is not an error here but an outcome,
``NotPublished``: daily files appear the day after, monthly files on the first Monday of the
following month, so the caller decides between falling back to daily files, "not yet" and
"missing". Other HTTP outcomes are translated as in ``venues.http`` (429/418 rate limited,
408/5xx and network failures transient, other 4xx permanent).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Final

import httpx
import msgspec

from ticklane.core.errors import (
    BadDataError,
    ConfigError,
    NoDataError,
    PermanentError,
    TransientError,
)
from ticklane.venues.binance.symbols import normalize
from ticklane.venues.common import snippet
from ticklane.venues.http import VenueRateLimitedError

ARCHIVE_URL: Final = "https://data.binance.vision"
DEFAULT_TIMEOUT_S: Final = 60.0
_READ_SIZE: Final = 1 << 20
_CHECKSUM_LINE: Final = re.compile(r"^([0-9a-fA-F]{64})\s+\*?(\S+)\s*$")


class ArchiveKind(StrEnum):
    """Which trade files: every trade (ids as the ``@trade`` stream) or aggregated trades."""

    TRADES = "trades"
    AGG_TRADES = "aggTrades"


class ArchiveFile(msgspec.Struct, frozen=True):
    """One zip of the archive: a day (``period`` "daily", ``label`` 2024-01-31) or a month
    (``period`` "monthly", ``label`` 2024-01)."""

    symbol: str
    kind: ArchiveKind
    period: str
    label: str

    @property
    def name(self) -> str:
        return f"{self.symbol}-{self.kind.value}-{self.label}.zip"

    @property
    def path(self) -> str:
        return f"data/spot/{self.period}/{self.kind.value}/{self.symbol}/{self.name}"

    def url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/{self.path}"

    def checksum_url(self, base_url: str) -> str:
        return self.url(base_url) + ".CHECKSUM"

    def published_at(self) -> datetime:
        """When Binance publishes the file at the latest (UTC): a day file during the next
        day, a month file on the first Monday of the following month."""
        if self.period == "daily":
            return datetime.combine(date.fromisoformat(self.label), time(), UTC) + timedelta(2)
        year, month = (int(part) for part in self.label.split("-"))
        first = date(year + month // 12, month % 12 + 1, 1)
        monday = first + timedelta((7 - first.weekday()) % 7)
        return datetime.combine(monday, time(), UTC) + timedelta(1)


def daily_file(symbol: str, kind: ArchiveKind, day: date) -> ArchiveFile:
    return ArchiveFile(normalize(symbol), kind, "daily", day.isoformat())


def monthly_file(symbol: str, kind: ArchiveKind, year: int, month: int) -> ArchiveFile:
    return ArchiveFile(normalize(symbol), kind, "monthly", f"{year:04d}-{month:02d}")


class Downloaded(msgspec.Struct, frozen=True):
    """A zip on disk whose SHA-256 matched its ``.CHECKSUM``."""

    file: ArchiveFile
    path: Path
    sha256: str
    size: int


class NotPublished(msgspec.Struct, frozen=True):
    """The archive answered 404 for the zip or its checksum: not published (yet)."""

    file: ArchiveFile
    url: str


class ArchiveNotPublishedError(TransientError, NoDataError):
    """The file is not published yet (its day or month is too recent): try again later."""

    def __init__(self, message: str, *, file: ArchiveFile, url: str) -> None:
        super().__init__(message)
        self.file = file
        self.url = url


class ArchiveMissingError(PermanentError, NoDataError):
    """The file should have been published by now and is not: the archive has no such day
    (a symbol not trading then, a wrong symbol). Another source may have the trades."""

    def __init__(self, message: str, *, file: ArchiveFile, url: str) -> None:
        super().__init__(message)
        self.file = file
        self.url = url


def not_published_error(
    outcome: NotPublished, now: datetime
) -> ArchiveNotPublishedError | ArchiveMissingError:
    """The error for a 404: "not yet" before the file's publication time, "missing" after."""
    file, due = outcome.file, outcome.file.published_at()
    if now < due:
        return ArchiveNotPublishedError(
            f"binance archive: {file.name} is not published yet ({outcome.url} answered 404); "
            f"{file.period} files appear by {due:%Y-%m-%d %H:%M} UTC",
            file=file,
            url=outcome.url,
        )
    return ArchiveMissingError(
        f"binance archive: {file.name} is not in the archive ({outcome.url} answered 404): "
        f"no {file.kind.value} of {file.symbol} for {file.label}",
        file=file,
        url=outcome.url,
    )


def parse_checksum(file: ArchiveFile, url: str, body: bytes) -> str:
    """The hex digest of a ``.CHECKSUM`` body; a malformed one or one naming another file is
    ``BadDataError``."""
    text = body.decode("utf-8", errors="replace").strip()
    found = _CHECKSUM_LINE.match(text)
    if found is None or found.group(2) != file.name:
        raise BadDataError(
            f"binance archive: {url} is not a checksum line for {file.name}: {snippet(body)}",
            field="checksum",
            value=text[:200],
        )
    return found.group(1).lower()


class ArchiveClient:
    """Checksums, sizes and verified downloads from the archive at ``base_url``."""

    def __init__(
        self,
        base_url: str = ARCHIVE_URL,
        *,
        client: httpx.AsyncClient | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._own_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout_s)

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    async def size(self, file: ArchiveFile) -> int | None:
        """The zip's size from a HEAD request; None when unpublished or not said."""
        url = file.url(self.base_url)
        response = await self._send("HEAD", url)
        if response.status_code == 404:
            return None
        _raise_for_status(url, response)
        length = response.headers.get("Content-Length")
        return int(length) if length and length.isdigit() else None

    async def checksum(self, file: ArchiveFile) -> str | NotPublished:
        """The published SHA-256 of ``file`` (hex), or ``NotPublished``."""
        url = file.checksum_url(self.base_url)
        response = await self._send("GET", url)
        if response.status_code == 404:
            return NotPublished(file, url)
        _raise_for_status(url, response)
        return parse_checksum(file, url, response.content)

    async def download(self, file: ArchiveFile, directory: Path) -> Downloaded | NotPublished:
        """Fetch ``file`` into ``directory`` (named as in the archive) and verify it.

        A SHA-256 that differs from the published one raises ``BadDataError`` naming the file
        and both hashes; the bad zip is deleted, so nothing of it can be imported.
        """
        expected = await self.checksum(file)
        if isinstance(expected, NotPublished):
            return expected
        url = file.url(self.base_url)
        target = Path(directory) / file.name
        digest = hashlib.sha256()
        size = 0
        try:
            async with self._client.stream("GET", url) as response:
                if response.status_code == 404:
                    return NotPublished(file, url)
                if response.status_code >= 300:
                    await response.aread()
                    _raise_for_status(url, response)
                with target.open("wb") as out:
                    async for piece in response.aiter_bytes(_READ_SIZE):
                        digest.update(piece)
                        out.write(piece)
                        size += len(piece)
        except httpx.HTTPError as error:
            target.unlink(missing_ok=True)
            raise _transport_error("GET", url, error) from error
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        actual = digest.hexdigest()
        if actual != expected:
            target.unlink(missing_ok=True)
            raise BadDataError(
                f"binance archive: {file.name} from {url} fails its checksum: sha256 is "
                f"{actual}, the published .CHECKSUM says {expected}; the file was not imported",
                field="sha256",
                value=actual,
            )
        return Downloaded(file, target, actual, size)

    async def _send(self, method: str, url: str) -> httpx.Response:
        try:
            return await self._client.request(method, url)
        except httpx.HTTPError as error:
            raise _transport_error(method, url, error) from error


def _transport_error(method: str, url: str, error: httpx.HTTPError) -> Exception:
    if isinstance(error, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return ConfigError(f"binance archive: bad URL {url!r}: {error}")
    return TransientError(f"binance archive: {method} {url} failed: {error!r}")


def _raise_for_status(url: str, response: httpx.Response) -> None:
    status = response.status_code
    if status < 300:
        return
    where = f"binance archive: {response.request.method} {url} answered HTTP {status}"
    body = snippet(response.content)
    if status in (418, 429):
        retry_after = _seconds(response.headers.get("Retry-After"))
        raise VenueRateLimitedError(f"{where} (rate limited): {body}", retry_after_s=retry_after)
    if status == 408 or status >= 500:
        raise TransientError(f"{where}: {body}")
    raise PermanentError(f"{where}: {body}")


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None
