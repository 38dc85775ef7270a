"""Episodes as context: ``recall`` packs a hit's whole episode when it fits the budget."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agentmem.config import EpisodeConfig, RecallConfig
from agentmem.mechanisms.base import Candidate
from agentmem.recall.pack import episode_spans_of, pack_context
from agentmem.recall.tokens import TiktokenCounter
from agentmem.types import Hit, Scope


def hit(i: int, text: str = "a short line") -> Hit:
    return Hit(f"t{i}", "turn", text, 1.0 / (i + 1), Scope("t", "u"), datetime(2024, 1, 1 + i, tzinfo=UTC),
               speaker="Ada", metadata={"seq": i})


def test_episode_spans_of_takes_the_first_covering_episode() -> None:
    eps = [Candidate("e1", "episode", 0.9, "episode", turn_ids=("t1", "t2", "t3")),
           Candidate("e2", "episode", 0.5, "episode", turn_ids=("t3", "t4")),
           Candidate("e3", "episode", 0.4, "episode", turn_ids=("t5",))]
    thought = Hit("x", "thought", "a thought", 1.0, Scope("t", "u"), None)
    assert episode_spans_of([hit(3), hit(4), hit(5), thought], eps) == {"t3": ("t1", "t2", "t3"),
                                                                       "t4": ("t3", "t4")}


def test_pack_brings_the_span_when_it_fits_and_the_hit_alone_when_not() -> None:
    counter = TiktokenCounter()
    spans = {"t2": [hit(1), hit(2), hit(3)]}
    hits = [hit(2), hit(3), hit(7)]
    roomy = pack_context(hits, token_budget=200, counter=counter, spans=spans)
    assert [h.id for h in roomy.hits] == ["t1", "t2", "t3", "t7"]  # chronological, t3 not twice
    assert roomy.dropped == 0 and roomy.tokens == counter.count(roomy.text) <= 200
    one_line = counter.count(pack_context([hit(2)], token_budget=200, counter=counter).text)
    tight = pack_context(hits, token_budget=one_line + 1, counter=counter, spans=spans)
    assert [h.id for h in tight.hits] == ["t2"] and tight.dropped == 2
    assert [h.id for h in pack_context(hits, token_budget=200, counter=counter).hits] == ["t2", "t3", "t7"]


STREAM = [
    "I baked sourdough bread this morning with a new starter.",
    "Did the crust come out crispy after baking it in the dutch oven?",
    "Yes, I preheated the oven to 250 degrees and added steam.",
    "Next time try a longer cold proof of the dough in the fridge.",
    "I also want to make pizza dough with the same flour.",
    "The James Webb telescope captured a new image of a distant galaxy.",
    "How far away is that galaxy from the Milky Way?",
    "About thirteen billion light years, one of the oldest ever seen.",
    "Do astronomers think it has planets like ours?",
    "They cannot resolve planets that far away yet.",
]


def test_recall_packs_the_episode_of_a_hit(make_memory: Any) -> None:
    mem = make_memory(episodes=EpisodeConfig(segmenter="drift", window=4, min_turns=2),
                      recall=RecallConfig(reader=True))
    msgs = [{"speaker": "Ann" if i % 2 == 0 else "Bob", "content": x, "id": f"m{i}",
             "timestamp": datetime(2024, 5, 1, 9, i, tzinfo=UTC).isoformat()} for i, x in enumerate(STREAM)]
    mem.add(msgs, user_id="ann", session_id="s1")
    eps = {t: e.turn_ids for e in mem.episodes(user_id="ann") for t in e.turn_ids}
    hits = mem.search("sourdough bread starter", user_id="ann", k=1)
    pack = mem.recall("sourdough bread starter", user_id="ann", k=1, token_budget=2000)
    assert {h.id for h in pack.hits} == set(eps[hits[0].id]) and len(pack.hits) > 1
    alone = mem.recall("sourdough bread starter", user_id="ann", k=1, token_budget=2000, episode_spans=False)
    assert [h.id for h in alone.hits] == [hits[0].id]
