"""Exact top-k that reads a low-dimensional sketch of the corpus, with certified bounds.

Sentence embeddings concentrate in a few directions: a small share of the principal axes
leaves residuals well below the rows' norm. Writing each stored row ``x`` as

    ``x = B c~ + B δ + ρ``,  ``c~ = fp32(Bᵀx)``, ``δ = Bᵀx − c~``, ``ρ = x − B Bᵀx ⟂ B``

(``B``: ``[D, r]`` orthonormal columns) gives, for a query ``q`` with ``p = Bᵀq`` and
``q⊥ = q − B p``,

    ``|q·x − p·c~| ≤ ||q⊥|| ||ρ|| + ||p|| ||δ||``      (Cauchy–Schwarz, twice).

The sketch's table holds ``[c~, ||ρ||]`` per row, so one matrix-vector product with
``[p, ||q⊥||]`` (numpy's BLAS, faster here than torch's CPU GEMV) gives every row an upper
bound of its exact score, up to a per-query constant: ``||p|| max ||δ||`` and the float32
roundings (:class:`_QueryTerms`). The rows with the largest bounds are rescored exactly (fp32
over the stored rows); their k-th exact score ``τ`` is a lower bound of the true k-th score, so
only rows whose upper bound reaches ``τ`` can be in the top-k, and those few are rescored too.
The result is :func:`agentmem.kernels.topk.topk_reference`'s.

**int8 first level** (``codes``, when the C kernel of :mod:`agentmem.kernels.scan` is built):
the coordinates are also kept as int8 codes with a scale per row, a quarter of the table's
bytes, and the first level is their scan (its bounds widened by the quantization errors, which
are bounded per row and per query). Without a mask or second level the whole search of one
query is one C call (:func:`agentmem.kernels.scan.fused_topk`).

How much is pruned depends on the data, never the answer: a basis that fits the data badly
(rows appended after it was fitted, another embedder) only widens the intervals.

**Second level** (``refine_rank > 0``): the next ``r2`` principal axes ``B2`` (fitted on the
residuals, so ``[B, B2]`` is orthonormal) get bfloat16 coordinates ``c2~`` too. The rows the
first bound keeps are few (a percent or less on MiniLM turns), so only their sketch rows are
gathered, ``[c~, c2~]`` is multiplied by ``[p, p2]`` in fp32 and bounded by ``||q⊥⊥|| ||ρ2||``
(the residual after ``r + r2`` axes) plus the roundings; only rows that still reach ``τ`` are
rescored from the full-width corpus.

>>> torch.manual_seed(0) and None
>>> corpus = torch.nn.functional.normalize(torch.randn(500, 16), dim=1)
>>> sk = build_sketch(corpus, rank=8)
>>> q = torch.nn.functional.normalize(torch.randn(2, 16), dim=1)
>>> from agentmem.kernels.topk import topk_reference
>>> torch.equal(topk_projected(q, corpus, sk, 5)[1], topk_reference(q, corpus, 5)[1])
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from agentmem.errors import ValidationError
from agentmem.kernels import scan as _scan
from agentmem.kernels.sketch import (
    ABS_SLACK,
    FP32_UNIT,
    NORM_SLACK,
    Level2,
    Sketch,
    build_sketch,
    extend_sketch,
    fit_basis,
)
from agentmem.kernels.topk import _validate

__all__ = ["Level2", "Sketch", "build_sketch", "extend_sketch", "fit_basis", "topk_projected"]

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
    rows, ``k' = min(k, valid rows)``, ties at the k-th score unspecified). CPU tensors; meant
    for a few queries at a time (each is one pass over the sketch, through numpy's BLAS).
    """
    n_valid = _validate(queries, corpus, k, valid)
    invalid = None if valid is None else ~valid.numpy()
    if len(sketch) != corpus.shape[0] or sketch.basis.shape[0] != corpus.shape[1]:
        raise ValidationError(f"sketch covers {len(sketch)} rows of dimension {sketch.basis.shape[0]}; "
                              f"corpus is {tuple(corpus.shape)}")
    b, k_out = queries.shape[0], min(k, n_valid)
    if k_out == 0:
        return torch.empty((b, 0)), torch.empty((b, 0), dtype=torch.int64)
    q32 = queries.detach().to("cpu", torch.float32).numpy()
    terms = _QueryTerms.of(sketch, q32)
    exact = _exact_scorer(corpus)
    out_s = np.empty((b, k_out), dtype=np.float32)
    out_i = np.empty((b, k_out), dtype=np.int64)
    if _fused(sketch, corpus, invalid, out_s, out_i, terms, q32):
        return torch.from_numpy(out_s), torch.from_numpy(out_i)
    for i in range(b):
        approx, const = _first_level(sketch, terms, i)  # upper bounds, less the constant
        if invalid is not None:
            approx[invalid] = -np.inf
        # Rows likely to win (the largest bounds): their k-th exact score is a lower bound tau
        # of the true k-th score, close to it; then every row whose upper bound reaches tau.
        first = _top_rows(approx, min(n_valid, 4 * k_out + 32))
        if len(first) < k_out:  # the rows left by the mask crowd into a few blocks
            first = np.flatnonzero(np.isfinite(approx))
        first_scores = exact(first, q32[i])
        tau = float(np.partition(first_scores, len(first) - k_out)[len(first) - k_out])
        rows = np.flatnonzero(approx >= _below(tau - const))
        if len(rows) > len(first) and sketch.level2 is not None:  # tighter bounds for fewer rows
            rows = rows[_upper2(sketch, terms, i, rows) >= tau]
        scores = exact(rows, q32[i])
        if len(rows) > 4 * k_out:  # sort only the k-th score's ties and better
            keep = scores >= np.partition(scores, len(rows) - k_out)[len(rows) - k_out]
            rows, scores = rows[keep], scores[keep]
        best = np.lexsort((rows, -scores))[:k_out]  # score descending, the lower row first
        out_s[i], out_i[i] = scores[best], rows[best]
    return torch.from_numpy(out_s), torch.from_numpy(out_i)


