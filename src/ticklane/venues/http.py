"""The one place where httpx's outcomes become ticklane errors, for every venue's REST client.

::

    HTTP 429, 418 (Binance auto-ban)         -> VenueRateLimitedError (RateLimitedError):
                                                back off, ``retry_after_s`` when the venue said
    HTTP 408, 5xx; timeouts; connect/read     -> TransientError: retry later
    other HTTP 4xx                            -> PermanentError: the request is wrong
    malformed URL or scheme                   -> ConfigError: fix the configured base URL
    a body that is not the documented shape   -> BadDataError

Each client receives its base URL (defaults are module constants of the venue's ``rest``
module) and optionally an ``httpx.AsyncClient`` to share; one it created itself it closes in
``aclose()``.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Final, Self, TypeVar

import httpx
import msgspec

from ticklane.core.errors import (
    BadDataError,
    ConfigError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from ticklane.venues.common import snippet

DEFAULT_TIMEOUT_S: Final = 10.0
_RATE_LIMITED: Final = frozenset({418, 429})
T = TypeVar("T")


class VenueRateLimitedError(RateLimitedError):
    """The venue asked us to slow down; ``retry_after_s`` is its ``Retry-After`` when given."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RestClient:
    """GET requests against one venue base URL, with errors translated as the module says."""

    def __init__(
        self,
        exchange: str,
        base_url: str,
        *,
        client: httpx.AsyncClient | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.exchange = exchange
        self.base_url = base_url.rstrip("/")
        self._own_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout_s)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._own_client:
            await self._client.aclose()

    async def get(self, path: str, params: dict[str, Any] | None = None) -> bytes:
        """The body of ``GET base_url + path``, or the error the module docstring names."""
        url = self.base_url + path
        try:
            response = await self._client.get(url, params=params)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
            raise ConfigError(f"{self.exchange}: bad REST URL {url!r}: {error}") from error
        except httpx.TimeoutException as error:
            raise TransientError(f"{self.exchange}: GET {url} timed out: {error!r}") from error
        except httpx.TransportError as error:
            raise TransientError(f"{self.exchange}: GET {url} failed: {error!r}") from error
        status = response.status_code
        if status < 300:
            return response.content
        where = f"{self.exchange}: GET {response.request.url} answered HTTP {status}"
        body = snippet(response.content)
        if status in _RATE_LIMITED:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            raise VenueRateLimitedError(
                f"{where} (rate limited; retry after {retry_after} s): {body}",
                retry_after_s=retry_after,
            )
        if status == 408 or status >= 500:
            raise TransientError(f"{where}: {body}")
        raise PermanentError(f"{where}: {body}")


def decode_body(exchange: str, body: bytes, decoder: msgspec.json.Decoder[T], what: str) -> T:
    """Decode a REST body with a typed decoder; a wrong shape is a ``BadDataError``."""
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as error:
        message = f"{exchange}: {what}: unexpected response ({error}): {snippet(body)}"
        raise BadDataError(message) from error


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: callers fall back to their own backoff
    return seconds if seconds >= 0 else None
