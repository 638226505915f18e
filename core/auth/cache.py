"""A short-lived in-process cache of verified API keys (saves a DB round trip per request)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from core.auth.models import ApiKey

KEY_CACHE_TTL_SECONDS = 5.0
"""How long a verified key is trusted without asking the database again. A key revoked (or
whose role changed) in the database is refused by every API process within this time."""

KEY_CACHE_MAX_ENTRIES = 1024


class KeyCache:
    """Verified keys by SHA-256 of the token, each trusted for `ttl` seconds.

    Only keys that passed `authenticate` are stored; unknown and revoked tokens always reach
    the database. The cached `ApiKey` is detached from its session and is only read. Safe to
    use from several threads.
    """

    def __init__(
        self,
        ttl: float = KEY_CACHE_TTL_SECONDS,
        max_entries: int = KEY_CACHE_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, ApiKey]] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> ApiKey | None:
        """The key verified under this hash less than `ttl` seconds ago, else None."""
        if self.ttl <= 0:
            return None
        with self._lock:
            entry = self._entries.get(key_hash)
            if entry is None:
                return None
            expires, key = entry
            if self._clock() >= expires:
                del self._entries[key_hash]
                return None
            return key

    def put(self, key: ApiKey) -> None:
        """Remember a key that was just verified against the database."""
        if self.ttl <= 0:
            return
        now = self._clock()
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries = {h: e for h, e in self._entries.items() if e[0] > now}
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
            self._entries[key.key_hash] = (now + self.ttl, key)

    def invalidate(self, key_hash: str | None = None) -> None:
        """Forget one key (by hash), or every key; call after revoking in this process."""
        with self._lock:
            if key_hash is None:
                self._entries.clear()
            else:
                self._entries.pop(key_hash, None)
