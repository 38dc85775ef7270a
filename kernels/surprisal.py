"""Token surprisal ``-log p(x_t | x_<t)`` without a full ``[T, V]`` log-softmax.

A language model's vocabulary is large (Gemma 3: 262,144 entries), so the log-softmax of a
long stream's logits would be a second ``[T, V]`` float32 tensor (over 1 GiB at T = 1,024).
The surprisal of one token only needs two numbers per row,

.. math::

    s_t = -\\log p(x_t \\mid x_{<t}) = \\operatorname{logsumexp}_v z_{t,v} - z_{t,x_t},

so :func:`token_surprisal` streams over vocabulary chunks with an online log-sum-exp (the
running maximum is rescaled as in Milakov & Gimelshein 2018, "Online normalizer calculation for
softmax") and gathers the target logit; it accumulates in float32 whatever the logits' dtype.
:func:`token_surprisal_reference` is the readable two-liner it is tested against.
:func:`linear_surprisal` goes one step further and never materialises the logits either: it
multiplies hidden states by chunks of the output embedding (the "fused linear cross-entropy"
trick), which is what the local LM loader uses.

>>> import torch
>>> logits = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
>>> token_surprisal(logits, torch.tensor([1, 0])).round(decimals=4)
tensor([0.6931, 0.1269])
"""

from __future__ import annotations

import torch

from agentmem.errors import ValidationError

__all__ = ["linear_surprisal", "token_surprisal", "token_surprisal_reference"]

DEFAULT_CHUNK = 16_384
# Vocabulary rows per step of linear_surprisal: a [T, 4096] float32 block of a 512-token page
# (8 MiB) stays in cache between the matmul and the log-sum-exp (timings: docs/benchmarks.md).
LINEAR_CHUNK = 4_096


def _check(rows: int, vocab: int, targets: torch.Tensor) -> None:
    if targets.dim() != 1 or targets.shape[0] != rows:
        raise ValidationError(f"targets must be 1-D with {rows} entries, got shape {tuple(targets.shape)}")
    if rows and (int(targets.min()) < 0 or int(targets.max()) >= vocab):
        raise ValidationError(f"target ids must lie in [0, {vocab})")


def token_surprisal_reference(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Readable reference: ``-log_softmax(logits)[t, targets[t]]`` in float32.

    Parameters
    ----------
    logits : torch.Tensor
        ``[T, V]``; row ``t`` is the model's prediction for ``targets[t]``.
    targets : torch.Tensor
        ``[T]`` integer token ids.

    Returns
    -------
    torch.Tensor
        ``[T]`` float32 surprisal in nats.
    """
    _check(logits.shape[0], logits.shape[1], targets)
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -logp.gather(1, targets.long().unsqueeze(1)).squeeze(1)


def token_surprisal(
    logits: torch.Tensor, targets: torch.Tensor, *, chunk: int = DEFAULT_CHUNK
) -> torch.Tensor:
    """Surprisal of each target token, streaming over vocabulary chunks.

    Computes :math:`s_t = \\operatorname{logsumexp}_v z_{t,v} - z_{t,x_t}` with an online
    log-sum-exp: for each chunk :math:`c`, :math:`m' = \\max(m, \\max_{v \\in c} z_v)` and
    :math:`l' = l\\,e^{m - m'} + \\sum_{v \\in c} e^{z_v - m'}`; the result is
    :math:`m + \\log l - z_{x_t}`. Peak extra memory is ``[T, chunk]`` float32 instead of
    ``[T, V]``.

    Parameters
    ----------
    logits : torch.Tensor
        ``[T, V]`` logits (any float dtype, any device); row ``t`` predicts ``targets[t]``.
        For a causal LM over ids ``x`` that is ``token_surprisal(z[:-1], x[1:])``.
    targets : torch.Tensor
        ``[T]`` integer token ids.
    chunk : int
        Vocabulary entries per step.

    Returns
    -------
    torch.Tensor
        ``[T]`` float32 surprisal in nats, on the logits' device.

    Raises
    ------
    ValidationError
        Shapes disagree, a target id is out of range, or ``chunk < 1``.
    """
    if chunk < 1:
        raise ValidationError("chunk must be >= 1")
    rows, vocab = logits.shape
    _check(rows, vocab, targets)
    idx = targets.long().to(logits.device).unsqueeze(1)
    target_logit = logits.gather(1, idx).squeeze(1).float()
    m = torch.full((rows,), float("-inf"), device=logits.device)
    acc = torch.zeros(rows, device=logits.device)
    for start in range(0, vocab, chunk):
        block = logits[:, start : start + chunk].float()
        m_new = torch.maximum(m, block.amax(dim=1))
        acc = acc * torch.exp(m - m_new) + torch.exp(block - m_new.unsqueeze(1)).sum(dim=1)
        m = m_new
    return m + torch.log(acc) - target_logit


def linear_surprisal(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    *,
    softcap: float | None = None,
    chunk: int = LINEAR_CHUNK,
) -> torch.Tensor:
    """Surprisal from final hidden states and the output embedding, logits never materialised.

    ``z = h W^T`` (optionally soft-capped, ``z = c·tanh(z/c)`` as Gemma 2 does) is computed one
    vocabulary chunk at a time and folded into the same online log-sum-exp as
    :func:`token_surprisal`; ``linear_surprisal(h, W, x)`` equals
    ``token_surprisal(h @ W.T, x)``.

    Parameters
    ----------
    hidden : torch.Tensor
        ``[T, H]`` final (normed) hidden states; row ``t`` predicts ``targets[t]``.
    weight : torch.Tensor
        ``[V, H]`` output embedding (``lm_head.weight``).
    targets : torch.Tensor
        ``[T]`` token ids.
    softcap : float, optional
        Final-logit soft cap of the model, if any.
    chunk : int
        Vocabulary rows of ``weight`` per step.

    Returns
    -------
    torch.Tensor
        ``[T]`` float32 surprisal in nats.
    """
    if chunk < 1:
        raise ValidationError("chunk must be >= 1")
    rows = hidden.shape[0]
    vocab = weight.shape[0]
    _check(rows, vocab, targets)
    h = hidden.to(weight.dtype)

    def cap(z: torch.Tensor) -> torch.Tensor:
        z = z.float()
        return softcap * torch.tanh(z / softcap) if softcap else z

    idx = targets.long().to(hidden.device)
    target_logit = cap((h * weight[idx]).sum(dim=1))
    m = torch.full((rows,), float("-inf"), device=hidden.device)
    acc = torch.zeros(rows, device=hidden.device)
    for start in range(0, vocab, chunk):
        block = cap(h @ weight[start : start + chunk].T)  # a fresh tensor: updated in place
        m_new = torch.maximum(m, block.amax(dim=1))
        acc = acc * torch.exp(m - m_new) + block.sub_(m_new.unsqueeze(1)).exp_().sum(dim=1)
        m = m_new
    return m + torch.log(acc) - target_logit
