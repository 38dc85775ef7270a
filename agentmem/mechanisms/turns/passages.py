"""Long turns as passages: a pasted file or log is searched whole, the turn stays the unit.

An embedder reads a few hundred tokens (MiniLM: 256 word pieces), so the vector of a turn
of 350,000 characters describes its first lines only. A turn longer than ``size``
characters is therefore also split into overlapping passages (:func:`split_passages`), each
embedded and indexed (:class:`PassageIndex`) once the turn is longer than
``MemoryConfig.long_turn_chars``; a query's dense score for the turn is its best
passage's, and a hit names the turn with the passage that matched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from agentmem.store.dense import ExactIndex

__all__ = ["PASSAGE_KIND", "PassageIndex", "long_turns", "passage_ids", "passage_spans", "split_passages"]

PASSAGE_KIND = "turn_passages"  # Chroma kind of the passage vectors (ids ``{turn_id}#{i}``)


def split_passages(text: str, *, size: int, overlap: int) -> list[str]:
    """``text`` in passages of at most ``size`` characters, consecutive ones overlapping by
    about ``overlap`` characters; ``[]`` when the text fits in one (it is its own passage).

    >>> split_passages("aaaa bbbb cccc dddd", size=10, overlap=0)
    ['aaaa bbbb ', 'cccc dddd']
    >>> split_passages("short", size=10, overlap=2)
    []
    """
    return [text[a:b] for a, b in passage_spans(text, size=size, overlap=overlap)]


def passage_spans(text: str, *, size: int, overlap: int) -> list[tuple[int, int]]:
    """The ``(start, end)`` offsets of :func:`split_passages`' passages.

    Cuts fall at the last paragraph break, else line break, else space in the back half of a
    window, so words stay whole where the text allows. The spans cover the text in order:
    the first starts at 0, the last ends at ``len(text)``, each starts after the previous
    one's start and no later than its end.

    Raises
    ------
    ValueError
        ``size`` below 2 or ``overlap`` not in ``[0, size / 2)``.
    """
    if size < 2 or not 0 <= overlap < size // 2:
        raise ValueError("need size >= 2 and 0 <= overlap < size / 2")
    if len(text) <= size:
        return []
    out = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            half = start + size // 2
            for sep in ("\n\n", "\n", " "):
                cut = text.rfind(sep, half, end)
                if cut >= 0:
                    end = cut + len(sep)
                    break
        out.append((start, end))
        if end >= len(text):
            break
        nxt = max(end - overlap, start + 1)
        if overlap:  # start the overlap at a word
            space = text.find(" ", nxt, end)
            nxt = space + 1 if space >= 0 else nxt
        start = nxt
    return out


def passage_ids(turn_id: str, n: int) -> list[str]:
    """The vector ids of a turn's ``n`` passages."""
    return [f"{turn_id}#{i}" for i in range(n)]


class PassageIndex:
    """Passage vectors of one user's long turns, each row owned by a turn row of the
    :class:`~agentmem.mechanisms.turns.component.TurnIndex` (rows never renumber)."""

    def __init__(self, dim: int, *, device: str, dtype: torch.dtype | None) -> None:
        self.index = ExactIndex(dim, device=device, dtype=dtype)
        self.owner: list[int] = []  # passage row -> turn row
        self._of_turn: dict[int, list[int]] = {}  # turn row -> its passage rows

    def __len__(self) -> int:
        return len(self.index)

    def add(self, turn_id: str, turn_row: int, vectors: np.ndarray) -> None:
        rows = self.index.add(passage_ids(turn_id, len(vectors)), vectors)
        self.owner.extend([turn_row] * len(rows))
        self._of_turn[turn_row] = rows

    def remove(self, turn_id: str, turn_row: int) -> None:
        rows = self._of_turn.pop(turn_row, [])
        self.index.remove(passage_ids(turn_id, len(rows)))

    def search(self, query: np.ndarray, n: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The turn rows owning the ``n`` best passages (a turn once, at its best) and those
        passages' scores; ``allowed`` masks turn rows."""
        if not len(self.index):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        owner = np.asarray(self.owner, dtype=np.int64)
        valid = None
        if allowed is not None:
            ok = np.zeros(len(owner), dtype=bool)
            inside = owner < len(allowed)
            ok[inside] = allowed[owner[inside]]
            valid = torch.from_numpy(ok)
        rows, scores = self.index.search_rows(query, n, valid=valid)
        turns = owner[rows]
        _, first = np.unique(turns, return_index=True)
        keep = np.sort(first)
        return turns[keep], scores[keep]

    def best(self, turn_rows: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per turn row, its best passage's cosine with ``query`` and that passage's number
        (``-inf`` and ``-1`` for turns without passages)."""
        scores = np.full(len(turn_rows), -np.inf, dtype=np.float32)
        which = np.full(len(turn_rows), -1, dtype=np.int64)
        q = np.asarray(query, dtype=np.float32)
        for k, r in enumerate(turn_rows.tolist()):
            rows = self._of_turn.get(int(r))
            if rows:
                sims = self.index.rows_vectors(np.asarray(rows)) @ q
                which[k] = int(np.argmax(sims))
                scores[k] = float(sims[which[k]])
        return scores, which


def long_turns(contents: Sequence[str], *, longer_than: int, size: int, overlap: int) -> dict[int, list[str]]:
    """Positions of the contents longer than ``longer_than`` and their passages."""
    return {
        k: split_passages(text, size=size, overlap=overlap)
        for k, text in enumerate(contents)
        if len(text) > max(longer_than, size)
    }
