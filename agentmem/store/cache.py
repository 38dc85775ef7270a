"""Per-user in-memory indexes that know which stored version they reflect."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from agentmem.types import Scope

__all__ = ["ReadWriteLock", "VersionedCache"]

T = TypeVar("T")


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds back new readers (no starvation)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class VersionedCache(Generic[T]):
    """An LRU map ``scope → (version, index)``.

    ``get`` rebuilds when the stored version differs from the cached one (another replica
    wrote); ``advance`` applies a local write in place when the cache was exactly one version
    behind, and drops the entry otherwise so the next ``get`` rebuilds.

    An index is mutated in place by ``advance``, so a caller that reads it while other threads
    write must read inside :meth:`reading`: ``advance`` waits for those readers and holds new
    ones back while it applies the write.
    """

    def __init__(self, build: Callable[[Scope], T], *, max_users: int = 256) -> None:
        self._build = build
        self._max = max_users
        self._entries: OrderedDict[tuple[str, str], tuple[int, T, ReadWriteLock]] = OrderedDict()
        self._lock = threading.RLock()

    @staticmethod
    def _key(scope: Scope) -> tuple[str, str]:
        return (scope.tenant, scope.user_id)

    def _entry(self, scope: Scope, version: int) -> tuple[int, T, ReadWriteLock]:
        key = self._key(scope)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == version:
                self._entries.move_to_end(key)
                return entry
            entry = (version, self._build(scope), ReadWriteLock())
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
            return entry

    def get(self, scope: Scope, version: int) -> T:
        """The index at ``version`` (built if needed); unguarded against concurrent ``advance``."""
        return self._entry(scope, version)[1]

    @contextmanager
    def reading(self, scope: Scope, version: int) -> Iterator[T]:
        """The index at ``version`` (or a later local one), not mutated while the block runs."""
        _, value, lock = self._entry(scope, version)
        with lock.read():
            yield value

    def advance(self, scope: Scope, version: int, apply: Callable[[T], None]) -> None:
        key = self._key(scope)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            if entry[0] == version - 1:
                try:
                    with entry[2].write():
                        apply(entry[1])
                except BaseException:
                    del self._entries[key]  # half-applied: rebuild from the store next time
                    raise
                self._entries[key] = (version, entry[1], entry[2])
            else:
                del self._entries[key]

    def drop(self, scope: Scope) -> None:
        with self._lock:
            self._entries.pop(self._key(scope), None)
