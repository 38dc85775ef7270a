"""Long turns as passages: the splitter (pure) and the wiring — a message of ~350,000
characters is stored as one turn, every passage embedded and searched, hits cite the turn."""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentmem import Memory, MemoryConfig, ValidationError
from agentmem.mechanisms.turns.passages import PASSAGE_KIND, passage_spans, split_passages


def _covers(text: str, spans: list[tuple[int, int]], size: int) -> None:
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(0 < b - a <= size for a, b in spans)
    for (a0, b0), (a1, _) in zip(spans, spans[1:], strict=False):  # in order, no gap
        assert a0 < a1 <= b0


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab \n"), min_size=0, max_size=600),
       st.integers(4, 80), st.integers(0, 30))
def test_passages_cover_the_text_in_order(text: str, size: int, overlap: int) -> None:
    overlap = min(overlap, size // 2 - 1)
    spans = passage_spans(text, size=size, overlap=overlap)
    if len(text) <= size:
        assert spans == []
    else:
        _covers(text, spans, size)
        assert split_passages(text, size=size, overlap=overlap) == [text[a:b] for a, b in spans]


def test_cuts_fall_at_paragraphs_then_words() -> None:
    text = "alpha beta gamma.\n\nDelta epsilon zeta eta theta iota kappa lambda"
    parts = split_passages(text, size=30, overlap=0)
    assert parts[0] == "alpha beta gamma.\n\n"
    assert all(not re.match(r"\w", p[-1:]) or p is parts[-1] for p in parts)
    with pytest.raises(ValueError):
        split_passages(text, size=10, overlap=5)


class HashingEmbedder:
    """Deterministic bag-of-words vectors: the test is about wiring, not semantics."""

    name = "hashing-test"
    dim = 64

    def __init__(self) -> None:
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"[a-z0-9]+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest()[:8], 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


def _log(n_chars: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = ["error", "retry", "socket", "worker", "timeout", "cache", "flush", "queue", "lease", "shard"]
    lines = []
    size = 0
    while size < n_chars:
        line = f"2026-01-{rng.randint(1, 28):02d} {rng.choice(words)} {rng.choice(words)} id={rng.randint(0, 10**6)}"
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


@pytest.fixture
def memory(tmp_path: Path) -> Any:
    emb = HashingEmbedder()
    mem = Memory(MemoryConfig(home=tmp_path, chroma=str(tmp_path / "chroma"), device="cpu"), embedder=emb)
    yield mem, emb
    mem.close()


def test_a_350k_message_is_one_turn_searched_whole(memory: Any) -> None:
    mem, emb = memory
    needle = "the zanzibar migration checksum is purple walrus"
    long = _log(348_000) + "\n" + needle + "\n"
    assert len(long) > 348_000
    emb.texts = 0
    turns = mem.add([{"role": "user", "content": "here is the log"}, {"role": "assistant", "content": long}],
                    user_id="ada", session_id="s")
    assert len(turns) == 2
    n = len(split_passages(long, size=mem.config.passage_chars, overlap=mem.config.passage_overlap))
    assert n > 300
    ids, _ = mem.services.vectors.fetch(PASSAGE_KIND, turns[1].scope.owner())
    assert len(ids) == n  # every passage embedded and stored, none for the short turn

    hits = mem.search("zanzibar migration checksum purple walrus", user_id="ada", k=3)
    top = hits[0]
    assert top.id == turns[1].id  # the turn is the hit ...
    assert needle in top.text and len(top.text) <= mem.config.passage_chars  # ... showing its passage
    assert top.metadata["passage"] == n - 1 and top.metadata["passages"] == n
    assert top.metadata["chars"] == len(long)
    pack = mem.recall("zanzibar migration checksum purple walrus", user_id="ada", token_budget=400)
    assert needle in pack.text and turns[1].id in {c.id for c in pack.citations}

    # a fresh process builds the index from the stored passage vectors, embedding nothing
    other = Memory(mem.config, embedder=emb)
    emb.texts = 0
    assert other.search("zanzibar migration checksum purple walrus", user_id="ada", k=1)[0].id == turns[1].id
    assert emb.texts == (2 if other.enabled("graph") else 1)  # the query (and the graph's bridge query)
    other.close()

    mem.delete(turns[1].id, user_id="ada")
    assert mem.services.vectors.fetch(PASSAGE_KIND, turns[1].scope.owner())[0] == []
    assert all(h.id != turns[1].id for h in mem.search("zanzibar walrus", user_id="ada", k=3))


def test_the_request_is_limited_not_the_message(tmp_path: Path) -> None:
    mem = Memory(MemoryConfig(home=tmp_path, chroma=str(tmp_path / "chroma"), device="cpu", max_request_chars=50_000,
                              long_turn_chars=50_000), embedder=HashingEmbedder())
    try:
        assert len(mem.add({"role": "user", "content": "x " * 20_000}, user_id="bo")) == 1  # 40,000 characters
        with pytest.raises(ValidationError, match="in all"):
            mem.add([{"role": "user", "content": "y " * 15_000}, {"role": "user", "content": "z " * 15_000}],
                    user_id="bo")
        with pytest.raises(ValidationError):
            mem.add({"role": "user", "content": "w " * 30_000}, user_id="bo")
    finally:
        mem.close()


@pytest.mark.slow
def test_the_end_of_a_long_reply_is_found_with_the_real_embedder(make_memory: Any) -> None:
    mem = make_memory()
    filler = "\n".join(
        f"Step {i}: run the database migration script for shard {i}, verify row counts and rebuild the indexes."
        for i in range(80)
    )
    reply = filler + "\nFinally: your spare house key is hidden under the blue flower pot by the back door."
    assert len(reply) > 8_000
    mem.add([
        {"role": "user", "content": "Give me the full migration runbook."},
        {"role": "assistant", "content": reply},
        {"role": "user", "content": "My sister lives in Porto."},
        {"role": "user", "content": "I locked myself out of my car once."},
    ], user_id="cy", session_id="s")
    hits = mem.search("under which object can I find the extra key to my home?", user_id="cy", k=3)
    assert hits[0].metadata.get("passages", 0) >= 8 and hits[0].metadata["passage"] == hits[0].metadata["passages"] - 1
    assert "blue flower pot" in hits[0].text


def test_import_splits_a_session_into_calls_within_the_request_limit(tmp_path: Path) -> None:
    import io

    mem = Memory(MemoryConfig(home=tmp_path, chroma=str(tmp_path / "chroma"), device="cpu", max_request_chars=50_000,
                              long_turn_chars=50_000), embedder=HashingEmbedder())
    try:
        for word in ("alpha", "beta", "gamma"):  # one session of 60,000 characters in all
            mem.add({"role": "user", "content": f"{word} " * 3_333}, user_id="dee", session_id="s")
        out = io.StringIO()
        assert mem.export(out, user_id="dee") == 3
        assert mem.import_(io.StringIO(out.getvalue()), user_id="eve") == 3
        assert [t.content[:5] for t in mem.memories(user_id="eve")] == ["alpha", "beta ", "gamma"]
    finally:
        mem.close()
