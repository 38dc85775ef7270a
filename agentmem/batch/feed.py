"""Keep the embedding device fed: stages on background threads joined by bounded queues.

:func:`pipelined` runs ``items`` through a chain of stages, each on its own thread, with at
most ``depth`` finished items waiting between two stages, and yields the last stage's results
in input order. Stage ``i`` works on item ``j + 1`` while stage ``i + 1`` works on item ``j``
and the consumer on item ``j - 1``. An exception in a stage is raised from the consumer's
next ``next()`` (after the results of the items before it), and the other threads stop.

:func:`embed_batches` is the indexer's embedding pass built on it: texts sorted by length
(as ``encode`` does, so a batch pads little), tokenised on one thread into pinned host
memory, run on the device from another (the copy to the device is asynchronous), and the
vectors put back in the input order. Its output is what ``embedder.embed(texts)`` returns.
An embedder without :meth:`tokenize` / :meth:`embed_tokens` is called in batches on the
device thread.

>>> list(pipelined(range(5), lambda x: x * 10, lambda x: x + 1))
[1, 11, 21, 31, 41]
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from agentmem._windows import parse_window_keys, window_keys
from agentmem.errors import ValidationError

__all__ = ["embed_batches", "embed_planned", "pipelined"]

_DONE = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put ``item`` unless the pipeline is being torn down (then False)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue[Any], stop: threading.Event) -> Any:
    while not stop.is_set():
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
    return _DONE


def _source(items: Iterable[Any], out: queue.Queue[Any], stop: threading.Event) -> None:
    try:
        for item in items:
            if not _put(out, item, stop):
                return
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
        _put(out, _Failed(exc), stop)
        return
    _put(out, _DONE, stop)


def _stage(fn: Callable[[Any], Any], inp: queue.Queue[Any], out: queue.Queue[Any], stop: threading.Event) -> None:
    while True:
        item = _get(inp, stop)
        if item is _DONE or isinstance(item, _Failed):
            _put(out, item, stop)
            return
        try:
            result = fn(item)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            _put(out, _Failed(exc), stop)
            return
        if not _put(out, result, stop):
            return


def pipelined(items: Iterable[Any], *stages: Callable[[Any], Any], depth: int = 2) -> Iterator[Any]:
    """``stages[-1](...stages[0](item))`` for each item, in order, each stage on its own thread.

    Parameters
    ----------
    items
        Read on a thread of its own too (a reader or generator may do work).
    stages
        One-argument functions; at least one.
    depth
        Finished items allowed to wait between two stages (bounds the memory in flight).

    Yields
    ------
    The results, in the order of ``items``.

    Raises
    ------
    ValidationError
        No stage, or ``depth < 1``.
    BaseException
        Whatever a stage (or iterating ``items``) raised, at the point of the item that failed.
    """
    if not stages or depth < 1:
        raise ValidationError("pipelined needs at least one stage and depth >= 1")
    stop = threading.Event()
    queues: list[queue.Queue[Any]] = [queue.Queue(maxsize=depth) for _ in range(len(stages) + 1)]
    threads = [threading.Thread(target=_source, args=(items, queues[0], stop), daemon=True,
                                name="agentmem-feed-source")]
    threads += [threading.Thread(target=_stage, args=(fn, queues[i], queues[i + 1], stop), daemon=True,
                                 name=f"agentmem-feed-{i}") for i, fn in enumerate(stages)]
    for t in threads:
        t.start()
    try:
        while True:
            got = queues[-1].get()
            if got is _DONE:
                return
            if isinstance(got, _Failed):
                raise got.exc
            yield got
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5.0)


def embed_batches(embedder: Any, texts: Sequence[str], *, batch_size: int | None = None,
                  depth: int = 2) -> np.ndarray:
    """``[len(texts), D]`` float32 vectors of ``texts``: ``embedder.embed(texts)``, pipelined.

    Parameters
    ----------
    embedder
        An :class:`~agentmem.protocols.Embedder`; with ``tokenize`` and ``embed_tokens``
        (:class:`~agentmem.embedding.SentenceTransformerEmbedder`) tokenisation runs on its
        own thread, ahead of the device.
    batch_size
        Texts per forward pass; default the embedder's ``batch_size`` (else 128).
    depth
        Tokenised batches allowed to wait for the device.
    """
    size = batch_size or int(getattr(embedder, "batch_size", 128))
    if size < 1:
        raise ValidationError(f"batch_size must be >= 1, got {size}")
    if len(texts) == 0:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    order = np.argsort([-len(t) for t in texts])  # sentence-transformers' encode order
    batches = [[texts[i] for i in order[s : s + size]] for s in range(0, len(texts), size)]
    tokenize = getattr(embedder, "tokenize", None)
    embed_tokens = getattr(embedder, "embed_tokens", None)
    if callable(tokenize) and callable(embed_tokens):
        parts = list(pipelined(batches, tokenize, embed_tokens, depth=depth))
    else:
        parts = list(pipelined(batches, embedder.embed, depth=depth))
    out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
    out[order] = np.concatenate(parts)
    return out


def embed_planned(embedder: Any, texts: Sequence[str], *, batch_size: int | None = None) -> np.ndarray:
    """``[len(texts), D]`` vectors of a write plan's texts: plain texts by :func:`embed_batches`,
    keys of texts read in a window (:func:`agentmem._windows.window_keys`) by the embedder's
    ``embed_windows``, each window once."""
    plain, windows = parse_window_keys(texts)
    if not windows:
        return embed_batches(embedder, texts, batch_size=batch_size)
    vecs = np.asarray(embedder.embed_windows(windows), dtype=np.float32)
    by_key = dict(zip([k for w in windows for k in window_keys(w)], vecs, strict=True))
    out = np.empty((len(texts), vecs.shape[1]), dtype=np.float32)
    if plain:
        out[plain] = embed_batches(embedder, [texts[i] for i in plain], batch_size=batch_size)
    keyed = sorted(set(range(len(texts))) - set(plain))
    out[keyed] = np.stack([by_key[texts[i]] for i in keyed])
    return out
