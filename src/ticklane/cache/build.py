"""Build the tick cache a process uses from its ``[cache]`` configuration section."""

from __future__ import annotations

from ticklane.cache.base import TickCache
from ticklane.cache.memory import MemoryTickCache
from ticklane.cache.redis_cache import RedisTickCache
from ticklane.cache.tiered import TieredTickCache
from ticklane.config.settings import CacheConfig


def build_tick_cache(
    config: CacheConfig,
    *,
    key_prefix: str | None = None,
    timeout: float = 0.05,
    log_interval: float = 10.0,
) -> TickCache:
    """L1 alone when no Redis URL is configured; L1 in front of Redis when one is.

    ``key_prefix`` (default: the configured one), ``timeout`` and ``log_interval`` are passed
    to ``RedisTickCache``. Call it
    inside the event loop that will use the cache, and ``await cache.close()`` at the end.
    """
    memory = MemoryTickCache.from_config(config.memory)
    if not config.redis.enabled:
        return memory
    redis = RedisTickCache.from_config(
        config.redis,
        key_prefix=config.redis.key_prefix if key_prefix is None else key_prefix,
        timeout=timeout,
        log_interval=log_interval,
    )
    return TieredTickCache(memory, redis)
