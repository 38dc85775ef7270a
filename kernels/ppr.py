"""Personalized PageRank: a readable scipy reference and a batched path (C on the CPU, torch on CUDA).

Both solve, for a weighted undirected (or directed) graph with adjacency ``A`` and a reset
(personalization) distribution ``r``, the fixed point

.. math::

    x = d \\left( P^\\top x + (\\mathbf{1}_{\\mathrm{dangling}}^\\top x)\\, r \\right) + (1 - d)\\, r,
    \\qquad P = D^{-1} A,

where ``d`` is the damping factor (HippoRAG 2 uses ``d = 0.5``), ``D`` the diagonal of out-degrees
(weighted) and the mass of dangling nodes (no out-edges) teleports by ``r`` — the convention
of networkx and of igraph's PRPACK solver, which HippoRAG calls. Iteration stops when the L1
change ``||x_{t+1} - x_t||_1 < n * tol`` (networkx's rule) and raises
:class:`~agentmem.errors.ConvergenceError` after ``max_iter`` iterations.

>>> import numpy as np, scipy.sparse as sp
>>> adj = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float))
>>> np.round(personalized_pagerank(adj, np.array([1.0, 0, 0]), damping=0.5), 3)
array([0.583, 0.333, 0.083])
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from agentmem.errors import ConvergenceError, ValidationError

try:
    from agentmem.kernels import _spmm  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler: torch.sparse.mm on the CPU too
    _spmm = None


def _last_level_cache(default: int = 32 << 20) -> int:
    """Bytes of the CPU's largest cache level as Linux reports it for CPU 0 (``default``
    where it does not)."""
    sizes = []
    for entry in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        try:
            text = entry.read_text().strip().upper()
        except OSError:
            continue
        scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
        digits = text.rstrip("KM")
        if digits.isdigit():
            sizes.append(int(digits) * scale)
    return max(sizes, default=default)


_CACHE_SHARE = _last_level_cache() // 2  # bytes of tiles that stay in the last-level cache, for all threads
_CREW_ONE_NODES = 10_000  # nodes from which one vector's pass is split between the threads

__all__ = ["Transition", "pagerank_one", "personalized_pagerank", "personalized_pagerank_torch"]


@dataclass
class Transition:
    """The column-stochastic operator ``P^T`` of an adjacency matrix, built once, reused per query.

    Attributes
    ----------
    pt
        ``P^T`` as a scipy CSR matrix (``n x n``).
    dangling
        Boolean mask of nodes without out-edges.
    """

    pt: sp.csr_matrix
    dangling: np.ndarray
    _torch: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict, repr=False)
    _host: dict[str, tuple[np.ndarray, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_adjacency(cls, adj: Any) -> Transition:
        """Row-normalize ``adj`` (any scipy sparse or dense ``n x n``, non-negative weights)."""
        a = sp.csr_matrix(adj, dtype=np.float64)
        if a.shape[0] != a.shape[1]:
            raise ValidationError(f"adjacency must be square, got {a.shape}")
        if a.nnz and a.data.min() < 0:
            raise ValidationError("adjacency weights must be non-negative")
        out = np.asarray(a.sum(axis=1)).ravel()
        dangling = out <= 0
        inv = np.zeros_like(out)
        inv[~dangling] = 1.0 / out[~dangling]
        pt = (sp.diags(inv) @ a).T.tocsr()
        return cls(pt=pt, dangling=dangling)

    @property
    def n(self) -> int:
        return int(self.pt.shape[0])

    def torch_operands(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """``P^T`` as a torch sparse CSR tensor and the dangling mask, cached per device/dtype."""
        key = f"{device}/{dtype}"
        got = self._torch.get(key)
        if got is None:
            pt = self.pt
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                mat = torch.sparse_csr_tensor(
                    torch.from_numpy(pt.indptr.astype(np.int64)),
                    torch.from_numpy(pt.indices.astype(np.int64)),
                    torch.from_numpy(pt.data),
                    size=pt.shape,
                    dtype=dtype,
                    device=device,
                    check_invariants=False,  # built from a valid scipy CSR
                )
            mask = torch.from_numpy(self.dangling).to(device=device, dtype=dtype)
            got = (mat, mask)
            self._torch[key] = got
        return got


    def host_operands(self, dtype: np.dtype[Any]) -> tuple[np.ndarray, ...]:
        """``(indptr int64, indices int32, data, dangling node ids int64)`` for the C kernel, cached
        (the kernel is used for fewer than 2**31 nodes)."""
        key = np.dtype(dtype).name
        got = self._host.get(key)
        if got is None:
            pt = self.pt
            got = (np.ascontiguousarray(pt.indptr, dtype=np.int64), np.ascontiguousarray(pt.indices, dtype=np.int32),
                   np.ascontiguousarray(pt.data, dtype=dtype), np.flatnonzero(self.dangling).astype(np.int64))
            self._host[key] = got
        return got


def _as_transition(adj: Any) -> Transition:
    return adj if isinstance(adj, Transition) else Transition.from_adjacency(adj)


def _check(damping: float, tol: float, max_iter: int) -> None:
    if not 0.0 <= damping < 1.0:
        raise ValidationError(f"damping must be in [0, 1), got {damping}")
    if tol <= 0:
        raise ValidationError(f"tol must be positive, got {tol}")
    if max_iter < 1:
        raise ValidationError(f"max_iter must be >= 1, got {max_iter}")


def _reset_totals(reset: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``reset`` as float64 and the sum of each vector, validated (non-negative, not all zero)."""
    r = np.asarray(reset, dtype=np.float64)
    if r.shape[-1] != n:
        raise ValidationError(f"reset has {r.shape[-1]} entries, graph has {n} nodes")
    if r.size and r.min() < 0:
        raise ValidationError("reset weights must be non-negative")
    total = r.sum(axis=-1, keepdims=True)
    if (total <= 0).any():
        raise ValidationError("reset weights must not be all zero")
    return r, total


