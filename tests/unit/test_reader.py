"""The reader: candidate features, the model file, ordering, and its training functions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agentmem.errors import ConfigError
from agentmem.mechanisms.base import Candidate
from agentmem.recall.features import (
    FEATURES,
    QUERY_FEATURES,
    SIGNALS,
    candidate_table,
    query_features,
)
from agentmem.recall.reader import ReaderModel, default_reader, read


def _col(name: str) -> int:
    return FEATURES.index(name)


def _linear(weights: dict[str, float]) -> ReaderModel:
    w = np.zeros(len(FEATURES), dtype=np.float32)
    for name, value in weights.items():
        w[_col(name)] = value
    n = len(FEATURES)
    return ReaderModel(FEATURES, np.zeros(n, np.float32), np.ones(n, np.float32), None, None, w, 0.0, {})


def _lists() -> list[list[Candidate]]:
    turns = [
        Candidate("a", "turn", 0.9, "turns", features={"dense": 0.8, "speaker": 1.0, "named": 1.0, "store": 2.0}),
        Candidate("b", "turn", 0.5, "turns", features={"dense": 0.4, "store": 2.0}),
        Candidate("c", "turn", 0.1, "turns", features={"store": 2.0}),
    ]
    episodes = [Candidate("e1", "episode", 0.7, "episode", turn_ids=("b", "c", "d")),
                Candidate("e2", "episode", 0.3, "episode", turn_ids=("c",))]
    graph = [Candidate("d", "turn", 0.02, "graph", features={"seed": 2.0, "seed_best": 1.0}),
             Candidate("a", "turn", 0.01, "graph", features={"seed": 0.0})]
    thoughts = [Candidate("t1", "thought", 0.95, "thought", text="x")]
    return [turns, episodes, graph, thoughts]


def test_candidate_table_rows_per_signal() -> None:
    keys, x = candidate_table(_lists(), query_text="What did Melanie paint?", has_time_window=False)
    assert keys == [("turn", "a"), ("turn", "b"), ("turn", "c"), ("turn", "d"), ("thought", "t1")]
    a, b, c, d, t = range(5)
    assert x[:, _col("turns_found")].tolist() == [1, 1, 1, 0, 0]
    assert x[:, _col("turns_inv_rank")].tolist() == pytest.approx([1, 1 / 2, 1 / 3, 0, 0])
    assert x[[a, b, c], _col("turns_norm")].tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert x[[a, b, c], _col("turns_gap")].tolist() == pytest.approx([0.0, 0.4, 0.8])
    # the episode credits its turns with its rank; c is in both episodes, first in the second
    assert x[[b, c, d], _col("episode_inv_rank")].tolist() == [1.0, 1.0, 1.0]
    assert x[[b, c, d], _col("ep_place")].tolist() == [0.0, 0.5, 1.0]
    assert x[c, _col("ep_count")] == pytest.approx(2 / 4)
    assert x[a, _col("ep_count")] == 0
    assert x[d, _col("seed")] == 2.0 and x[d, _col("seed_best")] == 1.0
    assert x[[a, d], _col("graph_inv_rank")].tolist() == [0.5, 1.0]
    n = len(SIGNALS)
    assert x[:, _col("n_signals")].tolist() == pytest.approx([2 / n, 2 / n, 2 / n, 2 / n, 1 / n])
    assert x[a, _col("speaker")] == 1.0 and x[b, _col("speaker")] == 0.0
    assert (x[:, _col("named")] == 1.0).all() and (x[:, _col("store")] == 2.0).all()  # per query
    q0 = _col(QUERY_FEATURES[0])
    assert (x[:, q0:q0 + len(QUERY_FEATURES)] == query_features("What did Melanie paint?", has_time_window=False)).all()
    doc = [j for j, name in enumerate(FEATURES) if name.startswith("doc_")]
    assert len(doc) * 2 == len(FEATURES) and not x[:, doc].any()  # dialogue: the document copies are zero


def test_candidate_table_repeats_every_column_for_documents() -> None:
    lists = [[Candidate("a", "turn", 0.9, "turns", features={"document": 1.0, "dense": 0.7}),
              Candidate("b", "turn", 0.4, "turns", features={"document": 1.0, "dense": 0.2})],
             [Candidate("b", "turn", 0.3, "graph")]]
    _, x = candidate_table(lists, query_text="Who founded it?", has_time_window=False)
    half = len(FEATURES) // 2
    assert FEATURES[half:] == tuple(f"doc_{name}" for name in FEATURES[:half])
    assert (x[:, half:] == x[:, :half]).all() and x[1, _col("doc_graph_found")] == 1.0


def test_candidate_table_empty() -> None:
    keys, x = candidate_table([[], []], query_text="q", has_time_window=False)
    assert keys == [] and x.shape == (0, len(FEATURES))


def test_query_features() -> None:
    f = dict(zip(QUERY_FEATURES, query_features("Who is the spouse of the director of Jump for Glory?",
                                                has_time_window=True), strict=True))
    assert f["q_who"] == 1.0 and f["q_what"] == 0.0 and f["q_other"] == 0.0
    assert f["q_time_window"] == 1.0 and f["q_multi_hop"] > 0 and f["q_entities"] > 0
    g = dict(zip(QUERY_FEATURES, query_features("Tell me about Paris in May 2023", has_time_window=False),
                 strict=True))
    assert g["q_other"] == 1.0 and g["q_time_words"] > 0


def test_read_orders_by_the_model_and_keeps_thoughts_at_their_rrf_place() -> None:
    weights = {"turns": 1.0, "episode": 0.5, "graph": 1.0, "thought": 1.0}
    by_graph = read(_lists(), query_text="q", has_time_window=False, model=_linear({"graph_inv_rank": 1.0}),
                    weights=weights)
    keys = [f.key for f in by_graph]
    assert keys[:2] == [("turn", "d"), ("turn", "a")]
    assert ("thought", "t1") in keys and len(keys) == 5
    by_turns = read(_lists(), query_text="q", has_time_window=False, model=_linear({"turns_inv_rank": 1.0}),
                    weights=weights)
    turn_keys = [f.key for f in by_turns if f.key[0] == "turn"]
    assert turn_keys[:3] == [("turn", "a"), ("turn", "b"), ("turn", "c")]
    a = next(f for f in by_turns if f.key == ("turn", "a"))
    assert a.ranks == {"turns": 1, "graph": 2} and a.score == pytest.approx(1.0)


def test_read_keeps_records_only_a_zero_weight_signal_found() -> None:
    lists = [[Candidate("a", "turn", 0.9, "turns")], [Candidate("z", "turn", 0.8, "bridge")]]
    out = read(lists, query_text="q", has_time_window=False, model=_linear({"bridge_inv_rank": 2.0}),
               weights={"turns": 1.0, "bridge": 0.0})
    assert [f.key for f in out] == [("turn", "z"), ("turn", "a")]
    assert out[0].ranks == {"bridge": 1} and out[0].raw == {"bridge": pytest.approx(0.8)}


def test_model_json_round_trip_and_validation(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = len(FEATURES)
    model = ReaderModel(FEATURES, rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32) + 0.5,
                        rng.standard_normal((n, 4)).astype(np.float32), rng.standard_normal(4).astype(np.float32),
                        rng.standard_normal(4).astype(np.float32), 0.25, {"trained_on": "test"})
    model.save(tmp_path / "r.json")
    again = ReaderModel.load(tmp_path / "r.json")
    x = rng.random((7, n), dtype=np.float32)
    assert np.array_equal(model.score(x), again.score(x))
    hidden = np.maximum(((x - model.mean) / model.scale) @ model.w1 + model.b1, 0)  # type: ignore[operator]
    assert model.score(x) == pytest.approx(hidden @ model.w2 + 0.25, rel=1e-5)
    with pytest.raises(ConfigError):
        ReaderModel(FEATURES, np.zeros(3, np.float32), np.ones(n, np.float32), None, None,
                    np.zeros(n, np.float32), 0.0, {})
    with pytest.raises(ConfigError):
        ReaderModel.from_json({"features": ["x"]})


def test_shipped_reader_matches_the_features_and_is_fast() -> None:
    import time

    model = default_reader()
    assert model.features == FEATURES and model.info.get("trained_on")
    x = np.random.default_rng(1).random((300, len(FEATURES)), dtype=np.float32)
    model.score(x)
    t0 = time.perf_counter()
    for _ in range(20):
        model.score(x)
    assert (time.perf_counter() - t0) / 20 < 0.01  # budget ~2 ms on 2 cores; generous for CI load
