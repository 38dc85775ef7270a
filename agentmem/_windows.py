"""Several texts read as one sequence by a sentence-transformers model, one vector per text.

A *window* is ``(context, texts)``: the model reads ``[CLS] context… texts… [SEP]`` as one
sequence, and each text of ``texts`` gets the mean of its own tokens' final states,
normalised ("late chunking", Günther et al. 2024, *Late Chunking: Contextual Chunk Embeddings
Using Long-Context Embedding Models*). The context texts are read but get no vector. A text's
vector thus carries what surrounds it: a reply ("Yes, last Tuesday!") is read with the
question it answers.

:func:`embed_windows` pads windows of similar length into batches; :func:`embed_windows_reference`
runs each window alone, unpadded. They agree to float32 rounding (tests). Only models whose
pipeline is a transformer followed by mean pooling (and optionally normalisation) qualify
(:func:`reads_windows`): their vector of one text is, by construction, the mean of token states.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["WINDOW_KEY", "Window", "embed_windows", "embed_windows_reference", "parse_window_keys", "reads_windows",
           "window_ids", "window_keys"]

WINDOW_KEY = "\x00window\x00"
"""Prefix of the key that names one text read in a window, in a write plan's list of texts
(no rendered turn starts with a NUL character)."""

Window = tuple[Sequence[str], Sequence[str]]
"""``(context, texts)``: texts read before, without a vector of their own; texts to embed."""


def window_keys(window: Window) -> list[str]:
    """One key per text of ``window``: the string a write plan lists, and a given-vectors
    mapping is keyed by, for that text's vector read in this window."""
    context, texts = [list(x) for x in window]
    return [WINDOW_KEY + json.dumps([context, texts, i]) for i in range(len(texts))]


def parse_window_keys(keys: Sequence[str]) -> tuple[list[int], list[Window]]:
    """Split a write plan's texts: the positions of plain texts, and the distinct windows that
    window keys name (in order of first mention)."""
    plain: list[int] = []
    windows: dict[str, Window] = {}
    for pos, key in enumerate(keys):
        if not key.startswith(WINDOW_KEY):
            plain.append(pos)
            continue
        context, texts, _ = json.loads(key[len(WINDOW_KEY):])
        windows.setdefault(json.dumps([context, texts]), (context, texts))
    return plain, list(windows.values())


def reads_windows(model: Any) -> bool:
    """Whether ``model`` (a ``SentenceTransformer``) is a transformer then mean pooling, with a
    tokenizer that marks a sequence's start and end (``[CLS]``, ``[SEP]``)."""
    try:
        names = [type(m).__name__ for m in model]
    except TypeError:
        return False
    if names[:2] != ["Transformer", "Pooling"] or any(n != "Normalize" for n in names[2:]):
        return False
    tokenizer = getattr(model, "tokenizer", None)
    specials = all(getattr(tokenizer, f, None) is not None for f in ("cls_token_id", "sep_token_id"))
    return getattr(model[1], "pooling_mode", None) == "mean" and specials


def window_ids(tokenizer: Any, window: Window, max_len: int) -> tuple[list[int], list[tuple[int, int]]]:
    """Token ids of one window (special tokens included, cut to ``max_len``) and, per text of
    ``window[1]``, its ``[start, end)`` token span; a text cut away entirely keeps the last
    token before ``[SEP]`` so that its span is never empty."""
    context, texts = window
    pieces = tokenizer([*context, *texts], add_special_tokens=False, verbose=False)["input_ids"] if (context or texts) else []
    ids = [tokenizer.cls_token_id]
    spans: list[tuple[int, int]] = []
    for k, piece in enumerate(pieces):
        start = len(ids)
        ids.extend(piece)
        if k >= len(context):
            spans.append((start, len(ids)))
    ids = ids[: max_len - 1] + [tokenizer.sep_token_id]
    last = len(ids) - 1  # [SEP]
    spans = [(min(a, last - 1), max(min(b, last), min(a, last - 1) + 1)) for a, b in spans]
    return ids, spans


def _states(model: Any, batch: list[list[int]]) -> Any:
    import torch

    width = max(len(x) for x in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, x in enumerate(batch):
        ids[i, : len(x)] = torch.tensor(x)
        mask[i, : len(x)] = 1
    device = model.device
    with torch.inference_mode():
        out = model[0]({"input_ids": ids.to(device), "attention_mask": mask.to(device)})
    return out["token_embeddings"].float().cpu()


def _pool(states: Any, spans: list[tuple[int, int]]) -> np.ndarray:
    import torch

    if not spans:
        return np.zeros((0, int(states.shape[-1])), dtype=np.float32)
    rows = torch.stack([states[a:b].mean(0) for a, b in spans])
    return torch.nn.functional.normalize(rows, dim=1).numpy().astype(np.float32, copy=False)


def _joined(rows: list[np.ndarray], model: Any) -> np.ndarray:
    if rows:
        return np.ascontiguousarray(np.concatenate(rows), dtype=np.float32)
    return np.zeros((0, int(model.get_sentence_embedding_dimension())), dtype=np.float32)


def embed_windows(model: Any, windows: Sequence[Window], *, batch_size: int = 32, tokenizer: Any = None) -> np.ndarray:
    """``[n, D]`` unit vectors of every window's texts, in order (windows of similar token
    length share a padded batch); ``tokenizer`` defaults to the model's."""
    max_len = int(getattr(model, "max_seq_length", None) or 512)
    prepared = [window_ids(tokenizer or model.tokenizer, w, max_len) for w in windows]
    rows: list[np.ndarray] = [np.zeros(0)] * len(prepared)
    order = sorted(range(len(prepared)), key=lambda i: len(prepared[i][0]))
    for b in range(0, len(order), batch_size):
        chunk = order[b: b + batch_size]
        states = _states(model, [prepared[i][0] for i in chunk])
        for row, i in enumerate(chunk):
            rows[i] = _pool(states[row], prepared[i][1])
    return _joined(rows, model)


def embed_windows_reference(model: Any, windows: Sequence[Window]) -> np.ndarray:
    """:func:`embed_windows`, one window at a time and without padding."""
    max_len = int(getattr(model, "max_seq_length", None) or 512)
    rows = [_pool(_states(model, [ids])[0], spans)
            for ids, spans in (window_ids(model.tokenizer, w, max_len) for w in windows)]
    return _joined(rows, model)
