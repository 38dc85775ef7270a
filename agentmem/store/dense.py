"""Exact in-memory vector index for one scope, searched through :mod:`agentmem.kernels`.

Rows live in one growable torch matrix (capacity doubles, so appends are amortised O(1));
deleted rows are masked. A matrix on the CPU with at least ``sketch_min_rows`` rows is searched
for a few queries at a time through a rank-``sketch_rank`` sketch (one or two levels) with
certified bounds (:mod:`agentmem.kernels.topk_projected`): the same answer for a fraction of the
memory traffic (timings: docs/benchmarks.md). The sketch is planned lazily (or not, where it would not pay),
extended as rows are appended, and planned again when the index has grown 4×.
:meth:`ExactIndex.search_rows` answers one query as row arrays, for callers that work on rows.

On CUDA the default storage is bfloat16 with exact rescoring: the device holds the rows in
bf16 (half the bytes a scan reads), the host keeps their float32 copy, and each search
rescores a certified candidate superset in fp32 (:mod:`agentmem.kernels.topk_rescore`), so
the answer is float32 exact search's. On the CPU the default stays float32.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from agentmem.kernels.sketch_plan import MAX_SHARE, plan_sketch
from agentmem.kernels.topk import topk
from agentmem.kernels.topk_projected import Sketch, extend_sketch, topk_projected
from agentmem.kernels.topk_rescore import rescoring_bound, topk_rescored

__all__ = ["ExactIndex"]


class ExactIndex:
    """Exact top-k cosine (inner product of unit vectors) over string ids.

    Parameters
    ----------
    dim
        Vector dimension.
    device
        Resolved torch device the matrix lives on.
    dtype
        Storage dtype; scores are accumulated in float32 whatever it is. ``None``: bfloat16 with
        exact rescoring on CUDA, float32 elsewhere.
    rescore
        Keep a float32 host copy of the rows and answer as float32 search does, the stored
        bf16/fp16 rows only nominating candidates. ``None``: on when ``dtype`` is ``None`` and
        the device is CUDA. Moot for float32 storage.
    sketch_rank, sketch_max_share, sketch_min_rows
        The bounded-sketch search path (CPU only; up to ``sketch_rank`` principal axes in one
        or two levels, :func:`agentmem.kernels.sketch_plan.plan_sketch`, which skips it where
        it would read more than ``sketch_max_share`` of a full scan) from ``sketch_min_rows``
        rows on; ``sketch_rank=0`` turns it off.
    """

    SKETCH_MAX_QUERIES = 4  # beyond this many queries per call a full matmul pass is cheaper
    # Principal axes in the sketch, split between its levels on the data (plan_sketch): the
    # first is read for every row and should stay in the CPU cache ([100k, 33] float32 on
    # MiniLM turns), the second (when planned) is gathered only for the rows the first cannot
    # rule out.
    SKETCH_RANK = 128

    def __init__(
        self,
        dim: int,
        *,
        device: str = "cpu",
        dtype: torch.dtype | None = None,
        rescore: bool | None = None,
        sketch_rank: int = SKETCH_RANK,
        sketch_max_share: float | None = MAX_SHARE,
        sketch_min_rows: int = 10_000,
    ) -> None:
        self.dim = dim
        self.device = torch.device(device)
        cuda = self.device.type == "cuda"
        if rescore is None:
            rescore = dtype is None and cuda
        if dtype is None:
            dtype = torch.bfloat16 if cuda else torch.float32
        self.dtype = dtype
        self.rescore = bool(rescore) and dtype != torch.float32
        self.sketch_rank = min(sketch_rank, dim)
        self.sketch_min_rows = sketch_min_rows
        self.sketch_max_share = sketch_max_share
        self._sketch: Sketch | None = None
        self._sketch_fitted_on = 0  # rows when the sketch was last planned (no sketch then: planned off)
        self._mat = torch.empty((0, dim), dtype=dtype, device=self.device)
        self._alive = torch.zeros(0, dtype=torch.bool, device=self.device)
        # rescore: the float32 rows on the host, and rescoring_bound over every row ever added
        self._exact: torch.Tensor | None = torch.empty((0, dim)) if self.rescore else None
        self._bound = 0.0
        self._ids: list[str] = []
        self._row: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._row)

    @property
    def n_rows(self) -> int:
        return len(self._ids)

    def row_of(self, doc_id: str) -> int | None:
        return self._row.get(doc_id)

    def id_at(self, row: int) -> str:
        return self._ids[row]

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> list[int]:
        """Append rows (an existing id is replaced); returns the rows assigned."""
        if len(ids) == 0:
            return []
        vecs32 = torch.as_tensor(np.ascontiguousarray(vectors, dtype=np.float32))
        if vecs32.ndim != 2 or vecs32.shape != (len(ids), self.dim):
            raise ValueError(f"expected vectors of shape ({len(ids)}, {self.dim}), got {tuple(vecs32.shape)}")
        vecs = vecs32.to(self.device, self.dtype)
        self.remove([i for i in ids if i in self._row])
        start, need = len(self._ids), len(self._ids) + len(ids)
        if need > self._mat.shape[0]:
            cap = max(need, 2 * self._mat.shape[0], 1024)
            mat = self._empty_rows(cap)
            mat[:start] = self._mat[:start]
            alive = torch.zeros(cap, dtype=torch.bool, device=self.device)
            alive[:start] = self._alive[:start]
            self._mat, self._alive = mat, alive
            if self._exact is not None:
                exact = torch.from_numpy(np.empty((cap, self.dim), dtype=np.float32))
                exact[:start] = self._exact[:start]
                self._exact = exact
        self._mat[start:need] = vecs
        if self._exact is not None:
            self._exact[start:need] = vecs32
            self._bound = max(self._bound, rescoring_bound(vecs32, vecs.cpu()))
        self._alive[start:need] = True
        rows = list(range(start, need))
        for i, r in zip(ids, rows, strict=True):
            self._ids.append(i)
            self._row[i] = r
        return rows

    def _empty_rows(self, cap: int) -> torch.Tensor:
        """``[cap, dim]`` uninitialized rows. On the CPU numpy allocates them: it asks Linux for
        huge pages on large arrays (``madvise``), torch does not, and the sketch's rescoring
        reads rows at random (fewer TLB misses)."""
        if self.device.type != "cpu" or self.dtype not in (torch.float32, torch.bfloat16, torch.float16):
            return torch.empty((cap, self.dim), dtype=self.dtype, device=self.device)
        if self.dtype == torch.float32:
            return torch.from_numpy(np.empty((cap, self.dim), dtype=np.float32))
        return torch.from_numpy(np.empty((cap, self.dim), dtype=np.uint16)).view(self.dtype)

    def remove(self, ids: Sequence[str]) -> None:
        for i in ids:
            r = self._row.pop(i, None)
            if r is not None:
                self._alive[r] = False

    def alive_mask(self) -> torch.Tensor:
        """Boolean mask over rows ``[0, n_rows)`` (a copy callers may narrow further)."""
        return self._alive[: len(self._ids)].clone()

    def search(
        self, queries: np.ndarray, k: int, *, valid: torch.Tensor | None = None
    ) -> list[list[tuple[str, float]]]:
        """Top ``k`` ``(id, cosine)`` per query among live rows (and ``valid`` ones), best first."""
        q = torch.as_tensor(np.asarray(queries, dtype=np.float32)).reshape(-1, self.dim).to(self.device)
        found = self._topk(q, k, valid)
        if found is None:
            return [[] for _ in range(q.shape[0])]
        scores, idx = found
        out = []
        for srow, irow in zip(scores.tolist(), idx.tolist(), strict=True):
            out.append([(self._ids[i], float(s)) for s, i in zip(srow, irow, strict=True)])
        return out

    def search_rows(self, query: np.ndarray, k: int, *, valid: torch.Tensor | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` for one query as ``(rows, scores)`` arrays (int64, float32), best first."""
        q = torch.as_tensor(np.asarray(query, dtype=np.float32)).reshape(1, self.dim).to(self.device)
        found = self._topk(q, k, valid)
        if found is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores, idx = found
        return idx[0].cpu().numpy(), scores[0].cpu().numpy()

    def _topk(self, q: torch.Tensor, k: int, valid: torch.Tensor | None
              ) -> tuple[torch.Tensor, torch.Tensor] | None:
        n = len(self._ids)
        if n == 0 or k <= 0:
            return None
        if valid is None:  # the live rows are counted already: no pass over the mask
            if not self._row:
                return None
            live = None if len(self._row) == n else self._alive[:n]  # nothing deleted: no mask at all
        else:
            live = self._alive[:n] & valid[:n]
            if not bool(live.any()):
                return None
        if self._exact is not None:
            return topk_rescored(q, self._mat[:n], self._exact[:n], k, bound=self._bound, valid=live)
        sketch = self._current_sketch(n) if q.shape[0] <= self.SKETCH_MAX_QUERIES else None
        if sketch is not None:
            return topk_projected(q, self._mat[:n], sketch, k, valid=live)
        return topk(q, self._mat[:n], k, valid=live, device=str(self.device))

    def _current_sketch(self, n: int) -> Sketch | None:
        """The sketch of rows ``[0, n)``, fitted, extended or refitted as needed (or None)."""
        if self.sketch_rank < 1 or n < self.sketch_min_rows or self.device.type != "cpu":
            return None
        sketch = self._sketch
        if sketch is None and n <= 4 * self._sketch_fitted_on:  # planned off: planned again at 4x the rows
            return None
        if sketch is None or len(sketch) > n or n > 4 * self._sketch_fitted_on:
            sketch, self._sketch_fitted_on = plan_sketch(self._mat[:n], self.sketch_rank,
                                                            max_share=self.sketch_max_share), n
        elif len(sketch) < n:
            sketch = extend_sketch(sketch, self._mat[len(sketch) : n])
        self._sketch = sketch
        return sketch

    def frozen_rows(self) -> tuple[torch.Tensor, Sketch | None]:
        """Rows ``[0, n_rows)`` (dead ones included) and their sketch (``None``: not sketched),
        brought up to date first, for a caller that searches them as they are now: later adds
        write new rows only or a new matrix, and extend the sketch past its length, so neither
        changes. CPU float32 storage without rescoring only."""
        if self._exact is not None or self.dtype != torch.float32 or self.device.type != "cpu":
            raise ValueError("frozen_rows needs an index of float32 rows on the CPU")
        n = len(self._ids)
        return self._mat[:n], (self._current_sketch(n) if n else None)

    @property
    def sketch(self) -> Sketch | None:
        """The sketch the last single-query search used (None before, or when planned off)."""
        return self._sketch

    def rows_vectors(self, rows: np.ndarray) -> np.ndarray:
        """float32 copies of the given rows (the rows as added, with ``rescore``)."""
        if self._exact is not None:
            return self._exact[torch.as_tensor(rows, dtype=torch.long)].numpy().copy()
        return self._mat[torch.as_tensor(rows, dtype=torch.long, device=self.device)].float().cpu().numpy()
