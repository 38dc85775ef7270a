"""Training the reader (:mod:`agentmem.recall.reader`) from cached candidate tables.

Pure functions over the tables ``agentmem bench reader-data`` writes: :func:`fit` trains a
ranker by the listwise softmax loss (ListNet with the gold records as the target
distribution; Cao et al. 2007) with full-batch Adam from a fixed seed on one thread, so the
same tables give the same weights; :func:`recall` scores any ordering of a table the way the
benches do (gold records in the top k over all gold, found or not).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agentmem.recall.features import FEATURES, MONOTONE, SIGNALS
from agentmem.recall.reader import ReaderModel

__all__ = ["Table", "baseline_scores", "fit", "load_table", "recall"]


@dataclass(frozen=True)
class Table:
    """One dataset's candidate table (rows: candidates of every question; see :func:`load_table`)."""

    name: str
    x: np.ndarray
    y: np.ndarray
    qid: np.ndarray
    group: np.ndarray  # per question
    category: np.ndarray
    n_gold: np.ndarray
    places: dict[str, np.ndarray]  # "rrf", "rrf_default", "multi_hop": 1-based place, 0 = absent

    def questions(self, keep: np.ndarray) -> Table:
        """The rows of the questions where ``keep`` (per question) holds, renumbered."""
        new_id = np.cumsum(keep) - 1
        rows = keep[self.qid]
        return Table(self.name, self.x[rows], self.y[rows], new_id[self.qid[rows]].astype(np.int32),
                     self.group[keep], self.category[keep], self.n_gold[keep],
                     {k: v[rows] for k, v in self.places.items()})


def load_table(path: str | Path) -> Table:
    """The reader's table of one cached dataset (``{dataset}.jsonl.gz`` of ``bench
    reader-data``), with each row's place in the engine's fusions."""
    from agentmem.bench.reader_data import read_questions
    from agentmem.config import RecallConfig
    from agentmem.recall.features import candidate_table
    from agentmem.recall.fusion import fuse_candidates

    plain, mh = RecallConfig(), RecallConfig.multi_hop()
    xs, ys, qids, group, category, n_gold = [], [], [], [], [], []
    places: dict[str, list[np.ndarray]] = {"rrf": [], "rrf_default": [], "multi_hop": []}
    for i, q in enumerate(read_questions(path)):
        lists = q["lists"]
        keys, x = candidate_table(lists, query_text=q["text"], has_time_window=q["time_window"])
        gold = set(q["gold"])
        orders = {
            "rrf": fuse_candidates(lists, weights=plain.weights, k=plain.rrf_k),
            "rrf_default": fuse_candidates(
                [[c for c in cands if c.signal in ("turns", "time", "thought")] for cands in lists],
                weights=plain.weights, k=plain.rrf_k),
            "multi_hop": fuse_candidates(lists, weights=mh.weights, k=mh.rrf_k, primary=mh.primary, head=mh.head,
                                         lead=mh.lead),
        }
        for name, fused in orders.items():
            at = {f.key: j for j, f in enumerate(fused, start=1)}
            places[name].append(np.asarray([at.get(key, 0) for key in keys], dtype=np.int32))
        xs.append(x)
        ys.append(np.asarray([rid in gold for _, rid in keys], dtype=np.int8))
        qids.append(np.full(len(keys), i, dtype=np.int32))
        group.append(str(q["group"]))
        category.append(int(q["category"]))
        n_gold.append(int(q["n_gold"]))
    name = Path(path).name.split(".")[0]
    return Table(name, np.concatenate(xs), np.concatenate(ys), np.concatenate(qids), np.asarray(group),
                 np.asarray(category), np.asarray(n_gold), {k: np.concatenate(v) for k, v in places.items()})


