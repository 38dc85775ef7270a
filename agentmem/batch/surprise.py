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

__all__ = ["PrecomputedSurprisal", "Window", "predicted_units", "batched_surprise", "predicted_windows", "prescore_sessions",
           "session_windows", "surprise_settings"]

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

    :meth:`provide` adds scored windows, :meth:`release` forgets them once every provider of a
    window has released it (chunks prepared ahead may provide a window an earlier chunk still
    holds); :meth:`surprisal` and :meth:`surprisal_batch` answer known windows from memory and
    score unknown ones with ``inner`` (counted in :attr:`misses`). Tokenisations are cached per
    text.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self._known: dict[Window, np.ndarray] = {}
        self._holders: dict[Window, int] = {}
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
                self._holders[w] = self._holders.get(w, 0) + 1

    def release(self, windows: Iterable[Window], texts: Iterable[str] = ()) -> None:
        with self._lock:
            for w in windows:
                left = self._holders.get(w, 0) - 1
                if left > 0:
                    self._holders[w] = left
                else:
                    self._holders.pop(w, None)
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
    todo, texts = session_windows(lm.tokenize, sessions, max_unit_chars=max_unit_chars, max_chars=max_chars,
                                  context=context, page=page)
    lm.provide(todo, lm.score(todo))
    return todo, texts


def session_windows(tokenize: Callable[[str], list[int]], sessions: Sequence[Sequence[Sequence[Mapping[str, Any]]]],
                    *, max_unit_chars: int, max_chars: int, context: int, page: int
                    ) -> tuple[list[Window], list[str]]:
    """The windows fresh sessions' scorers will ask for (each once, in order) and their unit texts.

    ``sessions`` as in :func:`prescore_sessions`.
    """
    windows: dict[Window, None] = {}
    texts: list[str] = []
    for groups in sessions:
        calls = [predicted_units(g, max_unit_chars=max_unit_chars, max_chars=max_chars) for g in groups]
        texts += [t for c in calls for t in c]
        windows.update(dict.fromkeys(predicted_windows(calls, tokenize, context=context, page=page)))
    return list(windows), texts


def _surprise_component(mem: Any) -> Any:
    comp = next((c for c in mem.components if getattr(c, "name", None) == "episode"), None)
    return comp if comp is not None and getattr(comp, "segmenter", None) == "surprise" else None


def surprise_settings(mem: Any) -> Any:
    """The :class:`~agentmem.config.EpisodeConfig` of ``mem``'s episode component when it segments
    by LM surprise, else None."""
    comp = _surprise_component(mem)
    return None if comp is None else comp.cfg


def batched_surprise(mem: Any) -> PrecomputedSurprisal | None:
    """Give ``mem``'s surprise-segmented episode component a precomputed, batched LM; or None."""
    comp = _surprise_component(mem)
    if comp is None:
        return None
    lm = PrecomputedSurprisal(comp.surprisal_lm())
    comp.use_surprisal_lm(lm)
    return lm
