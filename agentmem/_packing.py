"""Many short texts in one row of a batch, each read as if alone ("sequence packing").

A padded batch of short texts (entity names, facts, chat turns) spends much of a CPU's time
on per-sequence work and padding. Packed, the token ids of several texts (each with its own
``[CLS]`` and ``[SEP]``) share one row of up to ``room`` tokens; position ids restart at each
text, and a block-diagonal attention mask lets a token see only its own text's tokens. Every
text then gets the token states it gets alone, and its vector is the normalised mean of them,
as a mean-pooling sentence-transformers model computes it.

:func:`pack` chooses the rows (pure), :func:`packed_batch` builds one batch's tensors from
token ids, :func:`embed_packed` runs it through a Hugging Face encoder, and
:func:`embed_packed_reference` reads each text alone, unpadded; they agree to float32
rounding (tests). The encoder must accept ``position_ids`` and a 4-D additive attention mask,
as BERT-family models do; :class:`~agentmem.embedding.SentenceTransformerEmbedder` checks that
on probe texts before it packs.

>>> pack([5, 3, 2, 4], room=8)
[[2, 1], [3], [0]]
>>> b = packed_batch([[101, 7, 102], [101, 102]], room=8)
>>> b.input_ids.tolist(), b.position_ids.tolist(), b.segments.tolist()
([[101, 102, 101, 7, 102]], [[0, 1, 0, 1, 2]], [[1, 1, 0, 0, 0]])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PackedBatch", "embed_packed", "embed_packed_reference", "pack", "packed_batch", "positions", "runs", "unpadded"]


def runs(lengths: Sequence[int], room: int) -> list[list[int]]:
    """Greedy runs of consecutive positions whose lengths sum to at most ``room`` (a position
    longer than ``room`` is a run alone)."""
    out: list[list[int]] = []
    used = room + 1
    for i, n in enumerate(lengths):
        if out and used + n <= room:
            out[-1].append(i)
            used += n
        else:
            out.append([i])
            used = n
    return out


def pack(lengths: Sequence[int], room: int) -> list[list[int]]:
    """Rows of positions: :func:`runs` over the positions sorted by length (ties by
    position), so each row holds texts of similar length. Every position is in one row."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [[order[j] for j in run] for run in runs([lengths[i] for i in order], room)]


def unpadded(features: Any) -> list[list[int]]:
    """Each row's token ids without its padding, from a tokenizer's ``input_ids`` and
    ``attention_mask`` (tensors)."""
    return [row[mask.bool()].tolist() for row, mask in zip(features["input_ids"], features["attention_mask"], strict=True)]


def positions(lengths: Sequence[int], room: int) -> int:
    """Token positions (rows times the longest row) a packed batch of ``lengths`` computes;
    padded, the same texts cost ``len(lengths) * max(lengths)``."""
    rows = pack(lengths, room)
    return len(rows) * max((sum(lengths[i] for i in row) for row in rows), default=0)


@dataclass(frozen=True)
class PackedBatch:
    """One forward pass over packed rows (CPU tensors, ``[rows, width]``).

    ``segments`` numbers each token by the text it belongs to (the text's position in the
    ``ids`` given to :func:`packed_batch`), ``-1`` for padding.
    """

    input_ids: Any
    position_ids: Any
    segments: Any
    count: int  # texts in the batch

    def pin_memory(self) -> PackedBatch:
        return PackedBatch(self.input_ids.pin_memory(), self.position_ids.pin_memory(),
                           self.segments.pin_memory(), self.count)


def packed_batch(ids: Sequence[Sequence[int]], room: int) -> PackedBatch:
    """The rows :func:`pack` makes of ``ids`` (each a text's token ids, special tokens
    included), padded to the longest row."""
    import torch

    rows = pack([len(x) for x in ids], room)
    width = max((sum(len(ids[i]) for i in row) for row in rows), default=0)
    input_ids = torch.zeros((len(rows), width), dtype=torch.long)
    position_ids = torch.zeros((len(rows), width), dtype=torch.long)
    segments = torch.full((len(rows), width), -1, dtype=torch.long)
    for r, row in enumerate(rows):
        at = 0
        for i in row:
            n = len(ids[i])
            input_ids[r, at: at + n] = torch.tensor(ids[i], dtype=torch.long)
            position_ids[r, at: at + n] = torch.arange(n)
            segments[r, at: at + n] = i
            at += n
    return PackedBatch(input_ids, position_ids, segments, len(ids))


def embed_packed(encoder: Any, batch: PackedBatch) -> Any:
    """``[count, D]`` unit float32 vectors (a torch tensor on the encoder's device) of the
    texts of ``batch``, each text's normalised mean token state; ``encoder`` is a Hugging Face
    model returning ``last_hidden_state``."""
    import torch

    device = encoder.device
    segments = batch.segments.to(device, non_blocking=True)
    same = segments[:, :, None] == segments[:, None, :]  # padding sees padding: no empty row
    dtype = next(encoder.parameters()).dtype
    mask = torch.zeros(same.shape, dtype=dtype, device=device).masked_fill_(~same, torch.finfo(dtype).min)
    with torch.inference_mode():
        states = encoder(
            input_ids=batch.input_ids.to(device, non_blocking=True),
            attention_mask=mask[:, None],
            position_ids=batch.position_ids.to(device, non_blocking=True),
            token_type_ids=torch.zeros_like(segments),
        ).last_hidden_state.float()
        flat = states.reshape(-1, states.shape[-1])
        owner = segments.reshape(-1)
        keep = owner >= 0
        sums = torch.zeros((batch.count, flat.shape[1]), dtype=torch.float32, device=device)
        sums.index_add_(0, owner[keep], flat[keep])
        counts = torch.bincount(owner[keep], minlength=batch.count).clamp_(min=1)
        return torch.nn.functional.normalize(sums / counts[:, None], dim=1)


def embed_packed_reference(encoder: Any, ids: Sequence[Sequence[int]]) -> np.ndarray:
    """:func:`embed_packed` of ``ids``, one text at a time, unpadded and unmasked."""
    import torch

    rows = []
    with torch.inference_mode():
        for x in ids:
            t = torch.tensor([list(x)], dtype=torch.long, device=encoder.device)
            states = encoder(input_ids=t, attention_mask=torch.ones_like(t),
                             token_type_ids=torch.zeros_like(t)).last_hidden_state.float()[0]
            rows.append(torch.nn.functional.normalize(states.mean(0), dim=0).cpu().numpy())
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), dtype=np.float32)
