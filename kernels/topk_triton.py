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

The kernel is jitted on first use rather than at import, so that ``TRITON_INTERPRET=1`` set
after this module was imported (as the tests do) still takes effect; it is cached per mode.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import triton
import triton.language as tl

from agentmem.errors import ValidationError
from agentmem.kernels.device import triton_interpret

__all__ = ["MAX_TRITON_K", "block_topk_partials"]

MAX_TRITON_K = 256  # per-block top-k is K passes of max/argmin over the tile: keep K small


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

    acc = tl.zeros((BLOCK_Q, BLOCK_N), dtype=tl.float32)
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
        best = tl.max(scores, axis=1)
        at_best = scores == best[:, None]
        best_col = tl.min(tl.where(at_best, cols[None, :], 2147483647), axis=1)
        found = best > float("-inf")
        tl.store(out_s_ptr + out_base + j, best, mask=row_ok)
        tl.store(out_i_ptr + out_base + j, tl.where(found, best_col, -1), mask=row_ok)
        scores = tl.where(cols[None, :] == best_col[:, None], float("-inf"), scores)


@functools.cache
def _kernel(interpret: bool) -> Any:
    # ``interpret`` is only the cache key: triton.jit reads TRITON_INTERPRET itself.
    del interpret
    return triton.jit(_block_topk_body)


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
