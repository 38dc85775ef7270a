"""``AsyncMemory``: :class:`Memory`'s API as coroutines, for asyncio applications.

One implementation: every coroutine runs the same :class:`Memory` method in a bounded thread
pool, so the async API has the sync one's contract (arguments, results, errors) by
construction, and an event loop is never blocked by embedding or SQL.

>>> amem = AsyncMemory(Memory())                                         # doctest: +SKIP
>>> await amem.add("I adopted a cat named Miso", user_id="ada")          # doctest: +SKIP
>>> (await amem.recall("what is my cat called?", user_id="ada")).text    # doctest: +SKIP

A cancelled coroutine stops waiting, but the call already running in its thread finishes
(a write is never left half done).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec, TypeVar

from agentmem.errors import ValidationError
from agentmem.memory import Memory

__all__ = ["ASYNC_METHODS", "AsyncMemory"]

P = ParamSpec("P")
R = TypeVar("R")

# the public methods of Memory that AsyncMemory offers as coroutines
ASYNC_METHODS = (
    "add", "add_documents", "update", "delete", "delete_many", "delete_user", "get", "memories",
    "history", "search", "recall", "episodes", "think", "thoughts", "forget_thought", "facts",
    "export", "import_",
)


def _delegate(
    method: Callable[Concatenate[Memory, P], R],
) -> Callable[Concatenate[AsyncMemory, P], Coroutine[Any, Any, R]]:
    """An ``async def`` running ``method`` on the wrapped memory in the pool."""

    async def call(self: AsyncMemory, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self._run(functools.partial(method, self.memory, *args, **kwargs))

    functools.update_wrapper(call, method)
    return call


class AsyncMemory:
    """:class:`Memory` with ``async`` methods of the same names, arguments and results.

    Parameters
    ----------
    memory
        The memory to drive (default: ``Memory()``, the default configuration).
    max_workers
        Most calls running at once; more wait their turn (the engine is thread-safe, and
        the limit keeps a burst of requests from starting a thread each).

    Raises
    ------
    ValidationError
        ``max_workers`` below 1.
    """

    def __init__(self, memory: Memory | None = None, *, max_workers: int = 4) -> None:
        if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
            raise ValidationError("max_workers must be a positive integer")
        self.memory = memory if memory is not None else Memory()
        self.max_workers = max_workers
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="agentmem-async")

    async def _run(self, call: Callable[[], R]) -> R:
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    add = _delegate(Memory.add)
    add_documents = _delegate(Memory.add_documents)
    update = _delegate(Memory.update)
    delete = _delegate(Memory.delete)
    delete_many = _delegate(Memory.delete_many)
    delete_user = _delegate(Memory.delete_user)
    get = _delegate(Memory.get)
    memories = _delegate(Memory.memories)
    history = _delegate(Memory.history)
    search = _delegate(Memory.search)
    recall = _delegate(Memory.recall)
    episodes = _delegate(Memory.episodes)
    think = _delegate(Memory.think)
    thoughts = _delegate(Memory.thoughts)
    forget_thought = _delegate(Memory.forget_thought)
    facts = _delegate(Memory.facts)
    export = _delegate(Memory.export)
    import_ = _delegate(Memory.import_)

    async def aclose(self) -> None:
        """Wait for running calls, then close the pool and the memory."""
        await asyncio.get_running_loop().run_in_executor(None, functools.partial(self._pool.shutdown, wait=True))
        self.memory.close()

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
