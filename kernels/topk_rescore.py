"""Exact top-k over a low-precision corpus: scan the bf16/fp16 rows, rescore candidates in fp32.

A corpus stored as bfloat16 halves the bytes a scan reads, but its rows are the fp32 vectors
rounded to 8 significant bits, so a plain bf16 search ranks the *rounded* vectors. Here the
rounded rows only nominate candidates; the answer is computed from the fp32 rows and is
certified to be the top-``k`` of the fp32 corpus:

1. ``bound`` (from :func:`rescoring_bound`) is, per unit query, an upper bound of
   ``|approx_r - q . x_r|`` over every row ``r``, where ``approx_r`` is the score the scan
   computes for the stored row (storage rounding ``||x_r - bf16(x_r)||`` plus the scan's own
   arithmetic). With ``E = ||q|| * bound`` a row's exact score lies within ``E`` of its
   approximate one.
2. The scan (:func:`agentmem.kernels.topk.topk`, Triton on CUDA) returns the ``w`` best rows by
   approximate score; every other row has ``approx <= a_w`` (the ``w``-th), so its exact score
   is at most ``a_w + E``.
3. The ``w`` candidates are rescored in fp32 from ``exact`` (host or device memory). If the
   ``k``-th exact score is above ``a_w + E`` no row outside the candidates can reach or tie
   it, and the candidates' top-``k`` (ties ordered by index) is the fp32 answer. Queries
   for which that does not hold are scanned again with ``4 * w`` candidates, until it holds
   or every valid row is a candidate.

>>> c = torch.tensor([[1.0, 0.0], [0.999, 0.001], [0.0, 1.0]])
>>> low = c.to(torch.bfloat16)  # rows 0 and 1 round to the same bf16 vector
>>> topk_rescored(torch.tensor([[1.0, 0.0]]), low, c, 1, bound=rescoring_bound(c, low))[1]
tensor([[0]])
"""

from __future__ import annotations

import torch

from agentmem.errors import ValidationError
from agentmem.kernels.topk import _empty, _order_ties_by_index, _validate, topk

__all__ = ["rescoring_bound", "topk_rescored"]

_FIRST_EXTRA = 16  # first scan: 2k + 16 candidates per query
_WIDEN = 4


def _scan_error(dim: int) -> float:
    """Relative error of a scan score ``q . bf16(x)`` against its real value, per ``||q|| ||x||``.

    The split query ``q_hi + q_lo`` misses ~2**-16 of ``q`` (Triton's half-precision path);
    fp32 accumulation of ``dim`` products is within ``dim * 2**-24``; both are doubled for the
    different summation orders of the CPU, cuBLAS and tensor-core paths.
    """
    return 2.0**-15 + dim * 2.0**-23


def rescoring_bound(exact: torch.Tensor, stored: torch.Tensor) -> float:
    """Per unit query, an upper bound of ``|scan score of stored_r - q . exact_r|`` over the rows.

    Parameters
    ----------
    exact : torch.Tensor
        ``[N, D]`` float32 rows.
    stored : torch.Tensor
        ``[N, D]`` the same rows as stored for the scan (bfloat16 / float16), any device.

    Returns
    -------
    float
        ``max_r (||exact_r - stored_r|| + s * ||stored_r||)`` rounded up, ``s`` the scan's
        relative error; 0.0 for no rows. A bound of a union of row sets is the max of theirs.
    """
    if exact.shape != stored.shape or exact.ndim != 2:
        raise ValidationError(f"exact {tuple(exact.shape)} and stored {tuple(stored.shape)} must be equal 2-D shapes")
    if exact.shape[0] == 0:
        return 0.0
    low = stored.to(exact.device, torch.float64)
    diff = torch.linalg.vector_norm(exact.to(torch.float64) - low, dim=1)
    worst = diff + _scan_error(exact.shape[1]) * torch.linalg.vector_norm(low, dim=1)
    return float(worst.max()) * (1 + 2.0**-20)


def _rescore(q32: torch.Tensor, exact: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
    """fp32 scores ``q32[i] . exact[cand[i, j]]``, computed where ``q32`` lives."""
    rows = exact.index_select(0, cand.flatten().to(exact.device)).to(q32.device, non_blocking=True)
    return torch.bmm(rows.view(*cand.shape, -1), q32.unsqueeze(2)).squeeze(2)


def topk_rescored(
    queries: torch.Tensor,
    corpus: torch.Tensor,
    exact: torch.Tensor,
    k: int,
    *,
    bound: float,
    valid: torch.Tensor | None = None,
    width: int | None = None,
    method: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` rows of the fp32 corpus ``exact``, found by scanning its low-precision copy.

    Parameters
    ----------
    queries : torch.Tensor
        ``[B, D]`` on ``corpus``'s device.
    corpus : torch.Tensor
        ``[N, D]`` rows as stored for the scan (bfloat16, float16 or float32).
    exact : torch.Tensor
        ``[N, D]`` float32 rows (on the host or the device); the answer is theirs.
    k : int
        Rows per query, ``k >= 1``.
    bound : float
        At least :func:`rescoring_bound` of ``(exact, corpus)``.
    valid : torch.Tensor, optional
        ``[N]`` bool on ``corpus``'s device; False rows are never returned.
    width : int, optional
        Candidates of the first scan (default ``2k + 16``); more are scanned where needed.
    method : {"auto", "torch", "triton"}
        The scan's method (:func:`agentmem.kernels.topk.topk`).

    Returns
    -------
    scores, indices : torch.Tensor
        ``[B, k']`` fp32 scores of ``exact`` and int64 rows, ``k' = min(k, valid rows)``,
        best first, ties by lower index: :func:`~agentmem.kernels.topk.topk_reference` of
        ``exact`` up to fp32 rounding of the scores.

    Raises
    ------
    ValidationError
        Bad shapes, dtypes, ``k``, ``valid``, ``width`` or ``bound``.
    """
    n_valid = _validate(queries, corpus, k, valid)
    if exact.shape != corpus.shape or exact.dtype != torch.float32:
        raise ValidationError(f"exact must be float32 of the corpus' shape {tuple(corpus.shape)}")
    if not bound >= 0.0:
        raise ValidationError(f"bound must be >= 0, got {bound!r}")
    if width is not None and width < 1:
        raise ValidationError(f"width must be >= 1, got {width}")
    q32 = queries.to(torch.float32)
    b, k_out = q32.shape[0], min(k, n_valid)
    if b == 0 or k_out == 0:
        return _empty(b, k_out, corpus.device)
    slack = torch.linalg.vector_norm(q32.double(), dim=1) * bound  # float64: no rounding in the test below
    out_s, out_i = _empty(b, k_out, corpus.device)
    todo = torch.arange(b, device=corpus.device)
    w = min(n_valid, max(k_out, width if width is not None else 2 * k_out + _FIRST_EXTRA))
    while todo.numel():
        approx, cand = topk(q32[todo], corpus, w, valid=valid, method=method)
        scores, rows = _order_ties_by_index(_rescore(q32[todo], exact, cand), cand)
        scores, rows = scores[:, :k_out], rows[:, :k_out]
        if w >= n_valid:  # every valid row was a candidate
            done = torch.ones(todo.shape, dtype=torch.bool, device=todo.device)
        else:
            done = scores[:, -1].double() > approx[:, -1].double() + slack[todo]
        out_s[todo[done]], out_i[todo[done]] = scores[done], rows[done]
        todo = todo[~done]
        w = min(n_valid, _WIDEN * w)
    return out_s, out_i
