"""The low-dimensional sketch of a corpus that :func:`agentmem.kernels.topk_projected.topk_projected`
scans: principal axes (:func:`fit_basis`), per-row coordinates and bound terms (:class:`Sketch`,
with an optional bfloat16 second level, :class:`Level2`, and int8 codes for the C scan of
:mod:`agentmem.kernels.scan`), built once (:func:`build_sketch`) and grown in place
(:func:`extend_sketch`). The bounds these terms certify are derived in
:mod:`agentmem.kernels.topk_projected`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from agentmem.errors import ValidationError
from agentmem.kernels import scan as _scan

__all__ = [
    "ABS_SLACK", "FP32_UNIT", "NORM_SLACK", "Level2", "Sketch", "build_sketch", "extend_sketch", "fit_basis",
    "sketch_rows",
]

NORM_SLACK = 1.0 + 2.0**-10  # fp32 norms and products of the bound terms, rounded up
FP32_UNIT = 2.0**-24
ABS_SLACK = 2.0**-20  # of ||q|| max ||x||: what float32 inputs and bases leave beyond the named terms


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
    return (t * NORM_SLACK + 1e-7).to(torch.float32)


def _max_norm(coords: torch.Tensor) -> float:
    """The largest row norm of ``coords``, rounded up (0 for no rows)."""
    return float(torch.linalg.vector_norm(coords.to(torch.float32), dim=1).max()) * NORM_SLACK if len(coords) else 0.0


_TERMS_BLOCK = 16_384  # rows per float64 block while sketching (bounds the temporary memory)


def sketch_rows(rows: torch.Tensor, basis: torch.Tensor, basis2: torch.Tensor | None = None,
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
    return sketch_rows(corpus, basis, basis2, codes=codes)


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
    costs the new rows, not a copy of the whole sketch.
    """
    lv = sketch.level2
    new = sketch_rows(rows, sketch.basis, None if lv is None else lv.basis_t.T, like=sketch,
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
