"""Fused Triton kernel for exact inner-product top-k: one program per (query block, corpus block).

Each program computes the score tile ``Q[rows] @ C[cols].T`` in fp32 registers, masks rows of
the corpus that are out of range or not ``valid``, and writes that tile's own top-``K`` per query
(scores descending, ties by lower index) to a small partial buffer. :func:`agentmem.kernels.topk`
then merges the ``n_blocks * K`` partials per query with one ``torch.topk``.

Precision: the accumulator is fp32. A half-precision corpus meets the fp32 queries split into
two half-precision parts, ``q = q_hi + q_lo`` (each rounded to the corpus dtype), so the
product keeps ~16 bits of the query instead of 8 and rides the tensor cores; an fp32 corpus uses
IEEE fp32 dots. Scores then agree with the fp32 reference to fp32 rounding. Under
``TRITON_INTERPRET=1`` bfloat16 tiles are widened to fp32 before the dot (see ``DOT_FP32``).

The kernel is built on first use, once per mode (compiled, or run by Triton's interpreter under
``TRITON_INTERPRET=1``, read at each launch). Triton's own ``@jit`` helpers (``tl.max``,
``tl.min``, ``tl.zeros``, ...) are built once, in the mode ``TRITON_INTERPRET`` had when
``triton`` was first imported, and fail when called from a kernel of the other mode. The kernel
body therefore calls only Triton builtins, and reduces with combine functions that
:func:`_kernel` binds for its mode: a process that imported ``triton`` to compile kernels can
also run this one interpreted. (The other way round is Triton's own limit: Triton 3.x compiles
nothing in a process that imported it under ``TRITON_INTERPRET=1``.)
"""

from __future__ import annotations

import functools
import types
from typing import Any

import torch
import triton
import triton.language as tl
from triton.runtime.jit import JITFunction

from agentmem.errors import ValidationError
from agentmem.kernels.device import triton_interpret

__all__ = ["MAX_TRITON_K", "block_topk_partials"]

MAX_TRITON_K = 256  # per-block top-k is K passes of max/argmin over the tile: keep K small

# The combine functions of the body's two reductions, bound per mode in a copy of this module's
# globals by _kernel; the module-level names only keep the body's free names defined.
_ROW_MAX: Any = None
_ROW_MIN: Any = None


