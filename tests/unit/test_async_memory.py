"""AsyncMemory: Memory's contract as coroutines, driven by the one sync implementation."""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any

import pytest

from agentmem import AsyncMemory, Memory, NotFoundError, ValidationError
from agentmem.async_memory import ASYNC_METHODS


def test_every_public_memory_method_has_a_coroutine_of_the_same_signature() -> None:
    public = {
        n for n, v in vars(Memory).items()
        if callable(v) and not n.startswith("_") and n not in ("close", "enabled", "component")
    }
    assert public == set(ASYNC_METHODS)
    for name in ASYNC_METHODS:
        method = getattr(AsyncMemory, name)
        assert inspect.iscoroutinefunction(method), name
        assert inspect.signature(method) == inspect.signature(getattr(Memory, name)), name
        assert method.__doc__ == getattr(Memory, name).__doc__


def test_async_results_and_errors_match_sync(make_memory: Any) -> None:
    mem: Memory = make_memory()
    facts = ["My cat is called Miso.", "I live in Lisbon.", "I play the cello on Sundays."]

    async def scenario() -> None:
        amem = AsyncMemory(mem, max_workers=2)
        added = await amem.add([{"role": "user", "content": f} for f in facts], user_id="ada", session_id="s")
        assert [t.content for t in added] == facts
        assert await amem.memories(user_id="ada") == mem.memories(user_id="ada")
        hits = await amem.search("what is my cat called?", user_id="ada", k=2)
        assert [h.id for h in hits] == [h.id for h in mem.search("what is my cat called?", user_id="ada", k=2)]
        assert "Miso" in hits[0].text
        pack = await amem.recall("where do I live?", user_id="ada", token_budget=100)
        assert "Lisbon" in pack.text
        with pytest.raises(ValidationError):
            await amem.add([], user_id="ada")
        await amem.delete(added[0].id, user_id="ada")
        with pytest.raises(NotFoundError):
            await amem.get(added[0].id, user_id="ada")

    asyncio.run(scenario())


def test_concurrent_calls_are_bounded_and_all_land(make_memory: Any) -> None:
    mem: Memory = make_memory()
    seen: set[str] = set()

    async def scenario() -> list[Any]:
        amem = AsyncMemory(mem, max_workers=2)

        async def one(i: int) -> Any:
            seen.add(threading.current_thread().name)  # the loop's thread
            return await amem.add(f"note number {i}", user_id="bo", session_id=f"s{i}")

        out = await asyncio.gather(*(one(i) for i in range(8)))
        workers = {t.name for t in threading.enumerate() if t.name.startswith("agentmem-async")}
        assert 1 <= len(workers) <= 2
        return out

    out = asyncio.run(scenario())
    assert sorted(t.content for batch in out for t in batch) == sorted(f"note number {i}" for i in range(8))
    assert len(mem.memories(user_id="bo")) == 8 and len(seen) == 1


def test_max_workers_is_validated(make_memory: Any) -> None:
    with pytest.raises(ValidationError):
        AsyncMemory(make_memory(), max_workers=0)


def test_aclose_closes_the_pool(make_memory: Any) -> None:
    async def scenario() -> None:
        async with AsyncMemory(make_memory()) as amem:
            await amem.add("hello", user_id="cy")
        with pytest.raises(RuntimeError):
            await amem.memories(user_id="cy")

    asyncio.run(scenario())
