"""What the reader sees: one feature row per candidate, built from every signal's ranked list.

Pure functions over the components' :class:`~agentmem.mechanisms.base.Candidate` lists of one query
(no I/O). A record (a turn, or a thought) found by several signals gets one row:

* per signal (:data:`SIGNALS`): found or not, ``1 / rank``, ``log(1 + rank)`` scaled to
  [0, 1], the raw score, the score min-max normalised within the query's list, and the gap to
  the list's best score (raw score and gap left 0 for PageRank mass, whose scale is the
  store's size). An episode credits each of its turns with its own rank and score;
* episode context: the turn's place in its best episode (0 first … 1 last), the episode's
  length and how many recalled episodes hold the turn;
* the turn scorer's own view (:meth:`agentmem.mechanisms.turns.component.TurnIndex.search`): dense and
  BM25 scores, the score before contiguity, the best neighbour's, speaker match, whether the
  store holds documents and its size;
* the knowledge graph's: how many entities of the seed facts / of the best fact it names;
* how many signals found it, their reciprocal rank fusion (``rrf_prior``: turns, time and facts,
  ranks only), and the query's own features (:func:`query_features`);
* every column above again, multiplied by the store's ``document`` flag (``doc_*``): a linear
  ranker then weighs the signals one way for documents and another for dialogue (a flag that is
  the same for every candidate of a query cannot change their order on its own).

The table is the reader's input at search time and the training data of
``agentmem bench train-reader``; the two share this module, so they cannot drift apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from agentmem.mechanisms.base import Candidate

__all__ = ["FEATURES", "MONOTONE", "QUERY_FEATURES", "SIGNALS", "candidate_table", "query_features"]

SIGNALS = ("turns", "time", "episode", "graph", "bridge", "thought", "fact")
_PER_SIGNAL = ("found", "inv_rank", "log_rank", "raw", "norm", "gap")
_TURN = ("dense", "bm25", "base", "neighbour", "speaker", "named", "document", "store")
_GRAPH = ("seed", "seed_best")
_EPISODE = ("ep_place", "ep_len", "ep_count")
_QWORDS = ("what", "who", "when", "where", "why", "how", "which")
QUERY_FEATURES = (
    "q_len", *(f"q_{w}" for w in _QWORDS), "q_other", "q_entities", "q_time_window", "q_time_words",
    "q_multi_hop",
)
_BASE = (
    *(f"{s}_{f}" for s in SIGNALS for f in _PER_SIGNAL), *_EPISODE, *_TURN, *_GRAPH, "n_signals", "rrf_prior",
    *QUERY_FEATURES,
)
# ``rrf_prior``: reciprocal rank fusion of these signals (weight / (60 + rank), times 61 so a
# first place in one signal counts 1): ranks only, so its scale does not depend on the store's
# size or on how a signal normalises its scores.
_PRIOR = (("turns", 1.0), ("time", 0.5), ("fact", 0.3))
FEATURES = (*_BASE, *(f"doc_{name}" for name in _BASE))
# The direction in which a column can only help a record, other columns equal: +1 for evidence
# that it matches (found, 1/rank, scores, speaker, seed entities, signals that found it), -1 for
# distance from the best (log rank, gap). A monotone reader keeps these signs, for dialogue and
# for documents alike (``agentmem.bench.reader_train.fit``), so a record better on every signal
# is never ranked below one worse on every signal, in stores of any size.
MONOTONE: dict[str, int] = {
    **{f"{s}_{f}": 1 for s in SIGNALS for f in ("found", "inv_rank", "raw", "norm")},
    **{f"{s}_{f}": -1 for s in SIGNALS for f in ("log_rank", "gap")},
    **dict.fromkeys(("dense", "bm25", "base", "neighbour", "speaker", "seed", "seed_best", "n_signals", "ep_count",
                     "rrf_prior"), 1),
}
_RANK_SCALE = math.log(1 + 100)
# Signals whose raw score is a share of probability mass over the whole store (PageRank): its
# size sets the scale (a five-turn store gives each passage a fifth), so only ranks and the
# within-query normalised score are features; ``{signal}_raw`` and ``_gap`` stay 0.
_MASS_SIGNALS = frozenset({"graph"})
_COL = {name: j for j, name in enumerate(_BASE)}
_SIGNAL_COLS = {signal: (i, _COL[f"{signal}_found"]) for i, signal in enumerate(SIGNALS)}
_CANDIDATE_COLS = {name: _COL[name] for name in (*_TURN, *_GRAPH)}  # a candidate's own features
_TIME_WORDS = re.compile(
    r"\b(?:when|date|year|month|week|day|ago|last|yesterday|today|before|after|since|during|"
    r"january|february|march|april|may|june|july|august|september|october|november|december|"
    r"\d{4})\b",
    re.IGNORECASE,
)
_HOP_CUES = re.compile(r"\b(?:of the|of a|whose|both|and|that|which|who)\b|'s\b", re.IGNORECASE)
_WORD = re.compile(r"[\w']+")


def query_features(text: str, *, has_time_window: bool) -> np.ndarray:
    """The query's features (:data:`QUERY_FEATURES`): length, question word, named entities
    (capitalised words after the first), time (a parsed window, time words) and multi-hop cues.

    >>> float(dict(zip(QUERY_FEATURES, query_features("When did Melanie paint?", has_time_window=False)))["q_when"])
    1.0
    """
    words = _WORD.findall(text)
    lower = [w.lower() for w in words]
    qword = next((w for w in lower[:3] if w in _QWORDS), None)
    entities = sum(1 for w in words[1:] if w[:1].isupper())
    out = [math.log1p(len(words)) / 4.0]
    out += [float(qword == w) for w in _QWORDS]
    out += [
        float(qword is None), min(entities, 6) / 6.0, float(has_time_window),
        min(len(_TIME_WORDS.findall(text)), 3) / 3.0, min(len(_HOP_CUES.findall(text)), 4) / 4.0,
    ]
    return np.asarray(out, dtype=np.float32)


def _key(c: Candidate) -> list[tuple[str, str]]:
    return [("turn", t) for t in c.turn_ids] if c.turn_ids else [(c.kind, c.id)]


def candidate_table(
    lists: Sequence[Sequence[Candidate]], *, query_text: str, has_time_window: bool
) -> tuple[list[tuple[str, str]], np.ndarray]:
    """Every record the lists name (``(kind, id)``, first appearance first) and its feature row
    (columns :data:`FEATURES`, float32).

    A record found twice by one signal keeps its first (best) entry; the turns of one episode
    share its rank and score. Signals outside :data:`SIGNALS` are ignored.

    >>> from agentmem.mechanisms.base import Candidate
    >>> keys, x = candidate_table([[Candidate("a", "turn", 0.9, "turns"), Candidate("b", "turn", 0.5, "turns")]],
    ...                           query_text="Who?", has_time_window=False)
    >>> keys, x[:, FEATURES.index("turns_norm")].tolist()
    ([('turn', 'a'), ('turn', 'b')], [1.0, 0.0])
    """
    col = _COL
    rows: dict[tuple[str, str], int] = {}
    episodes: dict[tuple[str, str], int] = {}  # how many recalled episodes hold each turn
    entries: list[tuple[int, str, int, float, Candidate, int, int]] = []  # row, signal, rank, score, cand, place, size
    for cands in lists:
        seen: dict[str, set[tuple[str, str]]] = {}
        rank_of: dict[str, int] = {}
        for c in cands:
            if c.signal not in SIGNALS:
                continue
            done = seen.setdefault(c.signal, set())
            rank_of[c.signal] = rank_of.get(c.signal, 0) + 1
            keys = _key(c)
            for place, key in enumerate(keys):
                if c.signal == "episode":
                    episodes[key] = episodes.get(key, 0) + 1
                if key in done:
                    continue
                done.add(key)
                row = rows.setdefault(key, len(rows))
                entries.append((row, c.signal, rank_of[c.signal], c.score, c, place, len(keys)))
    x = np.zeros((len(rows), len(_BASE)), dtype=np.float32)
    if not rows:
        return [], np.zeros((0, len(FEATURES)), dtype=np.float32)
    best: dict[str, tuple[float, float]] = {}
    for _, signal, _, score, _, _, _ in entries:
        lo, hi = best.get(signal, (score, score))
        best[signal] = (min(lo, score), max(hi, score))
    first = np.zeros((len(rows), len(SIGNALS)), dtype=bool)
    ep_place, ep_len = col["ep_place"], col["ep_len"]
    for row, signal, rank, score, c, place, size in entries:
        s, base = _SIGNAL_COLS[signal]
        if first[row, s]:
            continue
        first[row, s] = True
        lo, hi = best[signal]
        raw = signal not in _MASS_SIGNALS
        x[row, base:base + len(_PER_SIGNAL)] = (
            1.0, 1.0 / rank, min(math.log1p(rank) / _RANK_SCALE, 1.0), score if raw else 0.0,
            (score - lo) / (hi - lo) if hi - lo > 1e-12 else 1.0, hi - score if raw else 0.0,
        )
        if signal == "episode":
            x[row, ep_place] = place / (size - 1) if size > 1 else 0.5
            x[row, ep_len] = min(math.log1p(size) / math.log(64), 1.0)
        for name, value in c.features.items():
            j = _CANDIDATE_COLS.get(name)
            if j is not None and value > x[row, j]:
                x[row, j] = value
    for key, n in episodes.items():
        x[rows[key], col["ep_count"]] = min(n, 4) / 4.0
    x[:, col["n_signals"]] = first.sum(axis=1) / len(SIGNALS)
    for signal, weight in _PRIOR:
        inv = x[:, col[f"{signal}_inv_rank"]]
        x[:, col["rrf_prior"]] += np.where(inv > 0, weight * 61.0 / (60.0 + 1.0 / np.maximum(inv, 1e-9)), 0.0)
    store = x[:, col["store"]].max()
    document = x[:, col["document"]].max()
    x[:, col["store"]] = store  # store features are the same for every candidate of a query
    x[:, col["document"]] = document
    named = x[:, col["named"]].max()
    x[:, col["named"]] = named
    q0 = col[QUERY_FEATURES[0]]
    x[:, q0:q0 + len(QUERY_FEATURES)] = query_features(query_text, has_time_window=has_time_window)
    return list(rows), np.hstack([x, x * document])