def recall(table: Table, scores: np.ndarray, ks: Sequence[int]) -> np.ndarray:
    """Per question and k, gold records in the top k by ``scores`` (higher first, ties by row
    order; ``-inf`` rows left out) over all its gold records: shape ``(questions, len(ks))``."""
    n_q = len(table.n_gold)
    out = np.zeros((n_q, len(ks)))
    order = np.lexsort((np.arange(len(scores)), -scores, table.qid))  # by question, best first
    order = order[np.isfinite(scores[order])]  # -inf: not a candidate of this ordering
    qid, y = table.qid[order], table.y[order]
    starts = np.searchsorted(qid, np.arange(n_q))
    place = np.arange(len(qid)) - starts[qid]
    for j, k in enumerate(ks):
        np.add.at(out[:, j], qid[place < k], y[place < k])
    return out / np.maximum(table.n_gold, 1)[:, None]


def baseline_scores(table: Table, name: str) -> np.ndarray:
    """Scores that reproduce a cached ordering: ``rrf``, ``rrf_default``, ``multi_hop`` (the
    engine's fusions) or a signal name (that signal's list alone); rows it lacks get ``-inf``."""
    if name in table.places:
        p = table.places[name].astype(np.float64)
        return np.where(p > 0, -p, -np.inf)
    if name not in SIGNALS:
        raise ValueError(f"unknown ordering {name!r}")
    inv = table.x[:, FEATURES.index(f"{name}_inv_rank")].astype(np.float64)
    return np.where(inv > 0, inv, -np.inf)


def _monotone_projection(scale: np.ndarray) -> Any:
    """A function that puts a linear ranker's weights (on standardised columns) back inside
    :data:`MONOTONE`'s signs after a step: each signed column's weight, and its slope for
    documents (its own plus its ``doc_`` copy's, each over its column's scale), keep their sign."""
    import torch

    base, doc, sign = [], [], []
    for name, s in MONOTONE.items():
        base.append(FEATURES.index(name))
        doc.append(FEATURES.index(f"doc_{name}"))
        sign.append(float(s))
    b, d = torch.tensor(base), torch.tensor(doc)
    sg = torch.tensor(sign)
    ratio = torch.from_numpy(scale[doc] / scale[base])

    def project(w: Any) -> None:
        with torch.no_grad():
            wb = torch.clamp(w[b] * sg, min=0.0)  # in the sign's direction
            wd = torch.maximum(w[d] * sg, -wb * ratio)
            w[b] = wb * sg
            w[d] = wd * sg

    return project


def fit(tables: Sequence[Table], *, hidden: int = 16, steps: int = 300, lr: float = 0.01,
        weight_decay: float = 1e-4, seed: int = 0, monotone: bool = True,
        info: dict[str, Any] | None = None) -> ReaderModel:
    """A reader trained on ``tables`` (every question weighs the same; questions whose gold
    no candidate holds are skipped). ``hidden=0``: a linear ranker; ``monotone`` (linear only)
    keeps :data:`~agentmem.recall.features.MONOTONE`'s signs."""
    import torch

    x = np.concatenate([t.x for t in tables]).astype(np.float32)
    y = np.concatenate([t.y for t in tables]).astype(np.float32)
    offsets = np.cumsum([0] + [len(t.n_gold) for t in tables[:-1]])
    qid = np.concatenate([t.qid + o for t, o in zip(tables, offsets, strict=True)]).astype(np.int64)
    has_gold = np.zeros(qid.max() + 1, dtype=bool)
    has_gold[qid[y > 0]] = True
    keep = has_gold[qid]
    x, y, qid = x[keep], y[keep], np.unique(qid[keep], return_inverse=True)[1]
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    scale = np.where(std > 1e-6, std, 1.0).astype(np.float32)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        z = torch.from_numpy((x - mean) / scale)
        q = torch.from_numpy(qid)
        target = torch.from_numpy(y)
        n_q = int(qid.max()) + 1
        pos = torch.zeros(n_q).index_add_(0, q, target)
        layers: list[torch.nn.Module] = []
        if hidden:
            layers += [torch.nn.Linear(z.shape[1], hidden), torch.nn.ReLU()]
        layers.append(torch.nn.Linear(hidden or z.shape[1], 1))
        net = torch.nn.Sequential(*layers)
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
        project = _monotone_projection(scale) if monotone and not hidden else None
        out_layer = layers[-1]
        assert isinstance(out_layer, torch.nn.Linear)
        weight = out_layer.weight[0]
        if project is not None:
            project(weight)
        for _ in range(steps):
            opt.zero_grad()
            s = net(z).squeeze(1)
            top = torch.full((n_q,), -1e30).scatter_reduce(0, q, s.detach(), reduce="amax")
            lse = torch.log(torch.zeros(n_q).index_add_(0, q, torch.exp(s - top[q]))) + top
            gold = torch.zeros(n_q).index_add_(0, q, s * target) / pos
            loss = (lse - gold).mean()
            loss.backward()
            opt.step()
            if project is not None:
                project(weight)
        params = [p.detach().numpy().astype(np.float32) for p in net.parameters()]
    finally:
        torch.set_num_threads(threads)
    if hidden:
        w1, b1, w2, b2 = params
        return ReaderModel(FEATURES, mean, scale, w1.T.copy(), b1, w2.ravel(), float(b2[0]), info or {})
    w2, b2 = params
    return ReaderModel(FEATURES, mean, scale, None, None, w2.ravel(), float(b2[0]), info or {})


