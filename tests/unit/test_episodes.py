"""EpisodeComponent driven directly: storage, streaming across calls and replicas, recall, deletion."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from _episode_texts import TOPICS, stream_texts

from agentmem.config import EpisodeConfig, MemoryConfig
from agentmem.embedding import SentenceTransformerEmbedder
from agentmem.mechanisms.base import Candidate, MemoryComponent, Query, Services, TurnFilter
from agentmem.mechanisms.episodes.component import EpisodeComponent
from agentmem.recall.tokens import TiktokenCounter
from agentmem.store.sql import SqlStore, create_engine
from agentmem.store.vectors import ChromaVectors, open_chroma
from agentmem.types import Scope, Turn


class MemoEmbedder:
    """The bundled MiniLM, memoised per text: these tests embed the same sentences often."""

    def __init__(self) -> None:
        self.inner = SentenceTransformerEmbedder()
        self.name = self.inner.name
        self.memo: dict[str, np.ndarray] = {}

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        todo = [x for x in dict.fromkeys(texts) if x not in self.memo]
        if todo:
            self.memo.update(zip(todo, self.inner.embed(todo), strict=True))
        return np.stack([self.memo[x] for x in texts]) if texts else np.zeros((0, self.dim), np.float32)


_EMBEDDER = MemoEmbedder()


@pytest.fixture(scope="module")
def embedder() -> MemoEmbedder:
    return _EMBEDDER


def make_services(tmp_path: Path, embedder: MemoEmbedder, prefix: str | None = None,
                  **episode_kw: object) -> Services:
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = MemoryConfig(home=tmp_path, episodes=EpisodeConfig(**{"segmenter": "drift", **episode_kw}))  # type: ignore[arg-type]
    return Services(
        config=cfg,
        sql=SqlStore(create_engine(f"sqlite:///{tmp_path}/t.db")),
        vectors=ChromaVectors(open_chroma("memory", tmp_path), prefix=prefix or f"t{uuid.uuid4().hex[:8]}"),
        embedder=embedder,  # type: ignore[arg-type]
        tokens=TiktokenCounter(),
    )


def make_turns(scope: Scope, texts: list[str], start_seq: int = 0) -> list[Turn]:
    t0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    return [
        Turn(
            id=uuid.uuid4().hex, scope=scope, content=x, speaker=("Ann" if i % 2 == 0 else "Bob"),
            role="user", timestamp=t0 + timedelta(minutes=start_seq + i), seq=start_seq + i,
            content_hash=uuid.uuid4().hex,
        )
        for i, x in enumerate(texts)
    ]


def feed(comp: EpisodeComponent, services: Services, scope: Scope, turns: list[Turn]) -> None:
    vecs = services.embedder.embed([t.render() for t in turns])
    comp.on_add(scope, turns, vecs, 0)


def query(services: Services, scope: Scope, text: str, **kw: object) -> Query:
    return Query(text=text, vector=services.embedder.embed([text])[0], scope=scope, k=10,
                 versions=services.sql.versions(scope), **kw)  # type: ignore[arg-type]


SCOPE = Scope("default", "ann", None, "s1")


def test_is_a_memory_component(tmp_path: Path, embedder: MemoEmbedder) -> None:
    comp = EpisodeComponent(make_services(tmp_path, embedder))
    assert isinstance(comp, MemoryComponent)
    assert comp.name == "episode" and comp.segmenter == "drift"


def test_episodes_tile_the_stream_and_follow_topics(tmp_path: Path, embedder: MemoEmbedder) -> None:
    s = make_services(tmp_path, embedder, window=6, min_turns=3, max_turns=12)
    comp = EpisodeComponent(s)
    turns = make_turns(SCOPE, stream_texts())
    feed(comp, s, SCOPE, turns)
    eps = comp.episodes(SCOPE.owner())
    covered = [tid for e in eps for tid in e.turn_ids]
    assert covered == [t.id for t in turns]  # every turn once, in order (open tail included)
    starts = {turns.index(next(t for t in turns if t.id == e.turn_ids[0])) for e in eps}
    assert {8, 16} <= starts  # the topic changes are boundaries
    assert all(e.boundary_method == "drift" for e in eps)
    assert eps[0].start == turns[0].timestamp and eps[0].text.startswith("Ann: I baked sourdough")


def test_streaming_calls_and_replicas_equal_one_call(tmp_path: Path, embedder: MemoEmbedder) -> None:
    texts = stream_texts()
    one = make_services(tmp_path / "a", embedder, window=6)
    c1 = EpisodeComponent(one)
    turns = make_turns(SCOPE, texts)
    feed(c1, one, SCOPE, turns)
    want = [[turns.index(next(t for t in turns if t.id == i)) for i in e.turn_ids] for e in c1.episodes(SCOPE.owner())]

    many = make_services(tmp_path / "b", embedder, window=6, prefix="shared")
    turns2 = make_turns(SCOPE, texts)
    pos = {t.id: i for i, t in enumerate(turns2)}
    for i, chunk in enumerate([turns2[:5], turns2[5:6], turns2[6:15], turns2[15:]]):
        # alternate between two components (replicas) over the same database
        services = many if i % 2 == 0 else make_services(tmp_path / "b", embedder, window=6, prefix="shared")
        feed(EpisodeComponent(services), services, SCOPE, chunk)
    got = [[pos[i] for i in e.turn_ids] for e in EpisodeComponent(many).episodes(SCOPE.owner())]
    assert got == want


def test_a_warm_index_is_advanced_by_each_write_to_what_a_rebuild_reads(tmp_path: Path, embedder: MemoEmbedder) -> None:
    """Writes apply to the cached index in place (open tails replaced, new episodes ordered by
    start, then seq, over two sessions) instead of dropping it; it equals the index read afresh
    from SQL and the vector store after every write."""
    s = make_services(tmp_path, embedder, window=6)
    comp = EpisodeComponent(s)
    owner = SCOPE.owner()
    other = Scope("default", "ann", None, "s2")
    texts = stream_texts()
    first, second = make_turns(SCOPE, texts), make_turns(other, texts[::-1], start_seq=3)
    comp.search(query(s, SCOPE, "bread"))
    warm = comp._cache.get(owner, s.sql.versions(owner).get("episode", 0))
    for chunk, scope in [(first[:5], SCOPE), (second[:7], other), (first[5:6], SCOPE), (first[6:15], SCOPE),
                         (second[7:], other), (first[15:], SCOPE)]:
        feed(comp, s, scope, chunk)
        version = s.sql.versions(owner)["episode"]
        got = comp._cache.get(owner, version)
        assert got is warm  # advanced, not rebuilt
        fresh = comp._build(owner)
        assert got.episodes == fresh.episodes and got.position == fresh.position
        np.testing.assert_allclose(got.vectors, fresh.vectors, rtol=0, atol=1e-6)
    assert len(warm.episodes) > 4 and {e.scope.session_id for e in warm.episodes} == {"s1", "s2"}


def test_search_two_stage_and_scoped(tmp_path: Path, embedder: MemoEmbedder) -> None:
    s = make_services(tmp_path, embedder, window=6, k_similar=1, k_contiguous=1)
    comp = EpisodeComponent(s)
    turns = make_turns(SCOPE, stream_texts())
    feed(comp, s, SCOPE, turns)
    eps = comp.episodes(SCOPE.owner())
    got = comp.search(query(s, SCOPE.owner(), "telescope pictures of galaxies and stars"))
    assert all(isinstance(c, Candidate) and c.kind == "episode" and c.signal == "episode" for c in got)
    top = next(e for e in eps if e.id == got[0].id)
    assert "telescope" in top.text and set(got[0].turn_ids) == set(top.turn_ids)
    r = [e.id for e in eps].index(top.id)
    neighbours = {eps[j].id for j in (r - 1, r + 1) if 0 <= j < len(eps)}
    assert {c.id for c in got[1:]} == neighbours  # contiguity: the episodes around it
    chrono = comp.recall(SCOPE.owner(), s.embedder.embed(["telescope galaxies"])[0], k_similar=1)
    assert [e.start for e in chrono] == sorted(e.start for e in chrono)
    # another user, another session filter: nothing
    assert comp.search(query(s, Scope("default", "bob"), "telescope")) == []
    assert comp.search(query(s, SCOPE.owner(), "telescope", filter=TurnFilter(session_id="other"))) == []


def test_delete_reforms_episodes_and_forgets_text(tmp_path: Path, embedder: MemoEmbedder) -> None:
    s = make_services(tmp_path, embedder, window=6)
    comp = EpisodeComponent(s)
    turns = make_turns(SCOPE, stream_texts())
    feed(comp, s, SCOPE, turns)
    first = comp.episodes(SCOPE.owner())[0]
    victim = next(t for t in turns if t.id == first.turn_ids[1])
    last = turns[-1]  # lives in the open tail
    comp.on_delete(SCOPE.owner(), [victim, last], 0)
    eps = comp.episodes(SCOPE.owner())
    assert victim.id not in eps[0].turn_ids and victim.content not in eps[0].text
    assert all(last.id not in e.turn_ids and last.content not in e.text for e in eps)
    # the stream state no longer holds the deleted text either
    import sqlalchemy as sa

    from agentmem.store import schema

    with s.sql.begin() as conn:
        state = conn.execute(sa.select(schema.episode_streams.c.state)).scalar_one()
    assert last.content not in str(state)
    # deleting every turn of an episode drops it
    whole = [t for t in turns if t.id in set(eps[0].turn_ids)]
    comp.on_delete(SCOPE.owner(), whole, 0)
    assert eps[0].id not in {e.id for e in comp.episodes(SCOPE.owner())}
    assert eps[0].id not in {c.id for c in comp.search(query(s, SCOPE.owner(), first.text))}
    # later turns still segment fine
    feed(comp, s, SCOPE, make_turns(SCOPE, TOPICS["cooking"], start_seq=100))
    assert any("pizza" in e.text for e in comp.episodes(SCOPE.owner()))


def test_delete_user(tmp_path: Path, embedder: MemoEmbedder) -> None:
    s = make_services(tmp_path, embedder)
    comp = EpisodeComponent(s)
    other = Scope("default", "zed", None, "s1")
    feed(comp, s, SCOPE, make_turns(SCOPE, stream_texts()))
    feed(comp, s, other, make_turns(other, TOPICS["space"]))
    comp.on_delete_user(SCOPE.owner())
    assert comp.episodes(SCOPE.owner()) == []
    assert s.vectors.fetch("episodes", SCOPE.owner())[0] == []
    assert comp.episodes(other.owner())  # untouched


def test_surprise_without_lm_extra_is_a_clear_error(tmp_path: Path, embedder: MemoEmbedder,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from agentmem.errors import BackendUnavailableError
    from agentmem.mechanisms.episodes.segment import lm

    monkeypatch.setattr(lm, "lm_available", lambda: False)
    assert EpisodeComponent(make_services(tmp_path, embedder, segmenter="auto")).segmenter == "drift"
    with pytest.raises(BackendUnavailableError, match=r"agentmem\[lm\]"):
        EpisodeComponent(make_services(tmp_path, embedder, segmenter="surprise"))


def test_long_turn_is_split(tmp_path: Path, embedder: MemoEmbedder) -> None:
    s = make_services(tmp_path, embedder, window=4, min_turns=2, max_turns=4, max_unit_chars=80)
    comp = EpisodeComponent(s)
    doc = " ".join(TOPICS["cooking"] + TOPICS["football"])
    (turn,) = make_turns(SCOPE, [doc])
    feed(comp, s, SCOPE, [turn])
    eps = comp.episodes(SCOPE.owner())
    assert len(eps) >= 3 and all(e.turn_ids == (turn.id,) for e in eps)
    assert all(len(line) <= 80 + len("Ann: ") for e in eps for line in e.text.split("\n"))
    assert np.isclose(sum(len(e.text.split("\n")) for e in eps), len([p for e in eps for p in e.text.split("\n")]))
