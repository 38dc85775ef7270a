"""BM25 (Lucene variant) over an incremental inverted index.

Scoring matches ``bm25s`` (method ``"lucene"``, its default tokenizer and English stopwords),
which is the reference it is tested against; unlike a ``bm25s`` index it takes appends and
deletions without a rebuild, so a growing conversation stays searchable after every write.

.. math::

    \\mathrm{score}(q, d) = \\sum_{t \\in q} \\mathrm{idf}(t)\\,
        \\frac{f(t, d)}{f(t, d) + k_1 (1 - b + b\\,|d| / \\mathrm{avgdl})},
    \\qquad \\mathrm{idf}(t) = \\ln\\Bigl(1 + \\frac{N - n_t + 0.5}{n_t + 0.5}\\Bigr)
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

__all__ = ["BM25Index", "bm25_scores_reference", "tokenize"]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    try:
        from bm25s.stopwords import STOPWORDS_EN
    except ImportError:  # bm25s is a core dependency; an empty list keeps scoring defined
        return frozenset()
    return frozenset(STOPWORDS_EN)


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens of two or more characters, English stopwords removed."""
    stop = _stopwords()
    return [t for t in _TOKEN.findall(text.lower()) if t not in stop]


def bm25_scores_reference(
    docs: Sequence[Sequence[str]], query: Sequence[str], *, k1: float = 1.5, b: float = 0.75
) -> np.ndarray:
    """Readable BM25 scores of every document for one tokenized query (the reference)."""
    n = len(docs)
    if n == 0:
        return np.zeros(0)
    avgdl = sum(len(d) for d in docs) / n
    df = Counter(t for d in docs for t in set(d))
    out = np.zeros(n)
    for i, d in enumerate(docs):
        tf = Counter(d)
        for t in set(query):
            if t in tf:
                idf = np.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                out[i] += idf * tf[t] / (tf[t] + k1 * (1 - b + b * len(d) / max(avgdl, 1e-9)))
    return out


class BM25Index:
    """Append/delete BM25 index over string ids (one per user scope).

    Parameters
    ----------
    k1, b
        BM25 parameters (``bm25s`` defaults).
    compact
        Renumber rows once most are deleted (saves memory); off keeps row numbers stable.
    """

    def __init__(self, *, k1: float = 1.5, b: float = 0.75, compact: bool = True) -> None:
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError("BM25 needs k1 >= 0 and 0 <= b <= 1")
        self.k1, self.b = k1, b
        # With compact=False rows are never renumbered, so they can stay aligned with the rows
        # of another index fed in the same order (agentmem.mechanisms.turns.component relies on this).
        self.compact = compact
        self._vocab: dict[str, int] = {}
        self._post_rows: list[array] = []
        self._post_tfs: list[array] = []
        self._df: list[int] = []
        self._doc_terms: list[tuple[int, ...]] = []
        self._doc_len = array("f")
        self._alive = array("b")
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self._n_alive = 0
        self._len_alive = 0.0

    def __len__(self) -> int:
        return self._n_alive

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._row

    def add(self, ids: Sequence[str], texts: Sequence[str]) -> list[int]:
        """Index documents (an id already present is replaced); returns their rows."""
        if len(ids) != len(texts):
            raise ValueError("ids and texts differ in length")
        self.remove([i for i in ids if i in self._row])
        rows = []
        for doc_id, text in zip(ids, texts, strict=True):
            row = len(self._ids)
            rows.append(row)
            tokens = tokenize(text)
            counts = Counter(tokens)
            term_ids = []
            for term, tf in counts.items():
                tid = self._vocab.get(term)
                if tid is None:
                    tid = self._vocab[term] = len(self._df)
                    self._df.append(0)
                    self._post_rows.append(array("i"))
                    self._post_tfs.append(array("f"))
                self._post_rows[tid].append(row)
                self._post_tfs[tid].append(float(tf))
                self._df[tid] += 1
                term_ids.append(tid)
            self._ids.append(doc_id)
            self._row[doc_id] = row
            self._doc_terms.append(tuple(term_ids))
            self._doc_len.append(float(len(tokens)))
            self._alive.append(1)
            self._n_alive += 1
            self._len_alive += len(tokens)
        return rows

    def remove(self, ids: Sequence[str]) -> None:
        """Forget documents (unknown ids are ignored)."""
        for doc_id in ids:
            row = self._row.pop(doc_id, None)
            if row is None:
                continue
            self._alive[row] = 0
            self._n_alive -= 1
            self._len_alive -= self._doc_len[row]
            for tid in self._doc_terms[row]:
                self._df[tid] -= 1
        if self.compact and len(self._ids) > 64 and self._n_alive < len(self._ids) // 2:
            self._compact()

    def _compact(self) -> None:
        keep = [(self._ids[r], r) for r in range(len(self._ids)) if self._alive[r]]
        # Rebuilding from postings would need the texts; rebuild rows by re-mapping instead.
        remap = {old: new for new, (_, old) in enumerate(keep)}
        for tid in range(len(self._df)):
            rows, tfs = self._post_rows[tid], self._post_tfs[tid]
            nr, nt = array("i"), array("f")
            for r, f in zip(rows, tfs, strict=True):
                if r in remap:
                    nr.append(remap[r])
                    nt.append(f)
            self._post_rows[tid], self._post_tfs[tid] = nr, nt
        self._doc_terms = [self._doc_terms[old] for _, old in keep]
        self._doc_len = array("f", (self._doc_len[old] for _, old in keep))
        self._alive = array("b", [1] * len(keep))
        self._ids = [i for i, _ in keep]
        self._row = {i: r for r, (i, _) in enumerate(keep)}

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row (dead rows score 0) for ``query``."""
        n_rows = len(self._ids)
        out = np.zeros(n_rows, dtype=np.float64)
        if self._n_alive == 0:
            return out
        n = self._n_alive
        avgdl = max(self._len_alive / n, 1e-9)
        dl = np.frombuffer(self._doc_len, dtype=np.float32)
        alive = np.frombuffer(self._alive, dtype=np.int8).astype(bool)
        for term in set(tokenize(query)):
            tid = self._vocab.get(term)
            if tid is None or self._df[tid] == 0:
                continue
            rows = np.frombuffer(self._post_rows[tid], dtype=np.int32)
            tfs = np.frombuffer(self._post_tfs[tid], dtype=np.float32).astype(np.float64)
            df = self._df[tid]
            idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
            norm = self.k1 * (1 - self.b + self.b * dl[rows] / avgdl)
            # A posting list holds each row once, so fancy-index addition is exact here.
            out[rows] += idf * tfs / (tfs + norm)
        out[~alive] = 0.0
        return out

    def search(
        self, query: str, k: int, *, allowed: np.ndarray | None = None
    ) -> list[tuple[str, float]]:
        """Top ``k`` ``(id, score)`` with a positive score, best first.

        ``allowed`` is an optional boolean mask over rows (see :meth:`rows`).
        """
        s = self.scores(query)
        if allowed is not None:
            s = np.where(allowed[: len(s)], s, 0.0)
        hits = np.flatnonzero(s > 0)
        if hits.size == 0:
            return []
        if hits.size > k:
            hits = hits[np.argpartition(-s[hits], k - 1)[:k]]
        order = hits[np.lexsort((hits, -s[hits]))]
        return [(self._ids[r], float(s[r])) for r in order]

    def row_of(self, doc_id: str) -> int | None:
        """The row of a live document (``None`` for an unknown id)."""
        return self._row.get(doc_id)

    def rows(self) -> list[str]:
        """Id of every row, including dead ones (for building ``allowed`` masks)."""
        return list(self._ids)
