from datetime import UTC, datetime

import pytest

from agentmem.config import RecallConfig
from agentmem.errors import ConfigError
from agentmem.mechanisms.base import Candidate
from agentmem.recall.fusion import (
    fuse_candidates,
    head_fusion,
    interleave,
    reciprocal_rank_fusion,
)
from agentmem.recall.pack import HEADER, pack_context
from agentmem.recall.tokens import TiktokenCounter
from agentmem.types import Hit, Scope


def test_rrf_hand_computed() -> None:
    got = reciprocal_rank_fusion({"a": ["x", "y", "z"], "b": ["z", "x"]}, weights={"a": 1.0, "b": 2.0}, k=10)
    want = {"x": 1 / 11 + 2 / 12, "y": 1 / 12, "z": 1 / 13 + 2 / 11}
    assert [d for d, _ in got] == sorted(want, key=lambda d: -want[d])
    for d, s in got:
        assert abs(s - want[d]) < 1e-12


def test_fuse_candidates_records_ranks_and_credits_episode_turns() -> None:
    lists = [
        [Candidate("t1", "turn", 0.9, "dense"), Candidate("t2", "turn", 0.8, "dense"),
         Candidate("t2", "turn", 3.0, "bm25")],
        [Candidate("e1", "episode", 0.7, "episode", turn_ids=("t2", "t3"))],
        [Candidate("th", "thought", 0.95, "thought", text="Ada likes cats")],
    ]
    fused = fuse_candidates(lists, weights={"dense": 1, "bm25": 1, "episode": 0.5, "thought": 1}, k=60)
    by_key = {f.key: f for f in fused}
    assert fused[0].key == ("turn", "t2")  # found by three signals
    assert by_key[("turn", "t2")].ranks == {"dense": 2, "bm25": 1, "episode": 1}
    assert by_key[("turn", "t3")].ranks == {"episode": 1}  # shares the episode's rank
    assert by_key[("thought", "th")].raw == {"thought": 0.95}
    assert abs(by_key[("turn", "t1")].score - 1 / 61) < 1e-12


def test_zero_weight_signal_is_ignored() -> None:
    fused = fuse_candidates([[Candidate("a", "turn", 1.0, "bm25")]], weights={"bm25": 0.0})
    assert fused == []


def test_head_fusion_keeps_the_primary_order_below_the_head() -> None:
    consensus = ["x", "b", "a", "y"]
    primary = ["a", "b", "c", "d"]
    assert head_fusion(consensus, primary, head=0) == ["a", "b", "c", "d", "x", "y"]
    assert head_fusion(consensus, primary, head=1) == ["x", "a", "b", "c", "d", "y"]
    assert head_fusion(consensus, primary, head=2) == ["x", "b", "a", "c", "d", "y"]
    assert head_fusion(consensus, primary, head=10) == consensus + ["c", "d"]
    with pytest.raises(ValueError):
        head_fusion(consensus, primary, head=-1)


def test_fuse_candidates_with_a_primary_signal() -> None:
    graph = [Candidate(f"g{i}", "turn", 1.0 - i / 10, "graph") for i in range(4)]
    turns = [Candidate(t, "turn", s, "turns") for t, s in (("t1", 0.9), ("g3", 0.8), ("g2", 0.7), ("t2", 0.6))]
    weights = {"graph": 1.0, "turns": 1.0}
    rrf = fuse_candidates([turns, graph], weights=weights, k=60)
    assert [f.key[1] for f in rrf] == ["g3", "g2", "t1", "g0", "g1", "t2"]  # agreement first
    fused = fuse_candidates([turns, graph], weights=weights, k=60, primary="graph", head=1)
    # RRF's top record, then graph's order, then what only the other signals found
    assert [f.key[1] for f in fused] == ["g3", "g0", "g1", "g2", "t1", "t2"]
    assert [f.score for f in fused] == [1 / (60 + i) for i in range(1, 7)]
    by_id = {f.key[1]: f for f in fused}
    assert by_id["g3"].ranks == {"turns": 2, "graph": 4}  # provenance as with RRF
    # a primary that did not answer, or has weight 0: plain RRF
    assert [f.key for f in fuse_candidates([turns], weights=weights, primary="graph")] == [
        f.key for f in fuse_candidates([turns], weights=weights)
    ]
    off = fuse_candidates([turns, graph], weights={**weights, "graph": 0.0}, k=60, primary="graph")
    assert [f.key[1] for f in off] == ["t1", "g3", "g2", "t2"]


