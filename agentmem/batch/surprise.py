"""Batched LM surprise for indexing: score the windows of many sessions in few forward passes.

The episode component scores each session's units with
:class:`~agentmem.mechanisms.episodes.segment.scorers.LMSurpriseScorer`, one stream at a time, as ``Memory.add``
stores it. For an archive the indexer instead predicts, per chunk, the windows every fresh
session's scorer will ask for — by running that same scorer over the predicted unit texts with
an LM that only records its calls (:func:`predicted_windows`) — scores them all with
:meth:`~agentmem.mechanisms.episodes.segment.lm.CausalLM.surprisal_batch` (padded batches, one forward pass per
batch, on a GPU when configured), and gives the component a :class:`PrecomputedSurprisal` that
answers from those results. A window it was not given (a stream continued from an earlier
run, a unit split differently) is scored by the real LM: a wrong prediction costs time, never
correctness.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from agentmem.mechanisms.episodes.segment.scorers import LMSurpriseScorer
from agentmem.mechanisms.episodes.segment.stream import split_sentences
from agentmem.normalize import normalize_messages

__all__ = ["PrecomputedSurprisal", "Window", "predicted_units", "batched_surprise", "predicted_windows", "prescore_sessions"]

Window = tuple[tuple[int, ...], int]  # (token ids, first scored position)


def predicted_units(messages: Sequence[Mapping[str, Any]], *, max_unit_chars: int, max_chars: int = 32_000
                    ) -> list[str]:
    """The unit texts the episode component makes of ``messages`` (``speaker: part``), in order."""
    out: list[str] = []
    for m in messages:
        try:
            ((msg, _),) = normalize_messages([m], max_chars=max_chars, max_messages=1)
        except Exception:  # noqa: BLE001 - a message add will reject: it makes no unit
            continue
        out += [f"{msg.speaker}: {p}" for p in split_sentences(msg.content, max_unit_chars)]
    return out


class _Recorder:
    """A surprisal LM that records the windows asked of it and answers zeros."""

    name = "recorder"

    def __init__(self, tokenize: Callable[[str], list[int]]) -> None:
        self.tokenize = tokenize
        self.windows: list[Window] = []

    def surprisal(self, ids: Sequence[int], *, start: int = 0) -> np.ndarray:
        self.windows.append((tuple(ids), start))
        return np.zeros(len(ids) - start, dtype=np.float32)


def predicted_windows(calls: Iterable[Sequence[str]], tokenize: Callable[[str], list[int]], *,
                      context: int, page: int) -> list[Window]:
    """The windows a fresh stream's :class:`LMSurpriseScorer` scores when fed ``calls``.

    ``calls`` are the unit texts of successive ``score`` calls of one stream (one per
    ``Memory.add`` of the session). The scorer itself plans the windows, so the prediction
    follows its paging exactly.
    """
    rec = _Recorder(tokenize)
    scorer = LMSurpriseScorer(rec, context=context, page=page)
    for texts in calls:
        scorer.score(list(texts), np.zeros((len(texts), 1)))
    return rec.windows


class PrecomputedSurprisal:
    """A surprisal LM answering from windows scored in advance, the real LM for the rest.

    :meth:`provide` adds scored windows, :meth:`release` forgets them; :meth:`surprisal` and
    :meth:`surprisal_batch` answer known windows from memory and score unknown ones with
    ``inner`` (counted in :attr:`misses`). Tokenisations are cached per text.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self._known: dict[Window, np.ndarray] = {}
        self._tokens: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def tokenize(self, text: str) -> list[int]:
        got = self._tokens.get(text)
        if got is None:
            got = self.inner.tokenize(text)
            with self._lock:
                self._tokens[text] = got
        return list(got)

    def score(self, windows: Sequence[Window]) -> list[np.ndarray]:
        """Score ``windows`` with the real LM, batched when it can."""
        batched = getattr(self.inner, "surprisal_batch", None)
        if callable(batched):
            return list(batched(windows))
        return [self.inner.surprisal(ids, start=s) for ids, s in windows]

    def provide(self, windows: Sequence[Window], results: Sequence[np.ndarray]) -> None:
        with self._lock:
            for w, r in zip(windows, results, strict=True):
                self._known[w] = np.asarray(r, dtype=np.float32)

    def release(self, windows: Iterable[Window], texts: Iterable[str] = ()) -> None:
        with self._lock:
            for w in windows:
                self._known.pop(w, None)
            for t in texts:
                self._tokens.pop(t, None)

    def surprisal_batch(self, windows: Sequence[tuple[Sequence[int], int]]) -> list[np.ndarray]:
        keys = [(tuple(ids), s) for ids, s in windows]
        with self._lock:
            rows = [self._known.get(k) for k in keys]
        missing = [j for j, r in enumerate(rows) if r is None]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            for j, r in zip(missing, self.score([keys[j] for j in missing]), strict=True):
                rows[j] = r
        return [np.asarray(r, dtype=np.float32) for r in rows]

    def surprisal(self, ids: Sequence[int], *, start: int = 0) -> np.ndarray:
        return self.surprisal_batch([(ids, start)])[0]


def prescore_sessions(lm: PrecomputedSurprisal, sessions: Sequence[Sequence[Sequence[Mapping[str, Any]]]], *,
                      max_unit_chars: int, max_chars: int, context: int, page: int
                      ) -> tuple[list[Window], list[str]]:
    """Predict and score, in few batches, the windows of fresh sessions; give them to ``lm``.

    ``sessions`` holds, per session whose stream starts empty, its messages in the groups the
    indexer adds them in (one ``Memory.add`` each). Returns what to
    :meth:`PrecomputedSurprisal.release` once the sessions are stored: the windows and the unit
    texts.
    """
    windows: dict[Window, None] = {}
    texts: list[str] = []
    for groups in sessions:
        calls = [predicted_units(g, max_unit_chars=max_unit_chars, max_chars=max_chars) for g in groups]
        texts += [t for c in calls for t in c]
        windows.update(dict.fromkeys(predicted_windows(calls, lm.tokenize, context=context, page=page)))
    todo = list(windows)
    lm.provide(todo, lm.score(todo))
    return todo, texts


def batched_surprise(mem: Any) -> PrecomputedSurprisal | None:
    """Give ``mem``'s surprise-segmented episode component a precomputed, batched LM; or None."""
    comp = next((c for c in mem.components if getattr(c, "name", None) == "episode"), None)
    if comp is None or getattr(comp, "segmenter", None) != "surprise":
        return None
    lm = PrecomputedSurprisal(comp.surprisal_lm())
    comp.use_surprisal_lm(lm)
    return lm