def _fused(sketch: Sketch, corpus: torch.Tensor, invalid: np.ndarray | None, out_s: np.ndarray,
           out_i: np.ndarray, terms: _QueryTerms, q32: np.ndarray) -> bool:
    """The whole search in the C kernel (:func:`agentmem.kernels.scan.fused_topk`) where it
    applies: int8 codes, one level, no mask, a float32 corpus. False where it does not."""
    if (sketch.codes is None or sketch.code_terms is None or sketch.level2 is not None or invalid is not None
            or corpus.dtype != torch.float32 or not _scan.available()):
        return False
    k = out_s.shape[1]
    codes, code_terms, mat = sketch.codes.numpy(), sketch.code_terms.numpy(), corpus.numpy()
    for i in range(len(q32)):
        found = _scan.fused_topk(codes, code_terms, terms.q_codes[i], terms.scan_terms[i], float(terms.const_scan[i]),
                                 mat, q32[i], k, first=4 * k + 32)
        assert found is not None and len(found[0]) == k
        out_s[i], out_i[i] = found
    return True


def _first_level(sketch: Sketch, terms: _QueryTerms, i: int) -> tuple[np.ndarray, float]:
    """Query ``i``'s first-level upper bounds of every row, less a constant, and that constant:
    the C scan of the int8 codes when the sketch has them, else a BLAS GEMV of the table."""
    if sketch.codes is None or sketch.code_terms is None:
        return sketch.table.numpy() @ terms.level1[i], float(terms.const1[i])
    approx = _scan.scan(sketch.codes.numpy(), sketch.code_terms.numpy(), terms.q_codes[i], terms.scan_terms[i])
    return approx, float(terms.const_scan[i])


_BLOCK = 64  # rows per block when picking the largest upper bounds


def _top_rows(values: np.ndarray, m: int) -> np.ndarray:
    """Up to ``m`` rows with large finite ``values``: the largest of each of the ``m`` blocks
    with the largest maxima (rows past the last whole block are left out).

    One elementwise pass and two small partitions instead of a partition of all ``N`` values
    (100k rows: ~40 µs instead of ~150). Block ``j`` is the strided set ``{j, j + nb, ...}``,
    so the maxima reduce over the leading axis. Fewer than ``m`` rows come back when the
    finite values crowd into fewer blocks.
    """
    n = len(values)
    nb = n // _BLOCK
    if nb <= m:
        rows = np.argpartition(values, n - min(m, n))[n - min(m, n) :]
    else:
        blocks = values[: nb * _BLOCK].reshape(_BLOCK, nb)
        top = np.argpartition(blocks.max(axis=0), nb - m)[nb - m :]
        rows = blocks[:, top].argmax(axis=0) * nb + top
    return rows[np.isfinite(values[rows])]


