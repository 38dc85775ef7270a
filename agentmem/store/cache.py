"""Per-user in-memory indexes that know which stored version they reflect."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from agentmem.types import Scope

__all__ = ["VersionedCache"]

T = TypeVar("T")


class VersionedCache(Generic[T]):
    """An LRU map ``scope → (version, index)``.

    ``get`` rebuilds when the stored version differs from the cached one (another replica
    wrote); ``advance`` applies a local write in place when the cache was exactly one version
    behind, and drops the entry otherwise so the next ``get`` rebuilds.
    """

    def __init__(self, build: Callable[[Scope], T], *, max_users: int = 256) -> None:
        self._build = build
        self._max = max_users
        self._entries: OrderedDict[tuple[str, str], tuple[int, T]] = OrderedDict()
        self._lock = threading.RLock()

    @staticmethod
    def _key(scope: Scope) -> tuple[str, str]:
        return (scope.tenant, scope.user_id)

    def get(self, scope: Scope, version: int) -> T:
        key = self._key(scope)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == version:
                self._entries.move_to_end(key)
                return entry[1]
            value = self._build(scope)
            self._entries[key] = (version, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
            return value

    def advance(self, scope: Scope, version: int, apply: Callable[[T], None]) -> None:
        key = self._key(scope)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            if entry[0] == version - 1:
                apply(entry[1])
                self._entries[key] = (version, entry[1])
            else:
                del self._entries[key]

    def drop(self, scope: Scope) -> None:
        with self._lock:
            self._entries.pop(self._key(scope), None)
