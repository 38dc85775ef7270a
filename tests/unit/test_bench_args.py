"""The bench CLIs turn their fusion and graph flags into the configuration they run with."""

from __future__ import annotations

from pathlib import Path

from agentmem.bench import locomo, retrieval
from agentmem.cli.main import build_parser
from agentmem.config import EpisodeConfig, GraphConfig, RecallConfig


def _parse(*argv: str):  # type: ignore[no-untyped-def]
    return build_parser().parse_args(["bench", *argv])


def test_locomo_defaults_are_the_engine_defaults(tmp_path: Path) -> None:
    config = locomo.memory_config(_parse("locomo", "--data", "x.json"), tmp_path)
    assert config.recall == RecallConfig()
    assert config.graph.enabled and config.episodes == EpisodeConfig()  # every mechanism, as Memory()
    assert config.graph.lexical_weight == GraphConfig().lexical_weight
    assert not locomo.memory_config(_parse("locomo", "--data", "x.json", "--no-reader"), tmp_path).recall.reader


def test_locomo_graph_and_fusion_flags(tmp_path: Path) -> None:
    args = _parse(
        "locomo", "--data", "x.json", "--graph", "offline", "--head", "2",
        "--graph-lexical-weight", "0.25", "--lexical-weight", "0.5",
    )
    config = locomo.memory_config(args, tmp_path)
    assert config.graph.enabled and config.graph.extractor == "offline"
    assert config.graph.lexical_weight == 0.25
    assert config.recall.head == 2 and config.recall.primary == RecallConfig().primary
    assert config.recall.lexical_weight == 0.5  # the turn scorer's weight is a separate flag
    plain = locomo.memory_config(_parse("locomo", "--data", "x.json", "--primary", "none"), tmp_path)
    assert plain.recall.primary is None


def test_retrieval_fusion_flags(tmp_path: Path) -> None:
    base = ("retrieval", "--corpus", "c.jsonl", "--queries", "q.jsonl")
    assert retrieval.memory_config(_parse(*base), tmp_path).recall == RecallConfig()  # Memory()'s: the reader
    config = retrieval.memory_config(_parse(*base, "--fusion", "multi-hop"), tmp_path)
    assert config.graph.enabled and config.graph.topic_weight == GraphConfig().topic_weight
    assert retrieval.memory_config(_parse(*base, "--topic-weight", "0"), tmp_path).graph.topic_weight == 0.0
    assert config.recall == RecallConfig.multi_hop()
    args = _parse(*base, "--fusion", "multi-hop", "--primary", "none", "--head", "0", "--lexical-weight", "0.25",
                  "--no-graph")
    config = retrieval.memory_config(args, tmp_path)
    assert (config.recall.primary, config.recall.head) == (None, 0)
    assert config.recall.lead == RecallConfig.multi_hop().lead  # ignored without a primary
    hop = (*base, "--fusion", "multi-hop")
    assert retrieval.memory_config(_parse(*hop, "--lead", "none"), tmp_path).recall.lead == ()
    assert retrieval.memory_config(_parse(*hop, "--lead", "graph, turns"), tmp_path).recall.lead == ("graph", "turns")
    assert config.graph.lexical_weight == 0.25 and not config.graph.enabled


def test_locomo_turn_window_flag(tmp_path: Path) -> None:
    from agentmem.config import MemoryConfig

    assert locomo.memory_config(_parse("locomo", "--data", "x.json"), tmp_path).turn_window == MemoryConfig().turn_window
    assert locomo.memory_config(_parse("locomo", "--data", "x.json", "--turn-window", "0"), tmp_path).turn_window == 0


def test_bench_turn_vectors_on_a_small_conversation(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    import json

    from agentmem.bench import turn_vectors

    session = [{"speaker": "Ana", "dia_id": "D1:1", "text": "Did you book the hiking trip to Sintra?"},
               {"speaker": "Ben", "dia_id": "D1:2", "text": "Yes, last Tuesday!"},
               {"speaker": "Ana", "dia_id": "D1:3", "text": "I bought a new blue raincoat for it."}]
    data = [{"sample_id": "tiny", "conversation": {"session_1": session, "session_1_date_time": "1:56 pm on 8 May, 2023"},
             "qa": [{"question": "When was the Sintra trip booked?", "category": 2, "evidence": ["D1:2"]},
                    {"question": "What colour is Ana's raincoat?", "category": 4, "evidence": ["D1:3"]}]}]
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    out = turn_vectors.run(_parse("turn-vectors", "--data", str(path), "--windows", "64"))
    assert out["questions"] == 2
    rows = out["recall"]
    assert set(rows) == {"alone", "alone + text view", "alone + vector view", "window 64", "window 64 + vector view",
                         "window 64, turn by turn"}
    assert all(r["R@5"] == 100.0 for r in rows.values())  # three turns: everything is in the top 5
    assert out["tokens"]["alone + text view"] > out["tokens"]["alone"] > 0
