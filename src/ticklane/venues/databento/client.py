"""A thin synchronous wrapper around ``databento.Historical``: estimates and downloads, with
the library's exceptions translated into ours in one place (``_translated``).

=======================================  =================================================
databento raises                         we raise
=======================================  =================================================
``BentoClientError`` 401 / 403           ``ConfigError``: the key was refused
``BentoClientError`` 429                 ``RateLimitedError``
``BentoClientError`` 408                 ``TransientError``
``BentoClientError`` other 4xx           ``PermanentError`` naming dataset, schema, symbols
``BentoServerError`` (5xx)               ``TransientError``
``requests`` connection / timeout        ``TransientError``
``requests`` TLS failure                 ``ConfigError`` (gateway, ``REQUESTS_CA_BUNDLE``)
``ValueError`` (checked before sending)  ``PermanentError`` (e.g. an unknown schema)
unreadable downloaded body               ``BadDataError`` naming the file
=======================================  =================================================

The calls block (``requests``); the history source runs them in a thread. The gateway is
used as given: a test points it at a local HTTPS server and sets ``REQUESTS_CA_BUNDLE``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import databento
import databento_dbn
import requests
import zstandard
from databento.common.error import BentoClientError, BentoError, BentoServerError

from ticklane.config.settings import DatabentoConfig
from ticklane.core.errors import (
    BadDataError,
    ConfigError,
    PermanentError,
    RateLimitedError,
    TicklaneError,
    TransientError,
)
from ticklane.datamanager.history.source import Estimate

log = logging.getLogger(__name__)

T = TypeVar("T")
_STREAMING_FAILED = "Error streaming response"  # databento's message when the body broke off
# What databento lets through: its own errors, requests', its argument checks (ValueError), and
# the decoder's when the downloaded body is not DBN (DBNError, ZstdError).
_FOREIGN = (
    BentoError,
    requests.RequestException,
    ValueError,
    databento_dbn.DBNError,
    zstandard.ZstdError,
)


class Request:
    """One historical request: ``[start_ns, end_ns)`` of ``symbols`` in ``dataset``/``schema``."""

    def __init__(
        self,
        dataset: str,
        schema: str,
        symbols: Sequence[str],
        stype_in: str,
        start_ns: int,
        end_ns: int,
    ) -> None:
        self.dataset = dataset
        self.schema = schema
        self.symbols = list(symbols)
        self.stype_in = stype_in
        self.start_ns = start_ns
        self.end_ns = end_ns

    def __str__(self) -> str:
        return f"{self.dataset} {self.schema} {','.join(self.symbols)}"


class DatabentoClient:
    """Databento's historical API for one key and gateway (from ``DatabentoConfig``)."""

    def __init__(self, config: DatabentoConfig) -> None:
        key = config.require_api_key()
        try:
            self._client = databento.Historical(key=key, gateway=config.gateway)
        except ValueError as error:  # a blank key or a gateway that is not a URL
            raise ConfigError(f"databento: {error} (gateway {config.gateway!r})") from None
        self.gateway = self._client.gateway

    def estimate(self, request: Request) -> Estimate:
        """Record count, billable size and cost of ``request`` (free metadata calls)."""
        r, metadata = request, self._client.metadata
        records = self._call(
            r,
            lambda: metadata.get_record_count(
                r.dataset, r.start_ns, r.end_ns, r.symbols, r.schema, r.stype_in
            ),
        )
        size = self._call(
            r,
            lambda: metadata.get_billable_size(
                r.dataset, r.start_ns, r.end_ns, r.symbols, r.schema, r.stype_in
            ),
        )
        cost = self._call(
            r,
            lambda: metadata.get_cost(
                r.dataset,
                r.start_ns,
                r.end_ns,
                symbols=r.symbols,
                schema=r.schema,
                stype_in=r.stype_in,
            ),
        )
        return Estimate(records=int(records), bytes=int(size), cost_usd=Decimal(repr(cost)))

    def download(self, request: Request, path: Path) -> Path:
        """The request's records as a DBN (zstd) file at ``path`` (replaced if present)."""
        path.unlink(missing_ok=True)
        timeseries = self._client.timeseries

        def get() -> None:
            store = timeseries.get_range(
                request.dataset,
                request.start_ns,
                request.end_ns,
                symbols=request.symbols,
                schema=request.schema,
                stype_in=request.stype_in,
                path=path,
            )
            # DBNStore.from_file keeps the file open; we read it ourselves, so close it now.
            store.reader.close()

        self._call(request, get, path=path)
        return path

    def _call(self, request: Request, call: Callable[[], T], *, path: Path | None = None) -> T:
        failure: TicklaneError | None = None
        try:
            return call()
        except (*_FOREIGN, OSError) as error:
            failure = _translated(error, request, path)
        # Raised outside the except block: the library's exception (and the file its
        # DBNStore may hold) is released here, not chained to ours.
        raise failure


def _detail(error: BentoError) -> str:
    message = getattr(error, "message", None) or str(error)
    return " ".join(str(message).split())


def _translated(error: Exception, request: Request, path: Path | None) -> TicklaneError:
    what = f"databento {request}"
    if isinstance(error, BentoClientError):
        status, detail = error.http_status, _detail(error)
        if status in (401, 403):
            return ConfigError(
                f"databento refused the API key (HTTP {status}: {detail}); check DATABENTO_API_KEY"
            )
        if status == 429:
            return RateLimitedError(f"{what}: rate limited (HTTP 429): {detail}")
        if status == 408:
            return TransientError(f"{what}: timed out (HTTP 408): {detail}")
        return PermanentError(f"{what}: refused (HTTP {status}): {detail}")
    if isinstance(error, BentoServerError):
        return TransientError(f"{what}: server error (HTTP {error.http_status}): {_detail(error)}")
    if isinstance(error, requests.exceptions.SSLError):
        return ConfigError(
            f"{what}: TLS failure talking to the gateway ({error}); check the gateway "
            "and, for a private CA, REQUESTS_CA_BUNDLE"
        )
    if isinstance(error, requests.RequestException):
        return TransientError(f"{what}: {type(error).__name__}: {error}")
    if isinstance(error, BentoError) and str(error).startswith(_STREAMING_FAILED):
        return TransientError(f"{what}: the download broke off: {error}")
    if path is not None and path.exists():
        name = path.name
        return BadDataError(
            f"{what}: the downloaded file {name} is not readable DBN data: {error}",
            field="path",
            value=str(path),
        )
    if isinstance(error, OSError):
        return TransientError(f"{what}: {type(error).__name__}: {error}")
    return PermanentError(f"{what}: {error}")
