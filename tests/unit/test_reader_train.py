"""Training and scoring the reader from candidate tables (agentmem.bench.reader_train)."""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from agentmem.bench.reader_train import (
    Table,
    baseline_scores,
    cross_validated,
    fit,
    load_table,
    recall,
)
from agentmem.recall.features import FEATURES


def _table(seed: int, n_q: int = 12, rows: int = 20, name: str = "locomo") -> Table:
    """Questions whose gold rows have a high ``graph_norm`` (the reader must learn that) and a
    ``turns_inv_rank`` that puts them low (the turn list alone is wrong)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n_q * rows, len(FEATURES)), dtype=np.float32)
    x[:, :4] = rng.random((n_q * rows, 4))  # noise
    qid = np.repeat(np.arange(n_q), rows).astype(np.int32)
    y = np.zeros(n_q * rows, dtype=np.int8)
    gold = np.arange(n_q) * rows + rng.integers(0, rows, n_q)
    y[gold] = 1
    x[:, FEATURES.index("graph_norm")] = rng.random(len(y)) * 0.5
    x[gold, FEATURES.index("graph_norm")] = 0.9
    x[:, FEATURES.index("turns_inv_rank")] = 0.5
    x[gold, FEATURES.index("turns_inv_rank")] = 0.01
    groups = np.asarray([f"g{i % 3}" for i in range(n_q)])
    places = {k: np.tile(np.arange(1, rows + 1), n_q).astype(np.int32) for k in ("rrf", "rrf_default", "multi_hop")}
    return Table(name, x, y, qid, groups, np.ones(n_q, dtype=np.int32), np.full(n_q, 2), places)


def _recall_reference(t: Table, scores: np.ndarray, k: int) -> np.ndarray:
    out = []
    for q in range(len(t.n_gold)):
        rows = np.flatnonzero(t.qid == q)
        order = sorted(rows, key=lambda r: (-scores[r], r))[:k]
        out.append(t.y[order].sum() / t.n_gold[q])
    return np.asarray(out)


def test_recall_matches_a_plain_reference() -> None:
    t = _table(0)
    scores = np.random.default_rng(3).random(len(t.y))
    scores[::7] = 0.5  # ties break by row order
    got = recall(t, scores, (1, 5, 20))
    for j, k in enumerate((1, 5, 20)):
        assert got[:, j] == pytest.approx(_recall_reference(t, scores, k))
    assert got[:, 2].max() == 0.5  # one gold of two in the candidates


def test_baselines_reproduce_cached_orders() -> None:
    t = _table(1)
    first = recall(t, baseline_scores(t, "rrf"), (1,))[:, 0]
    assert first.tolist() == [t.y[t.qid == q][0] / 2 for q in range(len(t.n_gold))]
    with pytest.raises(ValueError):
        baseline_scores(t, "nope")


@pytest.mark.parametrize("hidden", [0, 4])
def test_fit_is_deterministic_and_learns_the_signal(hidden: int) -> None:
    t = _table(2)
    a = fit([t], hidden=hidden, steps=60, lr=0.05)
    b = fit([t], hidden=hidden, steps=60, lr=0.05)
    assert np.array_equal(a.score(t.x), b.score(t.x))
    test = _table(5)
    assert recall(test, a.score(test.x), (1,)).mean() == pytest.approx(0.5)  # every gold first
    assert recall(test, baseline_scores(test, "turns"), (1,)).mean() < 0.2


def test_cross_validation_scores_every_row_without_its_group() -> None:
    lo, mq = _table(3), _table(4, name="musique-offline")
    mq = Table(mq.name, mq.x, mq.y, mq.qid, np.asarray(["test", "selection"] * 6), mq.category, mq.n_gold, mq.places)
    out = cross_validated({"locomo": lo, "musique-offline": mq}, hidden=0, steps=30, lr=0.05)
    assert set(out) == {"locomo", "musique-offline"}
    assert all(len(out[n]) == len(t.y) and np.isfinite(out[n]).all() for n, t in (("locomo", lo),
                                                                                  ("musique-offline", mq)))


def _cache(path: Path) -> None:
    """A tiny ``bench reader-data`` cache: two conversations, gold found by the graph only."""
    lines = []
    for i in range(8):
        turns = [[f"q{i}t{j}", "turn", 1.0 - j / 10, "turns", [], {"dense": 0.5}, {}] for j in range(6)]
        graph = [[f"q{i}gold", "turn", 0.3, "graph", [], {"seed": 1.0}, {}], [f"q{i}t5", "turn", 0.1, "graph", [], {}, {}]]
        episode = [[f"e{i}", "episode", 0.4, "episode", [f"q{i}t4", f"q{i}gold"], {}, {}]]
        lines.append(json.dumps({"group": f"conv-{i % 2}", "category": 1 + i % 2, "n_gold": 2, "text": "Who?",
                                 "time_window": False, "gold": [f"q{i}gold"], "lists": [turns, graph, episode]}))
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def test_ablation_reports_every_row_from_a_cache(tmp_path: Path) -> None:
    from agentmem.bench import ablation

    _cache(tmp_path / "locomo.jsonl.gz")
    table = load_table(tmp_path / "locomo.jsonl.gz")
    assert len(table.n_gold) == 8 and int(table.y.sum()) == 8  # one of the two gold found per question
    args = argparse.Namespace(tables=str(tmp_path), datasets="locomo,musique-offline", split="test", hidden=0,
                              steps=40, no_transfer=True, no_monotone=False)
    rows = ablation.run(args)["rows"]
    assert rows["graph alone"]["locomo"]["R@5"] == 50.0  # the gold it found is its first record
    assert rows["turns alone"]["locomo"]["R@5"] == 0.0
    assert rows["reader (cross-validated)"]["locomo"]["R@5"] == 50.0  # learned from the other conversation
    assert set(rows["default RRF"]["locomo"]["by_category"]) == {"1", "2"}
