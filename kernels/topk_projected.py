"""Exact top-k that reads a low-dimensional sketch of the corpus, with certified bounds.

Sentence embeddings concentrate in a few directions: on 20k–35k MiniLM vectors the best 128 of
384 principal axes leave residuals of norm 0.3–0.45. Writing each stored row ``x`` as

    ``x = B c~ + B δ + ρ``,  ``c~ = fp32(Bᵀx)``, ``δ = Bᵀx − c~``, ``ρ = x − B Bᵀx ⟂ B``

(``B``: ``[D, r]`` orthonormal columns) gives, for a query ``q`` with ``p = Bᵀq`` and
``q⊥ = q − B p``,

    ``|q·x − p·c~| ≤ ||q⊥|| ||ρ|| + ||p|| ||δ||``      (Cauchy–Schwarz, twice).

The sketch's table holds ``[c~, ||ρ||]`` per row, so one matrix-vector product with
``[p, ||q⊥||]`` (numpy's BLAS: torch's CPU GEMV is 2–3x slower here) gives every row an upper
bound of its exact score, up to a per-query constant: ``||p|| max ||δ||`` and the float32
roundings (:class:`_QueryTerms`). The rows with the largest bounds are rescored exactly (fp32
over the stored rows); their k-th exact score ``τ`` is a lower bound of the true k-th score, so
only rows whose upper bound reaches ``τ`` can be in the top-k, and those few are rescored too.
The result is :func:`agentmem.kernels.topk.topk_reference`'s.

**int8 first level** (``codes``, when the C kernel of :mod:`agentmem.kernels.scan` is built):
the coordinates are also kept as int8 codes with a scale per row, a quarter of the table's
bytes, and the first level is their scan (its bounds widened by the quantization errors, which
are bounded per row and per query). Without a mask or second level the whole search of one
query is one C call (:func:`agentmem.kernels.scan.fused_topk`): 100k rows of the search
bench's mixture, 96 axes, ~1.0 ms instead of ~2.2 with the float32 table through BLAS.

How much is pruned depends on the data, never the answer: a basis that fits the data badly
(rows appended after it was fitted, another embedder) only widens the intervals.

**Second level** (``refine_rank > 0``): the next ``r2`` principal axes ``B2`` (fitted on the
residuals, so ``[B, B2]`` is orthonormal) get bfloat16 coordinates ``c2~`` too. The rows the
first bound keeps are few (a percent or less on MiniLM turns), so only their sketch rows are
gathered, ``[c~, c2~]`` is multiplied by ``[p, p2]`` in fp32 and bounded by ``||q⊥⊥|| ||ρ2||``
(the residual after ``r + r2`` axes) plus the roundings; only rows that still reach ``τ`` are
rescored from the full-width corpus. On 100k MiniLM turns (24 + 104 axes) that is ~680 rows
gathered from the second level and ~13 full rows rescored per query.

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
from agentmem.kernels.topk import _validate

__all__ = ["Level2", "Sketch", "build_sketch", "extend_sketch", "fit_basis", "topk_projected"]

_NORM_SLACK = 1.0 + 2.0**-10  # fp32 norms and products of the bound terms, rounded up
_FP32_UNIT = 2.0**-24
_ABS_SLACK = 2.0**-20  # of ||q|| max ||x||: what float32 inputs and bases leave beyond the named terms


@dataclass(frozen=True)
class Sketch:
    """The ``[N, r]`` coordinates of the corpus rows in ``basis`` and their bound terms.

    ``table`` is ``[N, r + 1]`` float32: the coordinates ``c~`` and, in the last column, the
    residual norm ``||ρ||`` (rounded up), so that one matrix-vector product with
    ``[p, ||q⊥||]`` gives every row's upper bound up to a per-query constant.
    """

    basis: torch.Tensor  # [D, r] float32, orthonormal columns
    table: torch.Tensor  # [N, r + 1] float32: c~ = fp32(Bᵀx), then ||ρ|| rounded up
    max_norm: float = 0.0  # largest ||c~|| (rounded up)
    max_rounding: float = 0.0  # largest ||δ|| = ||Bᵀx − c~||
    max_perp: float = 0.0  # largest ||ρ||
    basis_t: torch.Tensor | None = None  # [r, D] contiguous
    level2: Level2 | None = None  # the second level, when the sketch has one
    orth_error: float = 0.0  # ||I − BᵀB|| (Frobenius) of both levels' float32 bases together
    # [r + r2, D] float64: both levels' axes as rows, what a query is projected on
    query_bases: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), compare=False, repr=False)
    spare: _Spare | None = field(default=None, compare=False, repr=False)  # room to append in place
    # the first level as int8 codes for the C scan (kernels.scan), when the sketch has them:
    codes: torch.Tensor | None = field(default=None, compare=False, repr=False)  # [N, width] uint8: c8 + 128
    code_terms: torch.Tensor | None = field(default=None, compare=False, repr=False)  # [N, 3] float32
    max_code_rounding: float = 0.0  # largest e_i = ||Bᵀx − s_i c8_i|| of the codes

    @property
    def rank(self) -> int:
        return int(self.basis.shape[1])

    @property
    def coords(self) -> torch.Tensor:
        """``[N, r]`` float32 ``c~`` (a view of ``table``)."""
        return self.table[:, : self.rank]

    @property
    def perp(self) -> torch.Tensor:
        """``[N]`` float32 ``||ρ||`` rounded up (a view of ``table``)."""
        return self.table[:, self.rank]

    def __len__(self) -> int:
        return int(self.table.shape[0])


@dataclass(frozen=True)
class Level2:
    """The next ``r2`` axes of a :class:`Sketch`: coordinates and bound terms of every row.

    Read only for the rows the first level keeps, so the coordinates are bfloat16 (half the
    memory of float32; their rounding is bounded per row), widened by a bit shift when read.
    """

    basis_t: torch.Tensor  # [r2, D] float32, orthonormal rows, orthogonal to the first basis
    coords: torch.Tensor  # [N, r2] bfloat16, c2~
    perp: torch.Tensor  # [N] float32, ||ρ2|| = ||x − B Bᵀx − B2 B2ᵀx|| (rounded up)
    rounding: torch.Tensor  # [N] float32, ||(δ, δ2)|| (rounded up)
    max_norm: float  # largest ||(c~, c2~)|| (rounded up)

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


def _sketch_rows(rows: torch.Tensor, basis: torch.Tensor, basis2: torch.Tensor | None = None,
                 like: Sketch | None = None, *, codes: bool = False) -> Sketch:
    """The sketch of ``rows`` alone in ``basis`` (and ``basis2``, the second level; with
    ``codes``, the first level's int8 codes too); the per-basis terms are taken from ``like``
    when it has the same bases (an extension)."""
    blocks: list[tuple[torch.Tensor, ...]] = []
    code_blocks: list[tuple[np.ndarray, np.ndarray]] = []
    width = _scan.code_width(basis.shape[1])
    b = basis.to(torch.float64)
    b2 = None if basis2 is None else basis2.to(torch.float64)
    for start in range(0, max(1, rows.shape[0]), _TERMS_BLOCK):  # no rows: one empty block
        x = rows[start : start + _TERMS_BLOCK].to(torch.float64)
        proj = x @ b
        coords = proj.to(torch.float32)
        resid = x - proj @ b.T
        delta = torch.linalg.vector_norm(proj - coords.to(torch.float64), dim=1)
        perp = _round_up(torch.linalg.vector_norm(resid, dim=1))
        block: tuple[torch.Tensor, ...] = (torch.cat([coords, perp.unsqueeze(1)], dim=1), _round_up(delta))
        if codes:
            code_blocks.append(_scan.quantize_rows(proj.cpu().numpy(), perp.cpu().numpy(), width=width))
        if b2 is not None:
            proj2 = resid @ b2  # = x @ b2 for b2 orthogonal to b
            coords2 = proj2.to(torch.bfloat16)
            perp2 = torch.linalg.vector_norm(resid - proj2 @ b2.T, dim=1)
            delta2 = torch.linalg.vector_norm(proj2 - coords2.to(torch.float64), dim=1)
            block += (coords2, _round_up(perp2), _round_up(torch.sqrt(delta**2 + delta2**2)))
        blocks.append(block)
    cols = [torch.cat(c) for c in zip(*blocks, strict=True)]
    table, rounding = cols[0].contiguous(), cols[1]
    r = basis.shape[1]
    level2 = None
    if basis2 is not None:
        level2 = Level2(basis2.T.contiguous(), cols[2].contiguous(), cols[3], cols[4],
                        _max_norm(torch.cat([table[:, :r], cols[2].to(torch.float32)], dim=1)))
    if like is None:
        b_all = (b if b2 is None else torch.cat([b, b2], dim=1)).to(basis.device)
        orth = float(torch.linalg.matrix_norm(b_all.T @ b_all - torch.eye(b_all.shape[1], dtype=torch.float64)))
        query_bases = b_all.T.contiguous().cpu().numpy()
    else:
        orth, query_bases = like.orth_error, like.query_bases
    code_rows = code_terms = None
    if codes:
        code_rows = torch.from_numpy(np.concatenate([c for c, _ in code_blocks]))
        code_terms = torch.from_numpy(np.concatenate([t for _, t in code_blocks]))
    return Sketch(basis, table, _max_norm(table[:, :r]), _max_of(rounding), _max_of(table[:, r]),
                  basis.T.contiguous(), level2, orth, query_bases, None, code_rows, code_terms,
                  _max_of(code_terms[:, 2]) if code_terms is not None else 0.0)


def _max_of(t: torch.Tensor) -> float:
    return float(t.max()) if len(t) else 0.0


def build_sketch(corpus: torch.Tensor, rank: int = 128, *, basis: torch.Tensor | None = None,
                 sample: int = 20_000, refine_rank: int = 0, codes: bool | None = None) -> Sketch:
    """Sketch ``corpus`` in ``basis`` (default: fitted on up to ``sample`` evenly spaced rows).

    ``refine_rank > 0`` adds the second level: the ``refine_rank`` principal axes of the same
    sample's residuals after ``basis``. ``codes`` adds the first level's int8 codes, which the
    search then scans instead of the float32 table (default: when the C scan is built,
    :func:`agentmem.kernels.scan.available`).
    """
    codes = _scan.available() if codes is None else codes
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
    return _sketch_rows(corpus, basis, basis2, codes=codes)


@dataclass
class _Spare:
    """Capacity behind a sketch's per-row arrays (``[cap, ...]`` each, rows ``[0, used)``
    written), shared by the sketches extended from it."""

    arrays: list[torch.Tensor]
    used: int


def _row_arrays(sketch: Sketch) -> list[torch.Tensor]:
    """The per-row arrays: the table, the second level's three, the codes' two (when present)."""
    lv = sketch.level2
    arrays = [sketch.table] if lv is None else [sketch.table, lv.coords, lv.perp, lv.rounding]
    if sketch.codes is not None and sketch.code_terms is not None:
        arrays += [sketch.codes, sketch.code_terms]
    return arrays


def extend_sketch(sketch: Sketch, rows: torch.Tensor) -> Sketch:
    """``sketch`` with ``rows`` appended, in the same bases (exact whatever the fit).

    Only the new rows are sketched; the maxima carry over (``max`` of the parts'). The row
    arrays grow by doubling: the new rows are written past the end of the latest extension
    (earlier sketches only ever view rows before it), so a search after each added turn
    costs the new rows, not a copy of the whole sketch (100k rows: ~16 ms).
    """
    lv = sketch.level2
    new = _sketch_rows(rows, sketch.basis, None if lv is None else lv.basis_t.T, like=sketch,
                       codes=sketch.codes is not None)
    n, m = len(sketch), len(new)
    spare = sketch.spare
    if spare is None or spare.used != n or spare.arrays[0].shape[0] < n + m:
        cap = max(2 * (n + m), 1024)
        arrays = [torch.empty((cap, *a.shape[1:]), dtype=a.dtype) for a in _row_arrays(sketch)]
        for a, old in zip(arrays, _row_arrays(sketch), strict=True):
            a[:n] = old
        spare = _Spare(arrays, n)
    for a, part in zip(spare.arrays, _row_arrays(new), strict=True):
        a[n : n + m] = part
    spare.used = n + m
    views = [a[: n + m] for a in spare.arrays]
    level2 = None
    if lv is not None and new.level2 is not None:
        level2 = Level2(lv.basis_t, views[1], views[2], views[3], max(lv.max_norm, new.level2.max_norm))
    coded = sketch.codes is not None
    return Sketch(sketch.basis, views[0], max(sketch.max_norm, new.max_norm),
                  max(sketch.max_rounding, new.max_rounding), max(sketch.max_perp, new.max_perp),
                  new.basis_t, level2, sketch.orth_error, sketch.query_bases, spare,
                  views[-2] if coded else None, views[-1] if coded else None,
                  max(sketch.max_code_rounding, new.max_code_rounding))


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
    (torch's gathers and casts wake its thread pool: with 2 threads on a 2-vCPU VM a bf16
    query took 8 ms instead of 0.3)."""
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
    return n * _FP32_UNIT / (1 - n * _FP32_UNIT)


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
        q_perp = np.sqrt(np.maximum(q2 - p1_sq + orth * p1_sq, 0.0)) * _NORM_SLACK  # rounded up, as every term
        # float32 for the products with the table: rounded up by the slack (2**-10 >> 2**-24)
        q_perp32 = (q_perp * _NORM_SLACK).astype(np.float32)
        # |q·x| is at most ||q|| ||x||; x = B c~ + B δ + ρ, and cross terms between fp32 bases
        # (||I − BᵀB|| = sketch.orth_error) stay below orth_error ||q|| ||x|| (twice, for slack)
        x_max = sketch.max_norm + sketch.max_rounding + sketch.max_perp
        cross = 2 * sketch.orth_error * q_norm * x_max + _ABS_SLACK * q_norm * x_max
        scan = cls._scan_terms(sketch, p_all[:, :r], q_perp32, cross)
        if scan[0].size and lv is None:  # the codes replace the table: nothing else is read
            empty = np.zeros((len(q), 0), dtype=np.float32)
            zeros = np.zeros(len(q))
            return cls(empty, zeros.astype(np.float32), empty, zeros, zeros, zeros, *scan)
        p32 = p_all.astype(np.float32)
        p_err = np.sqrt(((p_all - p32) ** 2).sum(1))
        const1 = (p1_norm * sketch.max_rounding + p_err * sketch.max_norm
                  + _gamma(r + 1) * (p1_norm * sketch.max_norm + q_perp * sketch.max_perp) + cross) * _NORM_SLACK
        level1 = np.concatenate([p32[:, :r], q_perp32[:, None]], axis=1)
        const1_32 = (const1 * _NORM_SLACK).astype(np.float32)
        if lv is None:
            zeros = np.zeros(len(q))
            return cls(level1, const1_32, p32, zeros, zeros, zeros, *scan)
        p2_sq = (p_all * p_all).sum(1)
        p_norm = np.sqrt(p2_sq)
        q_perp2 = np.sqrt(np.maximum(q2 - p2_sq + orth * p2_sq, 0.0)) * _NORM_SLACK
        m2 = lv.max_norm
        const2 = (p_err * m2 + _gamma(r + lv.rank + 2) * p_norm * m2 + cross) * _NORM_SLACK
        return cls(level1, const1_32, p32, q_perp2, p_norm * _NORM_SLACK, const2, *scan)

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
                                                     + qp * sketch.max_perp) + cross) * _NORM_SLACK
        return coded.codes, coded.terms(q_perp), (const * _NORM_SLACK).astype(np.float32)


def _upper2(sketch: Sketch, terms: _QueryTerms, i: int, rows: np.ndarray) -> np.ndarray:
    """Second-level upper bounds of query ``i``'s exact scores on ``rows`` (see
    :class:`_QueryTerms`): only the ``rows`` of both coordinate tables are gathered."""
    lv = sketch.level2
    assert lv is not None
    r = sketch.rank
    est = np.take(sketch.table.numpy(), rows, axis=0)[:, :r] @ terms.p_all[i, :r]
    est += _widen(np.take(_bits(lv.coords), rows, axis=0)) @ terms.p_all[i, r:]
    slack = terms.q_perp2[i] * lv.perp.numpy()[rows] + terms.p_norm[i] * lv.rounding.numpy()[rows]
    return est + (slack + terms.const2[i]) * _NORM_SLACK
