"""A graph snapshot's passage or fact vectors, read from the graph's growing
:class:`~agentmem.store.dense.ExactIndex`.

The graph keeps its passage and fact vectors in exact indexes that writes append to and mask,
so a snapshot does not stack them again, and the passages' certified sketch
(:mod:`agentmem.kernels.topk_projected`) is extended as the graph grows instead of planned
again for every snapshot. A :class:`RowView` is one snapshot's rows of such an index, in the
snapshot's order. Its top-k reads the sketch and rescores only the rows the bounds cannot rule
out (an index without a sketch is scanned whole); either way the answer is the full product's:
the best rows by float32 inner product, ties by snapshot row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from agentmem.kernels.order import stable_top
from agentmem.kernels.sketch import Sketch
from agentmem.kernels.topk import topk
from agentmem.kernels.topk_projected import topk_projected
from agentmem.store.dense import ExactIndex

__all__ = ["RowView", "rows_of", "top_rows_reference"]


class _RowsById(Protocol):
    def row_of(self, doc_id: str) -> int | None: ...


def rows_of(index: _RowsById, ids: Sequence[str]) -> np.ndarray:
    """``index``'s row of each id, as int64; a ``KeyError`` names the first id it lacks."""
    rows = [index.row_of(i) for i in ids]
    if None in rows:
        raise KeyError(f"{ids[rows.index(None)]!r} is not in the index")
    return np.array(rows, dtype=np.int64)


def top_rows_reference(mat: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``mat`` with the largest ``mat @ q``, best first, ties by row, and
    their scores: what :meth:`RowView.top` answers.

    >>> top_rows_reference(np.eye(3, dtype=np.float32), np.array([0.2, 0.9, 0.2], np.float32), 2)[0].tolist()
    [1, 0]
    """
    scores = np.asarray(mat, dtype=np.float32) @ np.asarray(q, dtype=np.float32).ravel()
    rows = stable_top(scores, k)
    return rows.astype(np.int64), scores[rows]


@dataclass(frozen=True)
class RowView:
    """The rows of an :class:`ExactIndex` that one snapshot holds, as they were when it was
    taken, addressed by snapshot row."""

    corpus: torch.Tensor  # [n, D] float32: the index's rows [0, n), dead ones included
    sketch: Sketch | None
    index_rows: np.ndarray  # [S] int64: snapshot row -> index row
    snap_rows: np.ndarray  # [n] int64: index row -> snapshot row, -1 when not in the snapshot
    in_view: np.ndarray | None  # [n] bool: the index rows in the snapshot (None: all n)

    @classmethod
    def of(cls, index: ExactIndex, ids: Sequence[str]) -> RowView:
        """The rows of ``ids`` (each in ``index``), in that order."""
        corpus, sketch = index.frozen_rows()
        n = corpus.shape[0]
        index_rows = rows_of(index, ids)
        snap_rows = np.full(n, -1, dtype=np.int64)
        snap_rows[index_rows] = np.arange(len(ids))
        return cls(corpus, sketch, index_rows, snap_rows, None if len(ids) == n else snap_rows >= 0)

    def __len__(self) -> int:
        return len(self.index_rows)

    def matrix(self) -> np.ndarray:
        """``[S, D]`` float32 rows in snapshot order (a copy)."""
        return self.corpus.numpy()[self.index_rows]

    def all_scores(self, q: np.ndarray) -> np.ndarray:
        """float32 inner products of ``q`` with every row, in snapshot order."""
        return (self.corpus.numpy() @ np.asarray(q, dtype=np.float32).ravel())[self.index_rows]

    def top(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best snapshot rows for ``q``, best first, ties by snapshot row, and their
        float32 scores."""
        n_valid = len(self)
        if k <= 0 or n_valid == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        query = torch.from_numpy(np.ascontiguousarray(q, dtype=np.float32).reshape(1, -1))
        mask_t = None if self.in_view is None else torch.from_numpy(self.in_view)
        want = min(k, n_valid)
        while True:  # widen until no row tied with the k-th is left out (the index orders ties its own way)
            ask = min(want + 1, n_valid)
            if self.sketch is not None:
                s_t, r_t = topk_projected(query, self.corpus, self.sketch, ask, valid=mask_t)
            else:
                s_t, r_t = topk(query, self.corpus, ask, valid=mask_t, device="cpu")
            s, r = s_t[0].numpy(), r_t[0].numpy()
            if ask == n_valid or np.min(s) < np.partition(s, len(s) - k)[len(s) - k]:
                break
            want *= 2
        rows = self.snap_rows[r]
        order = np.lexsort((rows, -s))[:k]
        return rows[order], s[order]
