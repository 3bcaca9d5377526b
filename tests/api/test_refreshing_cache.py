"""The API's credential and standing cache: one lookup per key however many requests miss together, refreshed
ahead of expiry while steady traffic is served, never older than its TTL, failures reach the caller."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from ledger_service.api.deps import RefreshingCache


class Lookups:
    def __init__(self, delay_s: float = 0.05) -> None:
        self.delay_s = delay_s
        self.calls = 0
        self.lock = threading.Lock()
        self.fail = False

    def __call__(self) -> int:
        time.sleep(self.delay_s)  # a chain call, in a worker thread
        with self.lock:
            self.calls += 1
            if self.fail:
                raise ConnectionError("node down")
            return self.calls


def test_concurrent_misses_share_one_lookup() -> None:
    cache: RefreshingCache[str, int] = RefreshingCache(ttl_s=10)
    lookups = Lookups()

    async def main() -> list[int]:
        return await asyncio.gather(*(cache.get("k", lookups) for _ in range(20)))

    assert asyncio.run(main()) == [1] * 20
    assert lookups.calls == 1


def test_refreshed_ahead_of_expiry_and_never_older_than_the_ttl() -> None:
    cache: RefreshingCache[str, int] = RefreshingCache(ttl_s=0.3, refresh_at=0.5)
    lookups = Lookups(delay_s=0.02)

    async def main() -> None:
        assert await cache.get("k", lookups) == 1
        await asyncio.sleep(0.2)  # past the refresh point, within the TTL: served at once, refreshed behind
        started = time.monotonic()
        assert await cache.get("k", lookups) == 1
        assert time.monotonic() - started < 0.015
        await asyncio.sleep(0.05)
        assert await cache.get("k", lookups) == 2  # the background refresh landed
        await asyncio.sleep(0.35)  # expired: the caller waits for a fresh answer
        assert await cache.get("k", lookups) == 3

    asyncio.run(main())


def test_a_failed_lookup_reaches_the_caller_and_is_not_cached() -> None:
    cache: RefreshingCache[str, int] = RefreshingCache(ttl_s=10)
    lookups = Lookups(delay_s=0)
    lookups.fail = True

    async def main() -> None:
        with pytest.raises(ConnectionError):
            await cache.get("k", lookups)
        lookups.fail = False
        assert await cache.get("k", lookups) == 2

    asyncio.run(main())


def test_unknown_keys_do_not_grow_the_cache_without_bound() -> None:
    cache: RefreshingCache[str, int | None] = RefreshingCache(5.0, max_entries=100)

    async def flood() -> None:
        for i in range(1000):  # an anonymous client sending a new made-up key each time
            assert await cache.get(f"key-{i}", lambda: None) is None
        assert await cache.get("key-999", lambda: 1) is None  # the newest are kept, still served from the cache

    asyncio.run(flood())
    assert len(cache) == 100