def test_interleave_takes_each_lists_best_untaken_record_in_turn() -> None:
    assert interleave([["a", "b", "c"], ["a", "b", "d"]]) == ["a", "b", "c", "d"]
    assert interleave([["x"], ["y", "z", "w"], ["z"]]) == ["x", "y", "z", "w"]
    assert interleave([[], []]) == [] and interleave([]) == []


def test_fuse_candidates_with_lead_signals() -> None:
    graph = [Candidate(f"g{i}", "turn", 1.0 - i / 10, "graph") for i in range(4)]
    turns = [Candidate(t, "turn", s, "turns") for t, s in (("t1", 0.9), ("g3", 0.8), ("g2", 0.7))]
    bridge = [Candidate(b, "turn", s, "bridge") for b, s in (("t1", 0.9), ("b1", 0.8), ("g1", 0.7))]
    weights = {"graph": 1.0, "turns": 1.0, "bridge": 0.0}
    lists = [turns, graph + bridge]

    def order(**kw: object) -> list[str]:
        return [f.key[1] for f in fuse_candidates(lists, weights=weights, k=60, primary="graph", **kw)]  # type: ignore[arg-type]

    # turns' best, bridge's best not taken (its first is turns' first), turns' next; then graph
    assert order(head=3, lead=("turns", "bridge")) == ["t1", "b1", "g3", "g0", "g1", "g2"]
    assert order(head=2, lead=("bridge", "turns")) == ["t1", "g3", "g0", "g1", "g2", "b1"]
    # a zero-weight lead signal leads but adds nothing to RRF: without a lead it is left out
    assert "b1" not in order(head=3)
    by_id = {f.key[1]: f for f in fuse_candidates(lists, weights=weights, primary="graph", lead=("bridge",))}
    assert by_id["b1"].ranks == {"bridge": 2} and by_id["g1"].ranks == {"graph": 2, "bridge": 3}
    # leads with fewer records than the head: RRF's order tops it up
    assert order(head=4, lead=("nobody", "bridge")) == ["t1", "b1", "g1", "g3", "g0", "g2"]
    # without a primary, lead does nothing (plain RRF)
    plain = fuse_candidates(lists, weights=weights, k=60)
    assert [f.key for f in fuse_candidates(lists, weights=weights, k=60, lead=("bridge",))] == [f.key for f in plain]


def hit(i: int, text: str, day: int) -> Hit:
    return Hit(f"id{i}", "turn", text, 1.0 / (i + 1), Scope("t", "u"), datetime(2024, 1, day, tzinfo=UTC),
               {"dense": i + 1}, speaker="Ada")


def test_pack_is_chronological_within_budget_with_citations() -> None:
    counter = TiktokenCounter()
    hits = [hit(0, "most relevant, newest", 20), hit(1, "older but relevant", 5), hit(2, "x " * 400, 10)]
    pack = pack_context(hits, token_budget=60, counter=counter)
    assert pack.tokens <= 60 and pack.tokens == counter.count(pack.text)
    assert [h.id for h in pack.hits] == ["id1", "id0"]  # chronological; the long one did not fit
    assert pack.dropped == 1
    assert pack.text.splitlines()[0] == HEADER
    assert pack.text.splitlines()[1].startswith("[1] 2024-01-05 · Ada: older")
    assert [(c.marker, c.id) for c in pack.citations] == [(1, "id1"), (2, "id0")]


def test_pack_tiny_budget_is_empty_not_over() -> None:
    pack = pack_context([hit(0, "hello", 1)], token_budget=3, counter=TiktokenCounter())
    assert pack.text == "" and pack.hits == () and pack.dropped == 1


def test_recall_config_lead_and_what_fusion_reads() -> None:
    default = RecallConfig()
    assert default.reads("bridge")  # the reader reads every signal
    plain = RecallConfig(reader=False)
    assert plain.reads("turns") and plain.reads("some_new_signal")  # unnamed signals weigh 1
    assert not plain.reads("bridge")  # weight 0 and no lead: the graph does not embed it
    hop = RecallConfig.multi_hop()
    assert (hop.primary, hop.lead, hop.head) == ("graph", ("turns", "bridge"), 4) and hop.reads("bridge")
    assert not RecallConfig(lead=("bridge",), reader=False).reads("bridge")  # a lead without a primary leads nothing
    assert RecallConfig.preset("multi-hop") == hop and RecallConfig.preset("default") == default
    with pytest.raises(ConfigError, match="fusion must be one of default, multi-hop"):
        RecallConfig.preset("rrf")
    for bad in ("turns", ("turns", ""), ("turns", 3)):
        with pytest.raises(ConfigError, match="recall.lead"):
            RecallConfig(lead=bad)  # type: ignore[arg-type]