def _block_topk_body(
    q_hi_ptr,
    q_lo_ptr,
    c_ptr,
    valid_ptr,
    out_s_ptr,
    out_i_ptr,
    B,
    N,
    D: tl.constexpr,  # a Python int in the loop bound (Triton 3.6's interpreter cannot range() over a tensor)
    stride_q,
    stride_c,
    stride_out,
    HAS_LO: tl.constexpr,
    HAS_VALID: tl.constexpr,
    DOT_FP32: tl.constexpr,
    PRECISION: tl.constexpr,
    K: tl.constexpr,
    BLOCK_Q: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    pid_q = tl.program_id(0)
    pid_n = tl.program_id(1)
    rows = pid_q * BLOCK_Q + tl.arange(0, BLOCK_Q)
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    dims = tl.arange(0, BLOCK_D)
    row_ok = rows < B
    col_ok = cols < N
    rows64 = rows.to(tl.int64)
    cols64 = cols.to(tl.int64)  # N * D may pass 2**31

    acc = tl.full((BLOCK_Q, BLOCK_N), 0.0, tl.float32)
    for d0 in range(0, D, BLOCK_D):
        d = d0 + dims
        d_ok = d < D
        q_off = rows64[:, None] * stride_q + d[None, :]
        q_mask = row_ok[:, None] & d_ok[None, :]
        c_tile = tl.load(  # [BLOCK_D, BLOCK_N]: the corpus tile already transposed
            c_ptr + cols64[None, :] * stride_c + d[:, None],
            mask=col_ok[None, :] & d_ok[:, None],
            other=0.0,
        )
        q_tile = tl.load(q_hi_ptr + q_off, mask=q_mask, other=0.0)
        if DOT_FP32:  # exact: a product of two half-precision numbers fits in fp32
            c_tile = c_tile.to(tl.float32)
            q_tile = q_tile.to(tl.float32)
        acc = tl.dot(q_tile, c_tile, acc, input_precision=PRECISION)
        if HAS_LO:
            q_tile = tl.load(q_lo_ptr + q_off, mask=q_mask, other=0.0)
            if DOT_FP32:
                q_tile = q_tile.to(tl.float32)
            acc = tl.dot(q_tile, c_tile, acc, input_precision=PRECISION)

    keep = col_ok
    if HAS_VALID:
        keep = keep & (tl.load(valid_ptr + cols, mask=col_ok, other=0) != 0)
    scores = tl.where(keep[None, :], acc, float("-inf"))

    # K rounds of "take the row maximum, lowest column among equals, then knock it out".
    out_base = rows64 * stride_out + pid_n * K
    for j in range(K):
        best = tl.reduce(scores, 1, _ROW_MAX)
        at_best = scores == best[:, None]
        best_col = tl.reduce(tl.where(at_best, cols[None, :], 2147483647), 1, _ROW_MIN)
        found = best > float("-inf")
        tl.store(out_s_ptr + out_base + j, best, mask=row_ok)
        tl.store(out_i_ptr + out_base + j, tl.where(found, best_col, -1), mask=row_ok)
        scores = tl.where(cols[None, :] == best_col[:, None], float("-inf"), scores)


# The compiled kernel's combine functions: triton.language's own, rebuilt here for compilation.
def _max_combine(a, b):
    return tl.maximum(a, b)


def _min_combine(a, b):
    return tl.minimum(a, b)


@functools.cache
def _kernel(interpret: bool) -> Any:
    """The kernel, run by Triton's interpreter (``interpret``) or compiled.

    The argument alone picks the mode; ``triton.jit`` would read ``TRITON_INTERPRET`` instead.
    """
    if interpret:
        from triton.runtime.interpreter import InterpretedFunction

        # The interpreter reduces with numpy when handed triton.language's own max/min combine
        # functions, which it recognises without calling them (so their mode does not matter);
        # any other combine function it calls element by element, far too slowly.
        make: Any = InterpretedFunction
        std = tl.standard
        combine = {  # a Triton without these names gets the slow, element-by-element combine
            "_ROW_MAX": getattr(std, "_elementwise_max", None) or InterpretedFunction(_max_combine),
            "_ROW_MIN": getattr(std, "_elementwise_min", None) or InterpretedFunction(_min_combine),
        }
    else:
        make = JITFunction
        combine = {"_ROW_MAX": JITFunction(_max_combine), "_ROW_MIN": JITFunction(_min_combine)}
    body = _block_topk_body
    fn = types.FunctionType(body.__code__, {**body.__globals__, **combine}, body.__name__)
    fn.__qualname__ = body.__qualname__
    fn.__annotations__ = dict(body.__annotations__)  # Triton finds tl.constexpr parameters here
    return make(fn)


def _next_pow2(x: int) -> int:
    return 1 << max(0, int(x) - 1).bit_length()


def _split_queries(
    queries: torch.Tensor, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Queries as ``q_hi + q_lo`` in ``dtype`` (``q_lo`` None when ``q_hi`` is already exact)."""
    q32 = queries.to(torch.float32)
    if dtype == torch.float32 or queries.dtype == dtype:
        return q32.to(dtype).contiguous(), None
    if dtype == torch.float16 and bool(q32.abs().amax() > torch.finfo(dtype).max):
        raise ValidationError("queries exceed the float16 range of the corpus")
    q_hi = q32.to(dtype)
    q_lo = (q32 - q_hi.to(torch.float32)).to(dtype)
    return q_hi.contiguous(), q_lo.contiguous()


def block_topk_partials(
    queries: torch.Tensor,
    corpus: torch.Tensor,
    k: int,
    valid: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-block top-``k`` candidates of ``queries @ corpus.T``, computed by the fused kernel.

    Parameters
    ----------
    queries : torch.Tensor
        ``[B, D]`` floating point, on the same device as ``corpus``.
    corpus : torch.Tensor
        ``[N, D]`` float32, float16 or bfloat16 with unit stride along ``D``.
    k : int
        Candidates kept per (query, corpus block), ``1 <= k <= MAX_TRITON_K``.
    valid : torch.Tensor, optional
        ``[N]`` bool; False rows are never candidates.

    Returns
    -------
    scores : torch.Tensor
        ``[B, n_blocks * k]`` float32; within a block descending, ties by lower index;
        ``-inf`` where a block had fewer than ``k`` rows left.
    indices : torch.Tensor
        ``[B, n_blocks * k]`` int64 corpus rows; ``-1`` where the score is ``-inf``.
    """
    n, d = corpus.shape
    b = queries.shape[0]
    if corpus.stride(1) != 1:
        corpus = corpus.contiguous()
    q_hi, q_lo = _split_queries(queries, corpus.dtype)
    block_n = max(128, _next_pow2(k))
    block_q = 16 if block_n > 128 else min(64, max(16, _next_pow2(b)))
    block_d = min(64, max(16, _next_pow2(d)))
    n_blocks = triton.cdiv(n, block_n)
    out_s = torch.empty((b, n_blocks * k), dtype=torch.float32, device=corpus.device)
    out_i = torch.empty((b, n_blocks * k), dtype=torch.int32, device=corpus.device)
    valid_u8 = valid.to(torch.uint8).contiguous() if valid is not None else corpus
    grid = (triton.cdiv(b, block_q), n_blocks)
    # The interpreter's tl.dot multiplies bfloat16 as raw uint16 bits (Triton 3.x), so there
    # the half-precision tiles go through an fp32 dot, with the same exact products.
    dot_fp32 = triton_interpret() and corpus.dtype == torch.bfloat16
    _kernel(triton_interpret())[grid](
        q_hi,
        q_lo if q_lo is not None else q_hi,
        corpus,
        valid_u8,
        out_s,
        out_i,
        b,
        n,
        d,
        q_hi.stride(0),
        corpus.stride(0),
        out_s.stride(0),
        HAS_LO=q_lo is not None,
        HAS_VALID=valid is not None,
        DOT_FP32=dot_fp32,
        PRECISION="ieee" if dot_fp32 or corpus.dtype == torch.float32 else None,
        K=k,
        BLOCK_Q=block_q,
        BLOCK_N=block_n,
        BLOCK_D=block_d,
        num_warps=4 if block_q * block_n <= 4096 else 8,  # the fp32 score tile lives in registers
    )
    return out_s, out_i.to(torch.int64)