def _normalized_reset(reset: np.ndarray, n: int) -> np.ndarray:
    r, total = _reset_totals(reset, n)
    return r / total


def personalized_pagerank(
    adj: Any,
    reset: np.ndarray,
    *,
    damping: float = 0.5,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> np.ndarray:
    """Personalized PageRank by power iteration (scipy reference, one reset vector).

    Parameters
    ----------
    adj
        ``n x n`` non-negative adjacency (scipy sparse, dense array) or a prepared
        :class:`Transition`. Row ``i`` holds the weights of edges leaving ``i``; pass a
        symmetric matrix for an undirected graph.
    reset
        Length-``n`` non-negative personalization weights (normalized here).
    damping
        Probability ``d`` of following an edge rather than teleporting.
    tol
        Per-node tolerance; stop when ``||x_{t+1} - x_t||_1 < n * tol``.
    max_iter
        Iteration cap.

    Returns
    -------
    numpy.ndarray
        Length-``n`` float64 scores summing to 1.

    Raises
    ------
    ConvergenceError
        The tolerance was not reached in ``max_iter`` iterations.
    ValidationError
        Bad shapes, negative weights, an all-zero reset or out-of-range parameters.
    """
    _check(damping, tol, max_iter)
    tr = _as_transition(adj)
    r = _normalized_reset(reset, tr.n)
    x = r.copy()
    err = float("inf")
    for _ in range(max_iter):
        new = damping * (tr.pt @ x + x[tr.dangling].sum() * r) + (1.0 - damping) * r
        new /= new.sum()
        err = float(np.abs(new - x).sum())
        x = new
        if err < tr.n * tol:
            return x
    raise ConvergenceError("personalized_pagerank", max_iter, err)


def personalized_pagerank_torch(
    adj: Any,
    reset: np.ndarray | torch.Tensor,
    *,
    damping: float = 0.5,
    tol: float = 1e-10,
    max_iter: int = 100,
    device: str | torch.device = "auto",
    dtype: torch.dtype = torch.float64,
    check_every: int | None = None,
    threads: int | None = None,
) -> torch.Tensor:
    """Personalized PageRank for a batch of reset vectors (C kernel on the CPU, torch sparse on a GPU).

    Same fixed point and stopping rule as :func:`personalized_pagerank`, for every reset vector.
    On the CPU (float32 or float64) the C kernel ``kernels/_spmm.c`` solves the vectors in
    tiles of a few columns stored side by side, each vector stopping at the iteration the
    reference would stop at; elsewhere the loop is ``torch.sparse.mm`` over ``[n, b]``
    (``X <- d (P^T X + 1_dangling^T X * R) + (1 - d) R``), until every column has converged.

    Parameters
    ----------
    adj
        As in :func:`personalized_pagerank` (a :class:`Transition` caches its operands).
    reset
        ``[n]`` or ``[b, n]`` personalization weights (each row normalized here).
    device
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` (an error without a GPU).
    dtype
        ``torch.float64`` (default) or ``torch.float32`` (half the memory traffic; the L1
        limit ``n * tol`` must then stay above float32 rounding, about ``1e-7``).
    check_every
        On the torch path, test convergence (on a GPU a host sync) every this many iterations
        only; the result may then be up to ``check_every - 1`` iterations past the stopping
        point (closer to the fixed point). Default: 8 on a GPU, 1 on the CPU. The C kernel
        tests every vector at every iteration without a sync.
    threads
        Threads of the C kernel (default: ``torch.get_num_threads()``): each takes whole tiles, or
        on large graphs all share each tile's rows; the result is the same for any number.

    Returns
    -------
    torch.Tensor
        ``[n]`` or ``[b, n]`` scores (rows sum to 1) on ``device``, of ``dtype``.

    Raises
    ------
    ConvergenceError, ValidationError
        As in :func:`personalized_pagerank`.
    """
    from agentmem.kernels.device import resolve_device

    _check(damping, tol, max_iter)
    if check_every is not None and check_every < 1:
        raise ValidationError(f"check_every must be >= 1, got {check_every}")
    if threads is not None and threads < 1:
        raise ValidationError(f"threads must be >= 1, got {threads}")
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    tr = _as_transition(adj)
    r_np = reset.detach().cpu().numpy() if isinstance(reset, torch.Tensor) else np.asarray(reset)
    single = r_np.ndim == 1
    raw, total = _reset_totals(np.atleast_2d(r_np), tr.n)  # [b, n], [b, 1]
    if dev.type == "cpu" and dtype in (torch.float32, torch.float64) and _spmm is not None and tr.n < 2**31:
        out = torch.from_numpy(_solve_host(tr, raw, 1.0 / total[:, 0], damping, tr.n * tol, max_iter, dtype, threads))
        return out[0] if single else out
    r = torch.from_numpy((raw / total).T.copy()).to(device=dev, dtype=dtype)  # [n, b]
    pt, dangling = tr.torch_operands(dev, dtype)
    x = r.clone()
    err = torch.full((r.shape[1],), float("inf"), dtype=dtype, device=dev)
    limit = tr.n * tol
    every = check_every or (1 if dev.type == "cpu" else 8)  # a check is a host sync: on a GPU, not every step
    for it in range(max_iter):
        spread = torch.sparse.mm(pt, x) if tr.pt.nnz else torch.zeros_like(x)
        new = damping * (spread + (dangling @ x).unsqueeze(0) * r) + (1.0 - damping) * r
        new = new / new.sum(dim=0, keepdim=True)
        if (it + 1) % every == 0 or it + 1 == max_iter:
            err = (new - x).abs().sum(dim=0)
            if bool((err < limit).all()):
                out = new.T.contiguous()
                return out[0] if single else out
        x = new
    raise ConvergenceError("personalized_pagerank_torch", max_iter, float(err.max()))


def pagerank_one(adj: Any, reset: np.ndarray, *, damping: float = 0.5, tol: float = 1e-10,
                 max_iter: int = 100, threads: int | None = None) -> np.ndarray:
    """One query's :func:`personalized_pagerank` (same arguments, fixed point and stopping
    iteration) on the C kernel in float64 when it is built, else by the reference. ``threads``
    (default ``torch.get_num_threads()``) share the pass on graphs of 10,000 nodes and more."""
    tr = _as_transition(adj)
    if _spmm is None or tr.n >= 2**31:  # the batched path would fall back to torch.sparse
        return personalized_pagerank(tr, reset, damping=damping, tol=tol, max_iter=max_iter)
    return personalized_pagerank_torch(tr, reset, damping=damping, tol=tol, max_iter=max_iter, device="cpu",
                                       threads=threads).numpy()


def _layout(n: int, b: int, dtype: torch.dtype, threads: int) -> tuple[int, int]:
    """``(tile, crew)`` of the C kernel: columns per tile, and threads per tile.

    Each thread takes its own tiles of two cache lines per stored entry (32 float32 or 16
    float64 columns; fewer when there are fewer vectors) while the tiles its threads work on at
    once (reset, iterate and next iterate each) fit in :data:`_CACHE_SHARE`. Past that the
    threads share one tile at a time, each on a share of its rows, and a tile is one cache line
    wide, so that its iterate stays in the last-level cache. A single tile is shared by the
    threads from :data:`_CREW_ONE_NODES` nodes, where a pass outweighs the threads' meeting at
    every iteration.
    """
    item = 4 if dtype == torch.float32 else 8
    line = 64 // item
    tile = _tile_width(b, 2 * line)
    tiles = -(-b // tile)
    if threads == 1:
        return tile, 1
    if tiles == 1:
        return tile, threads if n >= _CREW_ONE_NODES else 1
    if min(threads, tiles) * 3 * n * tile * item <= _CACHE_SHARE:
        return tile, 1
    return _tile_width(b, line), threads


def _tile_width(b: int, most: int) -> int:
    """The narrowest width the kernel is built for (1, 4, 8, 16 or 32) that holds ``min(b, most)`` columns."""
    return next(t for t in (1, 4, 8, 16, 32) if t >= min(b, most))


def _solve_host(tr: Transition, r: np.ndarray, scale: np.ndarray, damping: float, limit: float, max_iter: int,
                dtype: torch.dtype, threads: int | None) -> np.ndarray:
    """:func:`personalized_pagerank_torch` on the CPU (C kernel): ``[b, n]`` float64 resets, row ``k``
    normalized by ``scale[k]`` as it is copied into the kernel's tiles, to ``[b, n]`` scores."""
    assert _spmm is not None
    np_dtype = np.dtype(np.float32 if dtype == torch.float32 else np.float64)
    indptr, indices, data, dangling = tr.host_operands(np_dtype)
    b, n = r.shape
    out = np.empty((b, n), dtype=np_dtype)
    nth = threads or torch.get_num_threads()
    tile, crew = _layout(n, b, dtype, nth)
    converged, _, worst = _spmm.solve(
        indptr, indices, data, dangling, np.ascontiguousarray(r), np.ascontiguousarray(scale), out, n, b,
        damping, limit, max_iter, tile, nth, crew, np_dtype == np.float64,
    )
    if not converged:
        raise ConvergenceError("personalized_pagerank_torch", max_iter, float(worst))
    return out
