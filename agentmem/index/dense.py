"""Exact in-memory vector index for one scope, searched through :mod:`agentmem.kernels`.

Rows live in one growable torch matrix (capacity doubles, so appends are amortised O(1));
deleted rows are masked, and compacted away once they are the majority.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from agentmem.kernels.topk import topk

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
        Storage dtype; scores are accumulated in float32 whatever it is.
    """

    def __init__(self, dim: int, *, device: str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        self.dim = dim
        self.device = torch.device(device)
        self.dtype = dtype
        self._mat = torch.empty((0, dim), dtype=dtype, device=self.device)
        self._alive = torch.zeros(0, dtype=torch.bool, device=self.device)
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
        vecs = torch.as_tensor(np.asarray(vectors, dtype=np.float32)).to(self.device, self.dtype)
        if vecs.ndim != 2 or vecs.shape != (len(ids), self.dim):
            raise ValueError(f"expected vectors of shape ({len(ids)}, {self.dim}), got {tuple(vecs.shape)}")
        self.remove([i for i in ids if i in self._row])
        start, need = len(self._ids), len(self._ids) + len(ids)
        if need > self._mat.shape[0]:
            cap = max(need, 2 * self._mat.shape[0], 1024)
            mat = torch.empty((cap, self.dim), dtype=self.dtype, device=self.device)
            mat[:start] = self._mat[:start]
            alive = torch.zeros(cap, dtype=torch.bool, device=self.device)
            alive[:start] = self._alive[:start]
            self._mat, self._alive = mat, alive
        self._mat[start:need] = vecs
        self._alive[start:need] = True
        rows = list(range(start, need))
        for i, r in zip(ids, rows, strict=True):
            self._ids.append(i)
            self._row[i] = r
        return rows

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
        n = len(self._ids)
        q = torch.as_tensor(np.asarray(queries, dtype=np.float32)).reshape(-1, self.dim).to(self.device)
        if n == 0 or k <= 0:
            return [[] for _ in range(q.shape[0])]
        mask = self._alive[:n] if valid is None else (self._alive[:n] & valid[:n])
        if not bool(mask.any()):
            return [[] for _ in range(q.shape[0])]
        scores, idx = topk(q, self._mat[:n], k, valid=mask, device=str(self.device))
        out = []
        for srow, irow in zip(scores.tolist(), idx.tolist(), strict=True):
            out.append([(self._ids[i], float(s)) for s, i in zip(srow, irow, strict=True)])
        return out

    def rows_vectors(self, rows: np.ndarray) -> np.ndarray:
        """float32 copies of the given rows."""
        return self._mat[torch.as_tensor(rows, dtype=torch.long, device=self.device)].float().cpu().numpy()
