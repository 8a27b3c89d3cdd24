"""L2: recent trades in Redis lists, shared between processes and kept across restarts.

Layout: one list per instrument, key ``<key_prefix>ticks:<exchange>:<SYMBOL>`` (for example
``ticks:binance:BTCUSDT``), newest trade at the head, each element the JSON of ``cache.codec``.
The reference system keys by symbol alone (``ticks:BTCUSDT``); we carry several venues at once,
and two venues may list the same symbol (Binance and the simulated venue both say BTCUSDT), so
the venue is part of the key: one instrument's ticks never share a list, a bound or a TTL with
another's. ``redis-cli KEYS 'ticks:*'`` still lists them all.

Writes: ``put_many`` groups the trades per instrument and sends, in one pipeline (no MULTI), an
``LPUSH`` of all of that instrument's trades, an ``LTRIM`` to ``max_ticks_per_symbol`` and an
``EXPIRE`` of ``ttl_seconds``: the key lives ``ttl_seconds`` after its last write. One
multi-value LPUSH moves about three times the ticks of a pipeline of single pushes.

Reads: ``LRANGE`` (``since``: with ``LINDEX`` of the oldest, in one pipeline), on a lean
connection of their own (``cache.resp``: half redis-py's asyncio cost per round trip). The
cache keeps what it decoded from each element (up to ``_DECODED_REMEMBERED`` elements, then it
starts again), so a list read again, a strategy's context or a repeated query, costs the
decoding of its new elements only; an element that is not a valid tick is skipped and counted
each time.

Failures: every Redis error, refused connection or operation slower than ``timeout`` seconds
is caught here, counted (``stats``), logged at most once per ``log_interval`` seconds and
answered as a miss; it never reaches the caller. After ``backoff_after`` failures in a row the
cache stops trying for a pause (0.5 s, doubling to ``backoff_longest``), counting the operations
it skips as failures too, so a stalled server does not cost each call the full timeout. Both
connections (redis-py's and the reads') drop a connection that failed or was cut off by the
timeout and open a new one on the next try, so the cache recovers by itself, within one pause,
when Redis is back. A write cut off by the timeout may still be applied by a server that was
only slow: it is counted as failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, TypeVar, cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ticklane.cache import codec
from ticklane.cache.base import CacheStats, check_limit, to_tick
from ticklane.cache.failures import Backoff, FailureLog
from ticklane.cache.resp import RespConnection, supports
from ticklane.config.settings import RedisCacheConfig, redact_url
from ticklane.core.errors import ConfigError, TransientError
from ticklane.core.identifiers import check_exchange, check_symbol
from ticklane.core.records import TradeRecord
from ticklane.core.ticks import TradeTick
from ticklane.core.time import NANOS_PER_SECOND

log = logging.getLogger(__name__)

T = TypeVar("T")

# What a failing Redis raises: redis-py's own errors, socket errors that escape its wrapping,
# and the timeout below (asyncio.TimeoutError is TimeoutError since Python 3.11).
_FAILURES: Final = (RedisError, OSError, TimeoutError)
_SKIPPED: Final = TransientError("not tried: backing off after failures in a row")


_DECODED_REMEMBERED: Final = 10_000  # decoded elements kept, about 0.7 kB each


class _Decoded:
    """A decoded element: its record and, once a read has wanted it, its trade object."""

    __slots__ = ("record", "tick")

    def __init__(self, record: TradeRecord) -> None:
        self.record = record
        self.tick: TradeTick | None = None

    def trade_tick(self) -> TradeTick:
        tick = self.tick
        if tick is None:
            tick = self.tick = to_tick(self.record)
        return tick


class RedisTickCache:
    """Recent trades per instrument in Redis (see the module docstring).

    Options:
        url: Redis URL (``redis://``, ``rediss://`` or ``unix://``); the password never
            appears in a log line.
        max_ticks_per_symbol: trades kept per instrument (LTRIM bound), >= 1.
        ttl_seconds: lifetime of an instrument's list after its last write (EXPIRE); trades
            received this long ago or earlier are not returned either, >= 1.
        key_prefix: put before every key, e.g. ``"test-1a2b:"`` to isolate a test run.
        timeout: seconds one operation may take before it counts as failed.
        log_interval: seconds between two warnings about failures.
        backoff_after: failures in a row after which Redis is left alone for a pause.
        backoff_longest: longest pause, in seconds.
        page_size: elements ``since`` reads in its first round trip; the rest, when needed, in
            a second.
        clock: current UTC time in ns, compared with each trade's ``ts_recv``.
        monotonic: the clock of log intervals and pauses (``time.monotonic``).
    """

    def __init__(
        self,
        url: str,
        *,
        max_ticks_per_symbol: int = 10_000,
        ttl_seconds: int = 3600,
        key_prefix: str = "",
        timeout: float = 0.05,
        log_interval: float = 10.0,
        page_size: int = 1000,
        backoff_after: int = 3,
        backoff_longest: float = 5.0,
        clock: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_ticks_per_symbol < 1 or ttl_seconds < 1 or page_size < 1:
            raise ValueError(
                "redis cache: max_ticks_per_symbol, ttl_seconds and page_size must be >= 1"
            )
        if not timeout > 0:
            raise ValueError(f"redis cache: timeout must be > 0 seconds; got {timeout!r}")
        self._max = max_ticks_per_symbol
        self._ttl = ttl_seconds
        self._ttl_ns = ttl_seconds * NANOS_PER_SECOND
        self._prefix = f"{key_prefix}ticks:"
        self._timeout = timeout
        self._page = page_size
        self._clock = clock
        self._stats = CacheStats()
        self._failures = FailureLog(
            log, f"Redis cache {redact_url(url)}", log_interval, clock=monotonic
        )
        self._backoff = Backoff(
            after=backoff_after,
            first=min(0.5, backoff_longest),
            longest=backoff_longest,
            clock=monotonic,
        )
        self._monotonic = monotonic
        self._log_interval = log_interval
        self._last_bad_log: float | None = None
        self._decoded: dict[bytes, _Decoded] = {}  # element -> what it decoded to
        # One quick retry without back-off: a connection found dead (Redis restarted) is
        # replaced at once; the timeout above bounds the whole operation whatever happens.
        # redis-py's own socket timeout stays off: it would run every send as a task of its own
        # (asyncio.wait_for) and time every read again, about a third of a read's cost, for
        # nothing ``_call``'s timeout does not already do. A send or read that timeout cancels
        # makes redis-py drop the connection, so no reply is ever read by the wrong request.
        try:
            self._client = Redis.from_url(
                url,
                socket_timeout=None,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 1),
            )
        except ValueError as error:
            raise ConfigError(f"Redis cache URL {redact_url(url)}: {error}") from None
        # Reads, the latency-bound side, go through a lean connection of their own (see
        # cache.resp); writes, throughput-bound and pipelined, stay with redis-py.
        self._reader = RespConnection(url, connect_timeout=timeout) if supports(url) else None

    @classmethod
    def from_config(
        cls,
        config: RedisCacheConfig,
        *,
        key_prefix: str = "",
        timeout: float = 0.05,
        log_interval: float = 10.0,
    ) -> RedisTickCache:
        url = config.url_value()
        if url is None:
            raise ConfigError("cache.redis.url is not set (REDIS_URL): no Redis cache to open")
        return cls(
            url,
            max_ticks_per_symbol=config.max_ticks_per_symbol,
            ttl_seconds=config.ttl_seconds,
            key_prefix=key_prefix,
            timeout=timeout,
            log_interval=log_interval,
        )

    @property
    def stats(self) -> CacheStats:
        return self._stats

    def key(self, exchange: str, symbol: str) -> str:
        """The Redis key of one instrument's list."""
        return f"{self._prefix}{exchange}:{symbol}"

    # -- the one place Redis failures are caught ----------------------------------------------

    def _skip(self, operation: str) -> bool:
        """True, and counted as a failed operation, while backing off from a failing Redis."""
        if not self._backoff.skipping():
            return False
        self._stats.operations += 1
        self._stats.failures += 1
        self._stats.skipped += 1
        self._failures.failed(operation, _SKIPPED)
        return True

    async def _call(
        self, operation: str, request: Callable[[], Awaitable[T]], *, timed: bool = False
    ) -> T | None:
        """The result of ``request``, or None when Redis failed, was too slow or is skipped.
        ``timed``: ``request`` enforces the timeout itself (the lean read connection)."""
        if self._skip(operation):
            return None
        self._stats.operations += 1
        try:
            if timed:
                result = await request()
            else:
                async with asyncio.timeout(self._timeout):
                    result = await request()
        except _FAILURES as error:
            self._stats.failures += 1
            self._backoff.failed()
            self._failures.failed(operation, error)
            return None
        self._backoff.succeeded()
        self._failures.succeeded()
        return result

    # -- writes ----------------------------------------------------------------------------

    async def put(self, record: TradeRecord) -> None:
        await self.put_many((record,))

    async def put_many(self, records: Sequence[TradeRecord]) -> None:
        """LPUSH + LTRIM + EXPIRE per instrument, all in one pipelined round trip."""
        if not records:
            return
        self._stats.ticks_written += len(records)
        first = records[0]
        operation = f"put_many of {len(records)} ticks, from {first.exchange} {first.symbol}"
        if self._skip(operation):  # before encoding: an outage should cost the feed nothing
            self._stats.ticks_failed += len(records)
            return
        groups: dict[tuple[str, str], list[bytes]] = {}
        for record in records:
            key = (record.exchange, record.symbol)
            values = groups.get(key)
            if values is None:
                values = groups[key] = []
            values.append(codec.encode(record))
        pipe = self._client.pipeline(transaction=False)
        for (exchange, symbol), values in groups.items():
            name = self.key(exchange, symbol)
            # Oldest first: LPUSH leaves the last value, the newest trade, at the head.
            pipe.lpush(name, *values[-self._max :])
            pipe.ltrim(name, 0, self._max - 1)
            pipe.expire(name, self._ttl)
        if await self._call(operation, pipe.execute) is None:
            self._stats.ticks_failed += len(records)

    # -- reads -----------------------------------------------------------------------------

    async def _range(self, operation: str, key: str, start: int, stop: int) -> list[bytes] | None:
        reader = self._reader
        if reader is not None:

            async def read() -> list[bytes]:
                [items] = await reader.execute([("LRANGE", key, start, stop)], self._timeout)
                return cast(list[bytes], items)

            return await self._call(operation, read, timed=True)

        def request() -> Awaitable[list[bytes]]:
            return cast(Awaitable[list[bytes]], self._client.lrange(key, start, stop))

        return await self._call(operation, request)

    def _decode(self, operation: str, items: list[bytes]) -> list[_Decoded]:
        """The elements' records, in order, skipping (and counting) those that are not ticks.

        Elements decoded before are taken from ``_decoded``: a list read again, as a strategy's
        context or a repeated query is, costs the decoding of its new elements only.
        """
        known = self._decoded
        found = [known.get(item) for item in items]
        if any(entry is None for entry in found):
            fresh = [item for item, entry in zip(items, found, strict=True) if entry is None]
            if len(known) + len(fresh) > _DECODED_REMEMBERED:
                known.clear()
            made = iter(codec.decode_each(fresh))
            bad = 0
            for index, entry in enumerate(found):
                if entry is None:
                    record = next(made)
                    if record is None:
                        bad += 1
                        continue
                    entry = found[index] = known[items[index]] = _Decoded(record)
            if bad:
                self._bad_entries(operation, bad)
                return [entry for entry in found if entry is not None]
        return cast(list[_Decoded], found)

    def _bad_entries(self, operation: str, bad: int) -> None:
        self._stats.bad_entries += bad
        now = self._monotonic()
        if self._last_bad_log is None or now - self._last_bad_log >= self._log_interval:
            self._last_bad_log = now
            log.warning(
                "Redis cache: %s skipped elements that are not valid ticks (%d so far)",
                operation,
                self._stats.bad_entries,
            )

    async def _recent(self, exchange: str, symbol: str, limit: int) -> list[_Decoded]:
        exchange, symbol = check_exchange(exchange), check_symbol(symbol)
        operation = f"recent {exchange} {symbol}"
        key = self.key(exchange, symbol)
        items = await self._range(operation, key, 0, check_limit(limit) - 1)
        if not items:
            return []
        cutoff = self._clock() - self._ttl_ns
        entries = self._decode(operation, items)
        for index, entry in enumerate(entries):
            if entry.record.ts_recv <= cutoff:
                return entries[:index]
        return entries

    async def recent_records(self, exchange: str, symbol: str, limit: int) -> list[TradeRecord]:
        """Up to ``limit`` most recent records, newest first; ``[]`` on a miss or a failure."""
        return [entry.record for entry in await self._recent(exchange, symbol, limit)]

    async def since_records(
        self, exchange: str, symbol: str, start_ns: int
    ) -> list[TradeRecord] | None:
        """Records with ``ts_event >= start_ns``, newest first, or None when the list does not
        reach back to ``start_ns`` (see ``TickCache.since``) or Redis failed."""
        entries = await self._since(exchange, symbol, start_ns)
        return None if entries is None else [entry.record for entry in entries]

    async def _since(self, exchange: str, symbol: str, start_ns: int) -> list[_Decoded] | None:
        """Entries with ``ts_event >= start_ns``, newest first, or None when the list does not
        reach back to ``start_ns`` (see ``TickCache.since``) or Redis failed.

        The first round trip fetches the list's oldest element with its first ``page_size``
        elements: a list that starts after ``start_ns`` is refused without reading it. Further
        pages follow, each within its own timeout, until a trade older than ``start_ns``. Trades
        pushed in between shift the list, so a page may repeat some of the one before; repeats
        of a ``(ts_event, trade_id)`` are dropped.
        """
        exchange, symbol = check_exchange(exchange), check_symbol(symbol)
        key, operation = self.key(exchange, symbol), f"since {exchange} {symbol}"
        first = await self._call(
            operation, lambda: self._oldest_and_first_page(key), timed=self._reader is not None
        )
        if first is None or first[0] is None:
            return None
        oldest = self._decode(operation, [first[0]])
        if not oldest or oldest[0].record.ts_event >= start_ns:
            return None
        cutoff = self._clock() - self._ttl_ns
        found: list[_Decoded] = []
        seen: set[tuple[int, int]] = set()
        items: list[bytes] | None = first[1]
        offset = 0
        while items is not None:
            for entry in self._decode(operation, items):
                record = entry.record
                if record.ts_recv <= cutoff:
                    return None  # the rest is older still: expired
                if record.ts_event < start_ns:
                    return found
                identity = (record.ts_event, record.trade_id)
                if identity not in seen:
                    seen.add(identity)
                    found.append(entry)
            if len(items) < self._page:
                return None  # the whole list was read: it ends before start_ns
            offset += self._page
            items = await self._range(operation, key, offset, offset + self._page - 1)
        return None

    async def _oldest_and_first_page(self, key: str) -> tuple[bytes | None, list[bytes]]:
        if self._reader is not None:
            oldest, items = await self._reader.execute(
                [("LINDEX", key, -1), ("LRANGE", key, 0, self._page - 1)], self._timeout
            )
            return cast(bytes | None, oldest), cast(list[bytes], items)
        pipe = self._client.pipeline(transaction=False)
        pipe.lindex(key, -1)
        pipe.lrange(key, 0, self._page - 1)
        oldest, items = await pipe.execute()
        return cast(bytes | None, oldest), cast(list[bytes], items)

    async def recent(self, exchange: str, symbol: str, limit: int) -> list[TradeTick]:
        return [entry.trade_tick() for entry in await self._recent(exchange, symbol, limit)]

    async def since(self, exchange: str, symbol: str, start_ns: int) -> list[TradeTick] | None:
        entries = await self._since(exchange, symbol, start_ns)
        return None if entries is None else [entry.trade_tick() for entry in entries]

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
        await self._client.aclose()
