"""Exact top-k that reads a low-dimensional sketch of the corpus, with certified bounds.

Sentence embeddings concentrate in a few directions: on 20k–35k MiniLM vectors the best 128 of
384 principal axes leave residuals of norm 0.3–0.45. Writing each stored row ``x`` as

    ``x = B c~ + B δ + ρ``,  ``c~ = bf16(Bᵀx)``, ``δ = Bᵀx − c~``, ``ρ = x − B Bᵀx ⟂ B``

(``B``: ``[D, r]`` orthonormal columns) gives, for a query ``q`` with ``p = Bᵀq`` and
``q⊥ = q − B p``,

    ``|q·x − p·c~| ≤ ||q⊥|| ||ρ|| + ||p|| ||δ||``      (Cauchy–Schwarz, twice).

So one pass over the ``[N, r]`` bf16 sketch gives every row an upper bound of its exact score.
The rows with the highest bounds are rescored exactly (fp32 over the stored rows); their k-th
exact score ``τ`` is a lower bound of the true k-th score, so only rows whose upper bound
reaches ``τ`` can be in the top-k, and those few are rescored too. The result is
:func:`agentmem.kernels.topk.topk_reference`'s.
The sketch product itself, ``bf16(bf16(p)·c~)``, is off from ``p·c~`` by at most its output
rounding ``u|approx|`` plus ``||p − bf16(p)|| max ||c~||``.

How much is pruned depends on the data, never the answer: a basis that fits the data badly
(rows appended after it was fitted, another embedder) only widens the intervals.

**Second level** (``refine_rank > 0``): the next ``r2`` principal axes ``B2`` (fitted on the
residuals, so ``[B, B2]`` is orthonormal) get bf16 coordinates ``c2~`` too. The rows the first
bound keeps are few (a few percent), so for them only the sketch rows are gathered,
``[c~, c2~]`` is multiplied by ``[p, p2]`` in fp32 and bounded by ``||q⊥⊥|| ||ρ2||`` (the residual
after ``r + r2`` axes) plus the two roundings; only rows that still reach ``τ`` are rescored
from the full-width corpus. On 100k MiniLM-like rows (rank 64 + 64) that is ~4,500 rows
gathered at 128 bytes instead of 1,536, and ~270 full rows rescored.

>>> torch.manual_seed(0) and None
>>> corpus = torch.nn.functional.normalize(torch.randn(500, 16), dim=1)
>>> sk = build_sketch(corpus, rank=8)
>>> q = torch.nn.functional.normalize(torch.randn(2, 16), dim=1)
>>> from agentmem.kernels.topk import topk_reference
>>> torch.equal(topk_projected(q, corpus, sk, 5)[1], topk_reference(q, corpus, 5)[1])
True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from agentmem.errors import ValidationError
from agentmem.kernels.topk import _BF16_UNIT, _order_ties_by_index, _validate

__all__ = ["Level2", "Sketch", "build_sketch", "choose_split", "extend_sketch", "fit_basis", "plan_sketch",
           "topk_projected"]

_NORM_SLACK = 1.0 + 2.0**-10  # fp32 norms and products of the bound terms, rounded up
_FP32_UNIT = 2.0**-24


@dataclass(frozen=True)
class Sketch:
    """The ``[N, r]`` bf16 coordinates of the corpus rows in ``basis`` and their bound terms."""

    basis: torch.Tensor  # [D, r] float32, orthonormal columns
    coords: torch.Tensor  # [N, r] bfloat16, c~
    perp: torch.Tensor  # [N] float32, ||ρ|| (rounded up)
    rounding: torch.Tensor  # [N] float32, ||δ|| (rounded up)
    max_norm: float = 0.0  # largest ||c~|| (rounded up)
    max_rounding: float = 0.0  # largest ||δ||
    basis_t: torch.Tensor | None = None  # [r, D] contiguous: q @ basis as a GEMV (measured 10x faster)
    level2: Level2 | None = None  # the second level, when the sketch has one

    @property
    def rank(self) -> int:
        return int(self.basis.shape[1])

    def __len__(self) -> int:
        return int(self.coords.shape[0])


@dataclass(frozen=True)
class Level2:
    """The next ``r2`` axes of a :class:`Sketch`: coordinates and bound terms of every row."""

    basis_t: torch.Tensor  # [r2, D] float32, orthonormal rows, orthogonal to the first basis
    coords: torch.Tensor  # [N, r2] bfloat16, c2~
    perp: torch.Tensor  # [N] float32, ||ρ2|| = ||x − B Bᵀx − B2 B2ᵀx|| (rounded up)
    rounding: torch.Tensor  # [N] float32, ||(δ, δ2)|| (rounded up)
    max_norm: float  # largest ||(c~, c2~)|| (rounded up; bounds ||c2~||)

    @property
    def rank(self) -> int:
        return int(self.basis_t.shape[0])


def fit_basis(sample: torch.Tensor, rank: int) -> torch.Tensor:
    """``[D, rank]`` orthonormal principal axes of ``sample`` (uncentered: the axes of ``xᵀx``)."""
    if not 1 <= rank <= sample.shape[1]:
        raise ValidationError(f"rank must be in [1, {sample.shape[1]}], got {rank}")
    x = sample.to(torch.float64)
    _, vecs = torch.linalg.eigh(x.T @ x)
    basis = vecs[:, -rank:].flip(1)
    basis, _ = torch.linalg.qr(basis)  # orthonormal to working precision
    return basis.to(torch.float32).contiguous()


def _round_up(t: torch.Tensor) -> torch.Tensor:
    return (t * _NORM_SLACK + 1e-7).to(torch.float32)


def _max_norm(coords: torch.Tensor) -> float:
    """The largest row norm of ``coords``, rounded up (0 for no rows)."""
    return float(torch.linalg.vector_norm(coords.to(torch.float32), dim=1).max()) * _NORM_SLACK if len(coords) else 0.0


_TERMS_BLOCK = 16_384  # rows per float64 block while sketching (bounds the temporary memory)


def _sketch_rows(rows: torch.Tensor, basis: torch.Tensor, basis2: torch.Tensor | None = None) -> Sketch:
    """The sketch of ``rows`` alone in ``basis`` (and ``basis2``, the second level)."""
    blocks: list[tuple[torch.Tensor, ...]] = []
    b = basis.to(torch.float64)
    b2 = None if basis2 is None else basis2.to(torch.float64)
    for start in range(0, max(1, rows.shape[0]), _TERMS_BLOCK):  # no rows: one empty block
        x = rows[start : start + _TERMS_BLOCK].to(torch.float64)
        proj = x @ b
        coords = proj.to(torch.bfloat16)
        resid = x - proj @ b.T
        delta = torch.linalg.vector_norm(proj - coords.to(torch.float64), dim=1)
        block: tuple[torch.Tensor, ...] = (coords, _round_up(torch.linalg.vector_norm(resid, dim=1)), _round_up(delta))
        if b2 is not None:
            proj2 = resid @ b2  # = x @ b2 for b2 orthogonal to b
            coords2 = proj2.to(torch.bfloat16)
            perp2 = torch.linalg.vector_norm(resid - proj2 @ b2.T, dim=1)
            delta2 = torch.linalg.vector_norm(proj2 - coords2.to(torch.float64), dim=1)
            block += (coords2, _round_up(perp2), _round_up(torch.sqrt(delta**2 + delta2**2)))
        blocks.append(block)
    cols = [torch.cat(c) for c in zip(*blocks, strict=True)]
    coords, perp, rounding = cols[:3]
    level2 = None
    if basis2 is not None:
        level2 = Level2(basis2.T.contiguous(), cols[3], cols[4], cols[5],
                        _max_norm(torch.cat([coords, cols[3]], dim=1)))
    return Sketch(basis, coords, perp, rounding, _max_norm(coords),
                  float(rounding.max()) if len(rounding) else 0.0, basis.T.contiguous(), level2)


def build_sketch(corpus: torch.Tensor, rank: int = 128, *, basis: torch.Tensor | None = None,
                 sample: int = 20_000, refine_rank: int = 0) -> Sketch:
    """Sketch ``corpus`` in ``basis`` (default: fitted on up to ``sample`` evenly spaced rows).

    ``refine_rank > 0`` adds the second level: the ``refine_rank`` principal axes of the same
    sample's residuals after ``basis``.
    """
    step = max(1, corpus.shape[0] // sample)
    if basis is None:
        basis = fit_basis(corpus[::step].to(torch.float32), min(rank, corpus.shape[1]))
    if basis.shape[0] != corpus.shape[1]:
        raise ValidationError(f"basis is for dimension {basis.shape[0]}, corpus has {corpus.shape[1]}")
    basis = basis.to(corpus.device)
    basis2 = None
    room = corpus.shape[1] - basis.shape[1]
    if refine_rank > 0 and room > 0:
        x = corpus[::step].to(torch.float64)
        b = basis.to(torch.float64)
        basis2 = fit_basis(x - (x @ b) @ b.T, min(refine_rank, room))
    return _sketch_rows(corpus, basis, basis2)


_SPLITS = (1 / 8, 3 / 16, 1 / 4, 3 / 8, 1 / 2, 3 / 4)  # first-level shares of the axes that plan_sketch weighs
_LINE = 64  # bytes per cache line: a gathered row costs whole lines


def choose_split(sample: torch.Tensor, basis: torch.Tensor, n_rows: int, *, k: int = 10, queries: int = 64,
                 row_bytes: int = 1536, candidates: tuple[int, ...] | None = None) -> tuple[int, float]:
    """The first-level rank ``r1`` of a two-level sketch over ``basis`` (``[D, r]``, level two
    the other ``r - r1`` axes) that reads the fewest bytes per query on data like ``sample``,
    and that estimate of bytes per query.

    Pure planning, no timing: ``queries`` evenly spaced rows of ``sample`` play the queries
    (each against the other rows, with ``k`` scaled to the sample so its threshold matches a
    corpus of ``n_rows``), the bounds are those of :func:`topk_projected` without the bf16
    rounding terms, and a query's bytes are the whole first level (``2 r1`` per row), one
    gathered second-level row plus three per-row bound terms (in cache lines) for each row the
    first bound keeps, and a full row (``row_bytes``) for each row both keep. Sentence
    embeddings concentrate in a few axes and prefer a small ``r1``; a mixture of isotropic
    clusters needs most axes in the first level.
    """
    r = int(basis.shape[1])
    if r < 2 or len(sample) < 2:
        return max(1, r // 2), 0.0
    cands = sorted({max(1, min(r - 1, round(f * r))) for f in _SPLITS} if candidates is None else set(candidates))
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
    best, best_cost = cands[0], float("inf")
    for r1 in cands:
        keep1 = upper(r1) >= tau
        s1 = float(keep1.sum(1).float().mean()) * scale
        s2 = float((keep1 & keep2).sum(1).float().mean()) * scale
        line2 = -(-2 * (r - r1) // _LINE) * _LINE + 3 * _LINE
        cost = n_rows * 2 * r1 + s1 * line2 + s2 * (-(-row_bytes // _LINE) * _LINE)
        if cost < best_cost:
            best, best_cost = r1, cost
    return best, best_cost


MAX_SHARE = 0.25  # plan_sketch gives up when a query would read more than this share of a full scan


def plan_sketch(corpus: torch.Tensor, rank: int = 128, *, k: int = 10, sample: int = 20_000,
                max_share: float | None = MAX_SHARE) -> Sketch | None:
    """A two-level sketch of ``corpus`` over its ``rank`` principal axes, split between the
    levels by :func:`choose_split` (fitted on up to ``sample`` evenly spaced rows); ``None``
    when the bounds would prune too little to pay: estimated bytes per query above
    ``max_share`` of a full scan (the sketch path's per-row work costs more than a plain
    matmul's; ``None``: sketch anyway). Noise in every direction does that (1M rows of the
    bench's 1,000-cluster mixture), and so do few dimensions.
    """
    rank = min(rank, corpus.shape[1])
    step = max(1, corpus.shape[0] // sample)
    rows = corpus[::step].to(torch.float32)
    basis = fit_basis(rows, rank)
    if rank < 2:
        return _sketch_rows(corpus, basis.to(corpus.device))
    row_bytes = corpus.shape[1] * corpus.element_size()
    r1, cost = choose_split(rows, basis, corpus.shape[0], k=k, row_bytes=row_bytes)
    if max_share is not None and cost > max_share * corpus.shape[0] * row_bytes:
        return None
    basis = basis.to(corpus.device)
    return _sketch_rows(corpus, basis[:, :r1].contiguous(), basis[:, r1:].contiguous())


def extend_sketch(sketch: Sketch, rows: torch.Tensor) -> Sketch:
    """``sketch`` with ``rows`` appended, in the same bases (exact whatever the fit).

    Only the new rows are sketched; the maxima carry over (``max`` of the parts').
    """
    lv = sketch.level2
    new = _sketch_rows(rows, sketch.basis, None if lv is None else lv.basis_t.T)
    level2 = None
    if lv is not None and new.level2 is not None:
        n2 = new.level2
        level2 = Level2(lv.basis_t, torch.cat([lv.coords, n2.coords]), torch.cat([lv.perp, n2.perp]),
                        torch.cat([lv.rounding, n2.rounding]), max(lv.max_norm, n2.max_norm))
    return Sketch(sketch.basis, torch.cat([sketch.coords, new.coords]), torch.cat([sketch.perp, new.perp]),
                  torch.cat([sketch.rounding, new.rounding]), max(sketch.max_norm, new.max_norm),
                  max(sketch.max_rounding, new.max_rounding), new.basis_t, level2)


def topk_projected(
    queries: torch.Tensor,
    corpus: torch.Tensor,
    sketch: Sketch,
    k: int,
    *,
    valid: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-``k`` rows of ``corpus`` by inner product, reading ``sketch`` for all rows and
    ``corpus`` only for the rows the bounds cannot rule out.

    Same contract as :func:`agentmem.kernels.topk.topk` (``[B, k']`` float32 scores and int64
    rows, ``k' = min(k, valid rows)``, ties at the k-th score unspecified). CPU tensors.
    """
    n_valid = _validate(queries, corpus, k, valid)
    if len(sketch) != corpus.shape[0] or sketch.basis.shape[0] != corpus.shape[1]:
        raise ValidationError(f"sketch covers {len(sketch)} rows of dimension {sketch.basis.shape[0]}; "
                              f"corpus is {tuple(corpus.shape)}")
    b, k_out = queries.shape[0], min(k, n_valid)
    if k_out == 0:
        return torch.empty((b, 0)), torch.empty((b, 0), dtype=torch.int64)
    q32 = queries.to(torch.float32)
    bt = sketch.basis_t if sketch.basis_t is not None else sketch.basis.T.contiguous()
    p = (bt @ q32.T).T.contiguous()  # [B, r]
    q_resid = q32 - p @ bt
    q_perp = torch.linalg.vector_norm(q_resid, dim=1, keepdim=True) * _NORM_SLACK
    p_norm = torch.linalg.vector_norm(p, dim=1, keepdim=True) * _NORM_SLACK
    hi = p.to(torch.bfloat16)
    approx = hi @ sketch.coords.T
    # |(p − hi)·c~| <= e = ||p − hi|| max ||c~||: ~2**-9 ||p||, small beside ||q⊥|| ||ρ||. The
    # sketch is cache-resident, so multiplying the residual of p as well (what the full-width
    # bf16 path does) would double the compute for a bound nobody needs tighter.
    e = torch.linalg.vector_norm(p - hi.to(torch.float32), dim=1, keepdim=True) * sketch.max_norm * (1 + 2.0**-6)
    # Per-row bound: ||q⊥|| ||ρ_i||. Everything else is bounded once per query: the bf16
    # rounding of the product, u|approx| <= u (1 + u) ||p|| max ||c~||, plus e, plus
    # ||p|| max ||δ||; so the scan costs one fused multiply-add over [B, N] beyond the matmul.
    product = _BF16_UNIT * (1 + _BF16_UNIT) * p_norm * sketch.max_norm + e  # |approx − p·c~|
    const = product + p_norm * sketch.max_rounding
    upper = approx.to(torch.float32).addcmul_(q_perp, sketch.perp.unsqueeze(0)).add_(const * _NORM_SLACK)
    if valid is not None:
        upper.masked_fill_(~valid.unsqueeze(0), float("-inf"))
    # Rescore the rows most likely to win: their k-th exact score is a lower bound tau of the
    # true k-th score, close to it; then every row whose upper bound reaches tau.
    first = torch.topk(upper, min(n_valid, 4 * k_out + 32), dim=1).indices
    second = _second_level(sketch, q32, p, q_resid, approx, product) if sketch.level2 is not None else None
    out_s, out_i = [], []
    for i in range(b):
        exact = corpus.index_select(0, first[i]).to(torch.float32) @ q32[i]
        tau = torch.topk(exact, k_out).values[-1]
        rows = (upper[i] >= tau).nonzero().squeeze(1)
        if rows.numel() > first.shape[1]:
            if second is not None:  # tighter bounds from the gathered sketch rows first
                rows = rows[second(i, rows) >= tau]
            exact = corpus.index_select(0, rows).to(torch.float32) @ q32[i]
        else:
            rows = first[i]
        if rows.numel() > 4 * k_out:  # sort only the k-th score's ties and better
            keep = exact >= torch.topk(exact, k_out).values[-1]
            exact, rows = exact[keep], rows[keep]
        s, r = _order_ties_by_index(exact.unsqueeze(0), rows.unsqueeze(0))
        out_s.append(s[:, :k_out])
        out_i.append(r[:, :k_out])
    return torch.cat(out_s), torch.cat(out_i)


def _second_level(sketch: Sketch, q32: torch.Tensor, p: torch.Tensor, q_resid: torch.Tensor,
                  approx: torch.Tensor, product: torch.Tensor):  # type: ignore[no-untyped-def]
    """``upper2(i, rows)``: second-level upper bounds of query ``i``'s exact scores on ``rows``.

    ``q·x = p·c~ + p2·c2~ + [p, p2]·(δ, δ2) + q⊥⊥·ρ2``; the first level's ``approx`` gives
    ``p·c~`` within ``product`` (its bf16 rounding bound), ``p2·c2~`` is an fp32 dot product of
    ``r2`` terms (rounding ``γ ||p2|| max ||c2~||``), and Cauchy–Schwarz bounds the rest:
    only the ``[N, r2]`` second-level coordinates of ``rows`` are gathered.
    """
    lv = sketch.level2
    assert lv is not None
    p2 = (lv.basis_t @ q32.T).T
    q_perp2 = torch.linalg.vector_norm(q_resid - p2 @ lv.basis_t, dim=1) * _NORM_SLACK  # q − B p − B2 p2
    p_norm = torch.linalg.vector_norm(torch.cat([p, p2], dim=1), dim=1) * _NORM_SLACK
    m = p2.shape[1]
    gamma = m * _FP32_UNIT / (1 - m * _FP32_UNIT)
    const = (gamma * torch.linalg.vector_norm(p2, dim=1) * lv.max_norm + product.squeeze(1)) * _NORM_SLACK

    def upper2(i: int, rows: torch.Tensor) -> torch.Tensor:
        est = approx[i].index_select(0, rows).to(torch.float32)
        est += lv.coords.index_select(0, rows).to(torch.float32) @ p2[i]
        slack = q_perp2[i] * lv.perp.index_select(0, rows) + p_norm[i] * lv.rounding.index_select(0, rows) + const[i]
        return est + slack * _NORM_SLACK

    return upper2