def _below(x: float) -> np.float32:
    """The largest float32 not above ``x``."""
    y = np.float32(x)
    return y if float(y) <= x else np.nextafter(y, np.float32(-np.inf))


def _exact_scorer(corpus: torch.Tensor) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``score(rows, q)``: fp32 inner products of ``q`` with the given corpus rows, in numpy or
    the C gather (:func:`agentmem.kernels.scan.gather_dot`)
    (torch's gathers and casts would wake its thread pool, which stalls on few cores)."""
    if corpus.dtype == torch.float32:
        mat = corpus.numpy()
        return lambda rows, q: _scan.gather_dot(mat, rows, q)
    if corpus.dtype == torch.bfloat16:
        bits = _bits(corpus)
        return lambda rows, q: _widen(np.take(bits, rows, axis=0)) @ q
    return lambda rows, q: np.take(corpus.numpy(), rows, axis=0).astype(np.float32) @ q  # float16


def _bits(t: torch.Tensor) -> np.ndarray:
    """The raw 16-bit patterns of a bfloat16 tensor, as a numpy view (no copy)."""
    return t.view(torch.int16).numpy().view(np.uint16)


def _widen(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns to float32: a bfloat16 is the top half of a float32, exactly."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _gamma(n: int) -> float:
    """Higham's ``γ_n``: a float32 sum of ``n`` products is off by at most ``γ_n Σ|a_i b_i|``."""
    return n * FP32_UNIT / (1 - n * FP32_UNIT)


@dataclass(frozen=True)
class _QueryTerms:
    """Per-query vectors and constants of the bounds (float64 algebra on ``[B, r]`` values).

    With ``p = Bᵀq``, ``q⊥ = q − B p`` (and ``p2``, ``q⊥⊥`` for the second level):

    * level one: ``q·x ≤ [p, ||q⊥||]·[c~, ||ρ||] + const1`` where ``const1`` holds
      ``||p|| max ||δ||``, the float32 rounding of ``p`` and of the product (``γ_{r+1}``), and
      the cross terms left by bases that are orthonormal only to float32 precision;
    * level two: ``q·x ≤ p·c~ + p2·c2~ + ||q⊥⊥|| ||ρ2|| + ||(p, p2)|| ||(δ, δ2)|| + const2``.
    """

    level1: np.ndarray  # [B, r + 1] float32: p, then ||q⊥|| rounded up
    const1: np.ndarray  # [B] float32
    p_all: np.ndarray  # [B, r + r2] float32: p, p2
    q_perp2: np.ndarray  # [B] ||q⊥⊥|| rounded up
    p_norm: np.ndarray  # [B] ||(p, p2)|| rounded up
    const2: np.ndarray  # [B]
    # the int8 codes' scan (kernels.scan), when the sketch has codes: per query the int8 codes,
    # the kernel's terms [s_q, ||q⊥||, ||s_q q8||] and the constant left out of its output
    q_codes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int8))
    scan_terms: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.float32))
    const_scan: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))

    @classmethod
    def of(cls, sketch: Sketch, q32: np.ndarray) -> _QueryTerms:
        lv = sketch.level2
        bases = sketch.query_bases  # [r + r2, D] float64
        q = q32.astype(np.float64)
        r = sketch.rank
        p_all = q @ bases.T
        q2, p1_sq = (q * q).sum(1), (p_all[:, :r] ** 2).sum(1)
        q_norm, p1_norm = np.sqrt(q2), np.sqrt(p1_sq)
        # with p = Bᵀq, ||q − B p||² = ||q||² − ||p||² + pᵀ(BᵀB − I)p: within orth ||p||² of
        # ||q||² − ||p||² (three times that, for the float64 rounding of the sums)
        orth = 3 * sketch.orth_error
        q_perp = np.sqrt(np.maximum(q2 - p1_sq + orth * p1_sq, 0.0)) * NORM_SLACK  # rounded up, as every term
        # float32 for the products with the table: rounded up by the slack (2**-10 >> 2**-24)
        q_perp32 = (q_perp * NORM_SLACK).astype(np.float32)
        # |q·x| is at most ||q|| ||x||; x = B c~ + B δ + ρ, and cross terms between fp32 bases
        # (||I − BᵀB|| = sketch.orth_error) stay below orth_error ||q|| ||x|| (twice, for slack)
        x_max = sketch.max_norm + sketch.max_rounding + sketch.max_perp
        cross = 2 * sketch.orth_error * q_norm * x_max + ABS_SLACK * q_norm * x_max
        scan = cls._scan_terms(sketch, p_all[:, :r], q_perp32, cross)
        if scan[0].size and lv is None:  # the codes replace the table: nothing else is read
            empty = np.zeros((len(q), 0), dtype=np.float32)
            zeros = np.zeros(len(q))
            return cls(empty, zeros.astype(np.float32), empty, zeros, zeros, zeros, *scan)
        p32 = p_all.astype(np.float32)
        p_err = np.sqrt(((p_all - p32) ** 2).sum(1))
        const1 = (p1_norm * sketch.max_rounding + p_err * sketch.max_norm
                  + _gamma(r + 1) * (p1_norm * sketch.max_norm + q_perp * sketch.max_perp) + cross) * NORM_SLACK
        level1 = np.concatenate([p32[:, :r], q_perp32[:, None]], axis=1)
        const1_32 = (const1 * NORM_SLACK).astype(np.float32)
        if lv is None:
            zeros = np.zeros(len(q))
            return cls(level1, const1_32, p32, zeros, zeros, zeros, *scan)
        p2_sq = (p_all * p_all).sum(1)
        p_norm = np.sqrt(p2_sq)
        q_perp2 = np.sqrt(np.maximum(q2 - p2_sq + orth * p2_sq, 0.0)) * NORM_SLACK
        m2 = lv.max_norm
        const2 = (p_err * m2 + _gamma(r + lv.rank + 2) * p_norm * m2 + cross) * NORM_SLACK
        return cls(level1, const1_32, p32, q_perp2, p_norm * NORM_SLACK, const2, *scan)

    @staticmethod
    def _scan_terms(sketch: Sketch, p1: np.ndarray, q_perp: np.ndarray, cross: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The codes' scan terms. With ``p = s_q q8 + f`` and ``Bᵀx = s_i c8_i + e_i``:
        ``q·x = s_q s_i q8·c8_i + s_q q8·e_i + f·Bᵀx + q⊥·ρ`` (+ the basis cross terms), so
        the scan's output bounds it up to ``||f|| max ||Bᵀx||``, the cross terms and the float32
        roundings of the kernel's five operations on its int32 dot product (``γ_8``)."""
        if sketch.codes is None:
            return np.zeros((0, 0), dtype=np.int8), np.zeros((0, 3), dtype=np.float32), np.zeros(0, dtype=np.float32)
        coded = _scan.quantize_query(p1, width=sketch.codes.shape[1])
        x_proj = sketch.max_norm + sketch.max_rounding  # ||Bᵀx|| <= ||c~|| + ||δ||
        qp = q_perp.astype(np.float64)
        const = (coded.error * x_proj + _gamma(8) * (coded.norm * (x_proj + sketch.max_code_rounding)
                                                     + qp * sketch.max_perp) + cross) * NORM_SLACK
        return coded.codes, coded.terms(q_perp), (const * NORM_SLACK).astype(np.float32)


def _upper2(sketch: Sketch, terms: _QueryTerms, i: int, rows: np.ndarray) -> np.ndarray:
    """Second-level upper bounds of query ``i``'s exact scores on ``rows`` (see
    :class:`_QueryTerms`): only the ``rows`` of both coordinate tables are gathered."""
    lv = sketch.level2
    assert lv is not None
    r = sketch.rank
    est = np.take(sketch.table.numpy(), rows, axis=0)[:, :r] @ terms.p_all[i, :r]
    est += _widen(np.take(_bits(lv.coords), rows, axis=0)) @ terms.p_all[i, r:]
    slack = terms.q_perp2[i] * lv.perp.numpy()[rows] + terms.p_norm[i] * lv.rounding.numpy()[rows]
    return est + (slack + terms.const2[i]) * NORM_SLACK
