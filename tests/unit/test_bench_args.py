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
