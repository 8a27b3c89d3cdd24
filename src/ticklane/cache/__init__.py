"""Recent-tick caches: L1 in process memory, L2 in Redis, and the two tiered.

``build_tick_cache(settings.cache)`` returns what the configuration asks for;
``CachedTickRepository`` answers tick queries about the last hour from the cache when it can.
A cache failure is counted and logged, never raised: see ``cache.base``. The Redis format is
described in ``cache.codec``, the key layout in ``cache.redis_cache``.
"""

from ticklane.cache.base import CacheStats, TickCache
from ticklane.cache.build import build_tick_cache
from ticklane.cache.memory import MemoryTickCache
from ticklane.cache.redis_cache import RedisTickCache
from ticklane.cache.repository import CachedTickRepository
from ticklane.cache.tiered import TieredTickCache

__all__ = [
    "CacheStats",
    "CachedTickRepository",
    "MemoryTickCache",
    "RedisTickCache",
    "TickCache",
    "TieredTickCache",
    "build_tick_cache",
]
