"""One torch intra-op thread for the small tensor work of a single query.

A search embeds one short query and runs small tensor ops; a second intra-op thread gains
nothing there. It costs, though, where cores are few: numpy's OpenBLAS (the exact search's
matrix-vector products) keeps its workers spinning after a product, and torch's pool then
waits for a core, which shows in the tail latency (docs/benchmarks.md). OpenBLAS keeps its
threads, which the large scans use.

:func:`one_torch_thread` is process-wide, as torch's thread count is: concurrent searches
share one window (counted; the first one in saves the count, the last one out restores it),
and torch work in other Python threads meanwhile runs on one thread too (slower, never wrong).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch

__all__ = ["one_torch_thread"]

_LOCK = threading.Lock()
_state = {"inside": 0, "saved": 0}


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the block with torch's intra-op threads at one (the previous count restored after)."""
    with _LOCK:
        if _state["inside"] == 0:
            _state["saved"] = torch.get_num_threads()
            if _state["saved"] != 1:
                torch.set_num_threads(1)
        _state["inside"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _state["inside"] -= 1
            if _state["inside"] == 0 and torch.get_num_threads() != _state["saved"]:
                torch.set_num_threads(_state["saved"])
