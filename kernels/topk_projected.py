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
The bf16 rounding of the sketch product itself is bounded as in
:func:`agentmem.kernels.topk._approx_scores_bf16`.

How much is pruned depends on the data, never the answer: a basis that fits the data badly
(rows appended after it was fitted, another embedder) only widens the intervals.

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
from agentmem.kernels.topk import (
    _BF16_UNIT,
    _approx_scores_bf16,
    _order_ties_by_index,
    _split_bf16,
    _validate,
)

__all__ = ["Sketch", "build_sketch", "extend_sketch", "fit_basis", "topk_projected"]

_NORM_SLACK = 1.0 + 2.0**-10  # fp32 norms and products of the bound terms, rounded up


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

    @property
    def rank(self) -> int:
        return int(self.basis.shape[1])

    def __len__(self) -> int:
        return int(self.coords.shape[0])


def fit_basis(sample: torch.Tensor, rank: int) -> torch.Tensor:
    """``[D, rank]`` orthonormal principal axes of ``sample`` (uncentered: the axes of ``xᵀx``)."""
    if not 1 <= rank <= sample.shape[1]:
        raise ValidationError(f"rank must be in [1, {sample.shape[1]}], got {rank}")
    x = sample.to(torch.float64)
    _, vecs = torch.linalg.eigh(x.T @ x)
    basis = vecs[:, -rank:].flip(1)
    basis, _ = torch.linalg.qr(basis)  # orthonormal to working precision
    return basis.to(torch.float32).contiguous()


def _sketch(basis: torch.Tensor, coords: torch.Tensor, perp: torch.Tensor, rounding: torch.Tensor) -> Sketch:
    norms = torch.linalg.vector_norm(coords.to(torch.float32), dim=1)
    return Sketch(basis, coords, perp, rounding,
                  float(norms.max()) * _NORM_SLACK if len(norms) else 0.0,
                  float(rounding.max()) if len(rounding) else 0.0, basis.T.contiguous())


def _round_up(t: torch.Tensor) -> torch.Tensor:
    return (t * _NORM_SLACK + 1e-7).to(torch.float32)


def _terms(rows: torch.Tensor, basis: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = rows.to(torch.float64)
    b = basis.to(torch.float64)
    proj = x @ b
    coords = proj.to(torch.bfloat16)
    perp = torch.linalg.vector_norm(x - proj @ b.T, dim=1)
    rounding = torch.linalg.vector_norm(proj - coords.to(torch.float64), dim=1)
    return coords, _round_up(perp), _round_up(rounding)


def build_sketch(corpus: torch.Tensor, rank: int = 128, *, basis: torch.Tensor | None = None,
                 sample: int = 20_000) -> Sketch:
    """Sketch ``corpus`` in ``basis`` (default: fitted on up to ``sample`` evenly spaced rows)."""
    if basis is None:
        step = max(1, corpus.shape[0] // sample)
        basis = fit_basis(corpus[::step].to(torch.float32), min(rank, corpus.shape[1]))
    if basis.shape[0] != corpus.shape[1]:
        raise ValidationError(f"basis is for dimension {basis.shape[0]}, corpus has {corpus.shape[1]}")
    coords, perp, rounding = _terms(corpus, basis.to(corpus.device))
    return _sketch(basis.to(corpus.device), coords, perp, rounding)


def extend_sketch(sketch: Sketch, rows: torch.Tensor) -> Sketch:
    """``sketch`` with ``rows`` appended, in the same basis (exact whatever the fit)."""
    coords, perp, rounding = _terms(rows, sketch.basis)
    return _sketch(sketch.basis, torch.cat([sketch.coords, coords]), torch.cat([sketch.perp, perp]),
                   torch.cat([sketch.rounding, rounding]))


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
    q_perp = torch.linalg.vector_norm(q32 - p @ bt, dim=1, keepdim=True) * _NORM_SLACK
    p_norm = torch.linalg.vector_norm(p, dim=1, keepdim=True) * _NORM_SLACK
    hi, lo = _split_bf16(p)
    approx, e = _approx_scores_bf16(p, hi, lo, sketch.coords)
    # Per-row bound: ||q⊥|| ||ρ_i||. Everything else is bounded once per query: the bf16
    # rounding of the product, u|approx| <= u (1 + u) ||p|| max ||c~||, plus e, plus
    # ||p|| max ||δ||; so the scan costs one fused multiply-add over [B, N] beyond the matmul.
    const = (_BF16_UNIT * (1 + _BF16_UNIT) * p_norm * sketch.max_norm + e + p_norm * sketch.max_rounding)
    upper = approx.to(torch.float32).addcmul_(q_perp, sketch.perp.unsqueeze(0)).add_(const * _NORM_SLACK)
    if valid is not None:
        upper.masked_fill_(~valid.unsqueeze(0), float("-inf"))
    # Rescore the rows most likely to win: their k-th exact score is a lower bound tau of the
    # true k-th score, close to it; then every row whose upper bound reaches tau.
    first = torch.topk(upper, min(n_valid, 4 * k_out + 32), dim=1).indices
    out_s, out_i = [], []
    for i in range(b):
        exact = corpus.index_select(0, first[i]).to(torch.float32) @ q32[i]
        tau = torch.topk(exact, k_out).values[-1]
        rows = (upper[i] >= tau).nonzero().squeeze(1)
        if rows.numel() > first.shape[1]:
            exact = corpus.index_select(0, rows).to(torch.float32) @ q32[i]
        else:
            rows = first[i]
        s, r = _order_ties_by_index(exact.unsqueeze(0), rows.unsqueeze(0))
        out_s.append(s[:, :k_out])
        out_i.append(r[:, :k_out])
    return torch.cat(out_s), torch.cat(out_i)
