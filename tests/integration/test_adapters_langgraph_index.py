"""AgentMemStore: LangGraph's ``index=`` config, batched puts embedded together, items as
readable text in search and recall; and ``Memory.add`` writing several sessions at once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("langgraph.store.base")

from langgraph.store.base import PutOp  # noqa: E402

from agentmem import EpisodeConfig, Memory, MemoryConfig, ValidationError  # noqa: E402
from agentmem.adapters import AgentMemStore  # noqa: E402


class CountingEmbedder:
    """The session's embedder, counting calls and texts."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: list[int] = []

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        return self.inner.embed(texts)  # type: ignore[no-any-return]


@pytest.fixture
def counted(tmp_path: Path, embedder: Any) -> Iterator[tuple[Memory, CountingEmbedder]]:
    counting = CountingEmbedder(embedder)
    mem = Memory(
        MemoryConfig(home=tmp_path, chroma=str(tmp_path / "chroma"), device="cpu",
                     episodes=EpisodeConfig(segmenter="off")),
        embedder=counting,
    )
    yield mem, counting
    mem.close()


def test_batched_puts_are_embedded_in_one_call(counted: tuple[Memory, CountingEmbedder]) -> None:
    mem, counting = counted
    store = AgentMemStore(mem, user_id="ada")
    counting.calls.clear()
    store.batch([PutOp(("notes",), f"k{i}", {"text": f"note {i}"}) for i in range(50)])
    assert counting.calls[0] == 50  # every put's text in one call; the graph then embeds what it extracted
    assert len(counting.calls) <= 2
    assert sorted(i.key for i in store.search(("notes",), limit=100)) == sorted(f"k{i}" for i in range(50))
    assert store.get(("notes",), "k7").value == {"text": "note 7"}  # type: ignore[union-attr]
    # a key put twice in one batch: the later value wins, and a get after it sees it
    out = store.batch([PutOp(("notes",), "dup", {"text": "first"}), PutOp(("notes",), "dup", {"text": "second"})])
    assert out == [None, None] and store.get(("notes",), "dup").value == {"text": "second"}  # type: ignore[union-attr]
    assert len([t for t in mem.memories(user_id="ada") if t.metadata["langgraph_store"]["key"] == "dup"]) == 1


def test_langgraph_index_config_is_accepted(counted: tuple[Memory, CountingEmbedder]) -> None:
    mem, _ = counted
    store = AgentMemStore(mem, user_id="ada", index={"dims": 384, "fields": ["body"]})
    assert store.fields == ["body"]
    with pytest.warns(UserWarning, match="own embedder"):
        other = AgentMemStore(mem, user_id="ada", index={"dims": 1536, "embed": "openai:text-embedding-3-small"})
    assert other.fields == ["$"]
    with pytest.raises(ValidationError, match="disagree"):
        AgentMemStore(mem, user_id="ada", index={"dims": 384, "fields": ["a"]}, fields=["b"])
    with pytest.raises(ValidationError, match="unknown index"):
        AgentMemStore(mem, user_id="ada", index={"dims": 384, "field": ["a"]})  # type: ignore[typeddict-unknown-key]
    store.put(("docs",), "a", {"title": "t", "body": "spicy ramen with garlic"})
    assert [t.content for t in mem.memories(user_id="ada")] == ["spicy ramen with garlic"]


def test_items_read_as_text_in_search_and_recall(counted: tuple[Memory, CountingEmbedder]) -> None:
    mem, _ = counted
    store = AgentMemStore(mem, user_id="ada")
    store.put(("profile",), "diet", {"allergies": ["peanuts", "shellfish"], "diet": {"kind": "vegetarian"}})
    hits = mem.search("what is she allergic to?", user_id="ada", k=1)
    assert hits[0].text.endswith("allergies: peanuts, shellfish\ndiet.kind: vegetarian")
    pack = mem.recall("what is she allergic to?", user_id="ada", token_budget=200)
    assert "allergies: peanuts, shellfish" in pack.text and "{" not in pack.text


def test_add_writes_each_message_to_its_own_session(counted: tuple[Memory, CountingEmbedder]) -> None:
    mem, counting = counted
    counting.calls.clear()
    added = mem.add(
        [{"role": "user", "content": "in a", "session_id": "a"}, {"role": "user", "content": "in b", "session_id": "b"},
         {"role": "user", "content": "default"}],
        user_id="bo", session_id="c",
    )
    assert [t.scope.session_id for t in added] == ["a", "b", "c"] and counting.calls == [3]
    assert [t.content for t in mem.memories(user_id="bo", session_id="b")] == ["in b"]
    assert mem.add({"role": "user", "content": "in a", "session_id": "a"}, user_id="bo") == []  # idempotent
    with pytest.raises(ValidationError):
        mem.add({"role": "user", "content": "x", "session_id": ""}, user_id="bo")
