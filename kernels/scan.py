"""The sketch's first-level scan over int8 codes: a C kernel (``kernels/_scan.c``) and its reference.

The first level of :func:`agentmem.kernels.topk_projected.topk_projected` reads every row's
coordinates once per query; at 100k rows and 96 axes their float32 table (39 MB) outgrows a
32 MB L3 cache and a BLAS GEMV streams it from memory. Quantized per row to int8 the table is a
quarter of that, and the scan
is an exact integer dot product with the query's int8 codes (32 codes per AVX2 instruction),
then three float32 products:

    ``out[i] = s_q · s_i · (q8 · c8_i) + ||q⊥|| · ||ρ_i|| + ||s_q q8|| · e_i``

with ``c8_i`` the row's codes at scale ``s_i`` (stored plus 128, as unsigned bytes: the
instruction multiplies unsigned by signed bytes) and ``e_i = ||Bᵀx_i − s_i c8_i||`` (rounded
up), so that ``out[i]`` plus a per-query constant bounds the row's exact score from above
(:func:`quantize_query` gives that constant's query terms). Query codes are in [-64, 64], so
that a pair of products never leaves int16; their rounding (~1% of ``||p||``) is in the
constant.

>>> import numpy as np
>>> codes, terms = quantize_rows(np.array([[0.5, -0.25], [0.0, 0.0]]), np.array([0.1, 0.2]), width=32)
>>> (codes[0, :3].astype(int) - 128).tolist(), terms[1].tolist()
([127, -64, 0], [1.0, 0.20000000298023224, 0.0])
>>> q = quantize_query(np.array([1.0, 0.0]), width=32)
>>> qc, qt = q.codes[0], q.terms(0.0)[0]
>>> bool(np.array_equal(scan(codes, terms, qc, qt), scan_reference(codes, terms, qc, qt)))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agentmem.errors import ValidationError

try:
    from agentmem.kernels import _scan  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler: the float32 table stays the first level
    _scan = None

__all__ = ["QueryCodes", "available", "code_width", "fused_topk", "gather_dot", "gather_dot_reference", "quantize_query",
           "quantize_rows", "scan", "scan_reference"]

_ROW_MAX = 127
_ZERO = 128  # a row code is stored as its signed value plus this
_QUERY_MAX = 64  # |unsigned row code · query code| · 2 = 255 · 64 · 2 < 2^15: the AVX2 pairs never saturate
_LANES = 32  # codes per AVX2 step: widths are padded to a multiple
MAX_WIDTH = 512


def available() -> bool:
    """Whether the C kernel was built (else :func:`scan` is the numpy reference, slower than BLAS)."""
    return _scan is not None


def code_width(rank: int) -> int:
    """Codes per row for ``rank`` coordinates: padded with zeros to a multiple of 32."""
    return -(-rank // _LANES) * _LANES


def _up32(x: np.ndarray) -> np.ndarray:
    """float32 values not below the float64 ``x``."""
    y = x.astype(np.float32)
    return np.where(y.astype(np.float64) < x, np.nextafter(y, np.float32(np.inf)), y)


def quantize_rows(proj: np.ndarray, perp: np.ndarray, *, width: int) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes of the float64 coordinates ``proj`` (``[N, r]``, one scale per row), stored
    as ``[N, width]`` unsigned bytes ``c8 + 128`` (zero padded: 128), and the kernel's row
    terms ``[N, 3]`` float32: the scale ``s_i``, ``perp`` (passed through, already rounded up)
    and ``e_i = ||proj_i − s_i c8_i||`` rounded up."""
    n, r = proj.shape
    if r > width or width % _LANES or width > MAX_WIDTH:
        raise ValidationError(f"{r} coordinates do not fit {width} codes (a multiple of {_LANES}, at most {MAX_WIDTH})")
    peak = np.abs(proj).max(axis=1) if r else np.zeros(n)
    scale = np.where(peak > 0, peak / _ROW_MAX, 1.0).astype(np.float32).astype(np.float64)
    c8 = np.clip(np.rint(proj / scale[:, None]), -_ROW_MAX, _ROW_MAX)
    codes = np.full((n, width), _ZERO, dtype=np.uint8)
    codes[:, :r] = c8 + _ZERO
    err = np.linalg.norm(proj - c8 * scale[:, None], axis=1)
    terms = np.stack([scale.astype(np.float32), np.asarray(perp, dtype=np.float32),
                      _up32(err * (1 + 2.0**-20))], axis=1)
    return codes, np.ascontiguousarray(terms)


@dataclass(frozen=True)
class QueryCodes:
    """Queries' int8 codes and what their rounding leaves, for bounds (see :func:`quantize_query`)."""

    codes: np.ndarray  # [B, width] int8
    scale: np.ndarray  # [B] s_q (float32 values)
    error: np.ndarray  # [B] ||p − s_q q8|| (float64, rounded up)
    norm: np.ndarray  # [B] ||s_q q8|| (float32 values, rounded up)

    def terms(self, q_perp: np.ndarray | float) -> np.ndarray:
        """The kernel's query terms ``[B, 3]``: ``[s_q, ||q⊥||, ||s_q q8||]`` (float32;
        ``q_perp`` rounded up by the caller)."""
        out = np.empty((len(self.scale), 3), dtype=np.float32)
        out[:, 0], out[:, 1], out[:, 2] = self.scale, q_perp, self.norm
        return out