def _select(table: Table, groups: Sequence[str], *, keep: bool) -> Table:
    return table.questions(np.isin(table.group, list(groups)) == keep)


def _conversations(tables: dict[str, Table]) -> list[str]:
    """The tables of conversations (``locomo``, ``locomo-sessions``): grouped by conversation."""
    return [n for n in tables if n.startswith("locomo")]


def cross_validated(tables: dict[str, Table], **fit_args: Any) -> dict[str, np.ndarray]:
    """Reader scores for every row of every table, each from a reader that never saw the row's
    question (nor, on LoCoMo, its conversation):

    * ``locomo`` and ``locomo-sessions``: leave one conversation out (out of both tables); the
      reader trains on the other conversations and on every MuSiQue question (documents, other
      questions);
    * ``musique-*``: the test questions (group ``test``) are scored by a reader trained on the
      LoCoMo tables and the MuSiQue selection questions of every MuSiQue table; the selection
      questions by one trained on LoCoMo and the test questions.

    Other tables (``updates``: generated) are training data for every reader and get no scores.
    """
    convs = _conversations(tables)
    musique = [n for n in tables if n.startswith("musique")]
    extra = [tables[n] for n in tables if n not in convs and n not in musique]
    out: dict[str, np.ndarray] = {n: np.zeros(len(tables[n].y)) for n in [*convs, *musique]}
    for g in sorted({str(g) for n in convs for g in tables[n].group}):
        model = fit([*(_select(tables[n], [g], keep=False) for n in convs), *(tables[n] for n in musique), *extra],
                    **fit_args)
        for n in convs:
            t = tables[n]
            rows = np.isin(t.group, [g])[t.qid]
            out[n][rows] = model.score(t.x[rows])
    for held in ("test", "selection"):
        if not musique:
            break
        train = [tables[n] for n in convs] + extra
        train += [_select(tables[n], [held], keep=False) for n in musique]
        model = fit(train, **fit_args)
        for n in musique:
            t = tables[n]
            rows = (t.group == held)[t.qid]
            out[n][rows] = model.score(t.x[rows])
    return out


def transfer(tables: dict[str, Table], **fit_args: Any) -> dict[str, np.ndarray]:
    """Across kinds of store: conversations only → every MuSiQue table, documents only (every
    MuSiQue question) → the LoCoMo tables."""
    convs = _conversations(tables)
    musique = [n for n in tables if n.startswith("musique")]
    out: dict[str, np.ndarray] = {}
    if convs and musique:
        model = fit([tables[n] for n in convs], **fit_args)
        for n in musique:
            out[n] = model.score(tables[n].x)
        docs = fit([tables[n] for n in musique], **fit_args)
        for n in convs:
            out[n] = docs.score(tables[n].x)
    return out
