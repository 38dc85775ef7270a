"""Planning a sketch (:mod:`agentmem.kernels.topk_projected`) on the data: how many principal
axes in its first level, whether a second level pays, or whether a sketch pays at all.

Pure planning, no timing: the bounds of :func:`~agentmem.kernels.topk_projected.topk_projected`
are evaluated on a sample and each candidate split priced in bytes read per query.
"""

from __future__ import annotations

import torch

from agentmem.kernels import scan as _scan
from agentmem.kernels.sketch import Sketch, fit_basis, sketch_rows

__all__ = ["MAX_SHARE", "choose_split", "plan_sketch"]

_SPLITS = (1 / 8, 3 / 16, 1 / 4, 3 / 8, 1 / 2, 3 / 4)  # first-level shares of the axes that plan_sketch weighs
_LINE = 64  # bytes per cache line: a gathered row costs whole lines
# What gathering one row at random costs beyond its bytes, in bytes of a streamed scan: a
# second-level row is a cache miss, not a stream (the measurement behind the value is in
# docs/benchmarks.md).
_GATHER = 8192


def _lines(nbytes: int) -> int:
    return -(-nbytes // _LINE) * _LINE


def choose_split(sample: torch.Tensor, basis: torch.Tensor, n_rows: int, *, k: int = 10, queries: int = 64,
                 row_bytes: int = 1536, candidates: tuple[int, ...] | None = None, codes: bool = False
                 ) -> tuple[int, int, float]:
    """The ranks ``(r1, r2)`` of a sketch over ``basis`` (``[D, r]``: level one its first ``r1``
    axes, level two the other ``r - r1`` or none, ``r2 = 0``) that read the fewest bytes per
    query on data like ``sample``, and that estimate of bytes per query.

    Pure planning, no timing: ``queries`` evenly spaced rows of ``sample`` play the queries
    (each against the other rows, with ``k`` scaled to the sample so its threshold matches a
    corpus of ``n_rows``), the bounds are those of :func:`topk_projected` without the
    rounding terms, and a query's bytes are the whole first level (``4 (r1 + 1)`` per row),
    its gathered row, a second-level row and two per-row bound terms (in cache lines) for each
    row the first bound keeps, and a full row (``row_bytes``) for each row both keep; each
    gathered row also costs ``_GATHER`` bytes, its measured price in bytes of a streamed scan. Sentence
    embeddings concentrate in a few axes and prefer a small ``r1``; a mixture of isotropic
    clusters needs most axes in the first level and gains nothing from a second (the noise
    left after them is in every direction), so there the rows the first bound keeps go
    straight to the full-width rescoring.

    With ``codes`` the first level is read as int8 codes (``r1`` rounded up to whole 32-code
    steps) and three float32 terms per row, and only one level is planned: a wider int8 first
    level costs less than a second level's gathers, and one level is what the fused C search
    runs.
    """
    r = int(basis.shape[1])
    if r < 2 or len(sample) < 2:
        return max(1, r // 2), r - max(1, r // 2), 0.0
    cands = sorted({max(1, min(r - 1, round(f * r))) for f in _SPLITS} if candidates is None else set(candidates))
    if codes:  # whole 32-code steps: padding is read anyway, so it may as well hold axes
        cands = sorted({min(r, _scan.code_width(c)) for c in cands})
    x = sample.to(torch.float32)
    n = len(x)
    q_rows = torch.linspace(0, n - 1, min(queries, n)).round().long().unique()
    q = x[q_rows]
    b = basis.to(torch.float32)
    c, pc = x @ b, q @ b  # [n, r], [Q, r]
    resid2 = (x * x).sum(1, keepdim=True) - torch.cumsum(c * c, dim=1)  # ||x||² − Σ_{j<r'} c_j², r' = 1..r
    q_resid2 = (q * q).sum(1, keepdim=True) - torch.cumsum(pc * pc, dim=1)
    exact = q @ x.T
    exact[torch.arange(len(q_rows)), q_rows] = float("-inf")  # a query is not its own neighbour
    k_s = max(1, min(n - 1, round(k * n / max(n_rows, n))))
    tau = torch.topk(exact, k_s, dim=1).values[:, -1:]

    def upper(rank: int) -> torch.Tensor:
        slack = q_resid2[:, rank - 1].clamp_min(0).sqrt().unsqueeze(1) * resid2[:, rank - 1].clamp_min(0).sqrt()
        return pc[:, :rank] @ c[:, :rank].T + slack

    keep2 = upper(r) >= tau
    scale = n_rows / n
    full_row = _GATHER + _lines(row_bytes)
    best, best_cost = (cands[0], r - cands[0]), float("inf")
    for r1 in cands:
        keep1 = upper(r1) >= tau
        s1 = float(keep1.sum(1).float().mean()) * scale
        s2 = float((keep1 & keep2).sum(1).float().mean()) * scale
        row2 = _GATHER + _lines(4 * (r1 + 1)) + _lines(2 * (r - r1)) + 2 * _LINE
        scan = n_rows * (_scan.code_width(r1) + 12 if codes else 4 * (r1 + 1))
        two_levels = () if codes or r1 == r else ((r - r1, scan + s1 * row2 + s2 * full_row),)
        for r2, cost in (*two_levels, (0, scan + s1 * full_row)):
            if cost < best_cost:
                best, best_cost = (r1, r2), cost
    return best[0], best[1], best_cost


# plan_sketch gives up above this estimated share of a full scan's bytes: past it the sketch's
# search took as long as a plain BLAS scan (the measured shares are in docs/benchmarks.md).
MAX_SHARE = 0.5


def plan_sketch(corpus: torch.Tensor, rank: int = 128, *, k: int = 10, sample: int = 20_000,
                max_share: float | None = MAX_SHARE, codes: bool | None = None) -> Sketch | None:
    """A sketch of ``corpus`` over its ``rank`` principal axes, in one or two levels as
    :func:`choose_split` plans them (fitted on up to ``sample`` evenly spaced rows); ``None``
    when the bounds would prune too little to pay: estimated bytes per query above
    ``max_share`` of a float32 full scan (``None``: sketch anyway; see ``MAX_SHARE``). Noise in
    every direction does that (1M rows of the bench's 1,000-cluster mixture), and so do few
    dimensions. ``codes`` as in :func:`build_sketch`.
    """
    codes = _scan.available() if codes is None else codes
    rank = min(rank, corpus.shape[1])
    step = max(1, corpus.shape[0] // sample)
    rows = corpus[::step].to(torch.float32)
    basis = fit_basis(rows, rank)
    if rank < 2:
        return sketch_rows(corpus, basis.to(corpus.device), codes=codes)
    row_bytes = corpus.shape[1] * corpus.element_size()
    r1, r2, cost = choose_split(rows, basis, corpus.shape[0], k=k, row_bytes=row_bytes, codes=codes)
    # the plain scan it competes with: float32's bytes whatever the storage (a single-query CPU
    # scan of bf16 rows is no faster than BLAS over float32)
    if max_share is not None and cost > max_share * corpus.shape[0] * corpus.shape[1] * 4:
        return None
    basis = basis.to(corpus.device)
    return sketch_rows(corpus, basis[:, :r1].contiguous(), basis[:, r1 : r1 + r2].contiguous() if r2 else None,
                        codes=codes)