def quantize_query(p: np.ndarray, *, width: int, reference: bool = False) -> QueryCodes:
    """int8 codes (in [-64, 64]) of queries' float64 coordinates ``p`` (``[B, r]``, or one ``[r]``), one
    scale per query: the C kernel's loop where it is built (a microsecond a query instead of
    some thirty numpy calls) unless ``reference``, else numpy; the same codes and scales
    either way, the error and norm up to float64 summation order (both rounded up by 2^-20)."""
    p = np.atleast_2d(np.asarray(p, dtype=np.float64))
    b, r = p.shape
    if r > width:
        raise ValidationError(f"{r} coordinates do not fit {width} codes")
    if _scan is not None and not reference:
        codes = np.empty((b, width), dtype=np.int8)
        out = np.array([_scan.quantize(np.ascontiguousarray(row), codes[i]) for i, row in enumerate(p)]).reshape(b, 3)
        return QueryCodes(codes, out[:, 0], out[:, 1], out[:, 2])
    peak = np.abs(p).max(axis=1) if r else np.zeros(b)
    # float32 scales rounded up, so that |p| / s_q <= _QUERY_MAX
    up = np.nextafter((peak / _QUERY_MAX).astype(np.float32), np.float32(np.inf))
    scale = np.where(peak > 0, up, np.float32(1.0)).astype(np.float64)
    q = np.rint(p / scale[:, None])
    codes = np.zeros((b, width), dtype=np.int8)
    codes[:, :r] = q
    deq = q * scale[:, None]
    error = np.sqrt(((p - deq) ** 2).sum(axis=1)) * (1 + 2.0**-20)
    norm = _up32(np.sqrt((deq * deq).sum(axis=1)) * (1 + 2.0**-20)).astype(np.float64)
    return QueryCodes(codes, scale, error, norm)


def scan_reference(codes: np.ndarray, terms: np.ndarray, q: np.ndarray, qt: np.ndarray) -> np.ndarray:
    """``[N]`` float32: ``qt0 · s_i · (q · c8_i) + qt1 · perp_i + qt2 · e_i``, in numpy."""
    dot = ((codes.astype(np.int32) - _ZERO) @ q.astype(np.int32)).astype(np.float32)
    qt = qt.astype(np.float32)
    return (qt[0] * terms[:, 0]) * dot + qt[1] * terms[:, 1] + qt[2] * terms[:, 2]


def scan(codes: np.ndarray, terms: np.ndarray, q: np.ndarray, qt: np.ndarray, *,
         out: np.ndarray | None = None, portable: bool = False) -> np.ndarray:
    """:func:`scan_reference` through the C kernel when it is built (AVX2 where the CPU has it,
    unless ``portable``); the numpy reference otherwise. Contiguous inputs as the reference documents them; the result is written to
    ``out`` when given. Outputs are the same whatever the path."""
    if _scan is None:
        res = scan_reference(codes, terms, q, qt)
        if out is not None:
            out[:] = res
            return out
        return res
    if out is None:
        out = np.empty(codes.shape[0], dtype=np.float32)
    _scan.scan(_c(codes, np.uint8), _c(terms, np.float32), _c(q, np.int8), _c(qt, np.float32), out, portable)
    return out


def gather_dot_reference(mat: np.ndarray, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``[m]`` float32 inner products of ``q`` with the float32 rows ``mat[rows]`` (numpy)."""
    return np.take(mat, rows, axis=0) @ q


def gather_dot(mat: np.ndarray, rows: np.ndarray, q: np.ndarray, *, portable: bool = False) -> np.ndarray:
    """:func:`gather_dot_reference` through the C kernel when it is built: no gathered copy,
    the next rows prefetched, sums in another order (float32 roundings apart)."""
    if _scan is None:
        return gather_dot_reference(mat, rows, q)
    out = np.empty(len(rows), dtype=np.float32)
    _scan.gather_dot(_c(mat, np.float32), _c(rows, np.int64), _c(q, np.float32), out, portable)
    return out


def fused_topk(codes: np.ndarray, terms: np.ndarray, q: np.ndarray, qt: np.ndarray, slack: float,
               mat: np.ndarray, qf: np.ndarray, k: int, *, first: int) -> tuple[np.ndarray, np.ndarray] | None:
    """One query's exact top-``k`` (scores, rows) over the int8 first level and the float32
    corpus ``mat``, in one C call (``None`` when the kernel is not built): the scan's bounds
    (plus ``slack``, the query's constant) of every row; the largest bound of each of the
    ``first`` 64-row blocks with the largest maxima rescored exactly, their k-th score ``τ``;
    every row whose bound reaches ``τ`` rescored; the best ``k``, higher score then lower row
    first. What :func:`agentmem.kernels.topk_projected.topk_projected` does in numpy for a
    first level without mask or second level."""
    if _scan is None:
        return None
    out_s = np.empty(min(k, len(codes)), dtype=np.float32)
    out_r = np.empty(len(out_s), dtype=np.int64)
    got = _scan.topk(_c(codes, np.uint8), _c(terms, np.float32), _c(q, np.int8), _c(qt, np.float32), float(slack),
                     _c(mat, np.float32), _c(qf, np.float32), first, out_s, out_r)
    return out_s[:got], out_r[:got]


def _c(a: np.ndarray, dtype: type) -> np.ndarray:
    if a.dtype != dtype:
        raise ValidationError(f"scan: expected {np.dtype(dtype).name}, got {a.dtype}")
    return np.ascontiguousarray(a)


def simd() -> bool:
    """Whether the built kernel runs its AVX2 path on this CPU."""
    return bool(_scan is not None and _scan.simd())
