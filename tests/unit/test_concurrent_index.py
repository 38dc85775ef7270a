"""Adds and searches from many threads (and two replicas on Postgres) never fail or lose a write.

The turn index is mutated in place by a local add while searches read it; both go through
the cache's read/write lock (``VersionedCache.reading`` / ``advance``).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from agentmem.store.cache import ReadWriteLock


def test_read_write_lock_excludes_writers_from_readers() -> None:
    lock, state, seen = ReadWriteLock(), [0], []

    def write() -> None:
        for _ in range(200):
            with lock.write():
                state[0] += 1
                state[0] += 1  # odd only inside a write

    def read() -> None:
        for _ in range(200):
            with lock.read():
                seen.append(state[0] % 2)

    threads = [threading.Thread(target=f) for f in (write, read, read, write)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state[0] == 800 and seen and not any(seen)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_concurrent_add_and_search(backend: str, make_memory, unique, tmp_path, request) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'race.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    replicas = [make_memory(db_url=url)] if backend == "sqlite" else [make_memory(db_url=url), make_memory(db_url=url)]
    tenant, user = f"race-{unique}", "ann"
    replicas[0].add([{"role": "user", "content": "I like green tea."}], user_id=user, tenant=tenant)
    errors: list[BaseException] = []

    def adder(worker: int) -> list[str]:
        mem = replicas[worker % len(replicas)]
        ids = []
        for i in range(12):
            turns = mem.add([{"role": "user", "content": f"Note {worker}-{i}: the kettle is number {i}.",
                              "id": f"w{worker}-{i}"}], user_id=user, tenant=tenant)
            ids += [t.id for t in turns]
        return ids

    def searcher(worker: int) -> None:
        mem = replicas[worker % len(replicas)]
        for _ in range(25):
            for hit in mem.search("kettle number", user_id=user, tenant=tenant, k=5):
                assert hit.scope.user_id == user

    with ThreadPoolExecutor(8) as pool:
        adds = [pool.submit(adder, w) for w in range(4)]
        searches = [pool.submit(searcher, w) for w in range(4)]
        for f in searches:
            if f.exception() is not None:
                errors.append(f.exception())  # type: ignore[arg-type]
        acknowledged = [i for f in adds for i in f.result()]
    assert not errors, errors
    stored = {t.id for t in replicas[-1].memories(user_id=user, tenant=tenant)}
    assert len(acknowledged) == 48 and set(acknowledged) <= stored
    # every replica's index agrees with the store once it has caught up
    for mem in replicas:
        hits = mem.search("Note 3-11: the kettle is number 11.", user_id=user, tenant=tenant, k=3)
        assert any(h.text.startswith("Note 3-11") for h in hits)
