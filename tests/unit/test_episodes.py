"""EpisodeComponent driven directly: storage, streaming across calls and replicas, recall, deletion."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agentmem.config import EpisodeConfig, MemoryConfig
from agentmem.embedding import SentenceTransformerEmbedder
from agentmem.mechanisms.base import Candidate, MemoryComponent, Query, Services, TurnFilter
from agentmem.mechanisms.episodes.component import EpisodeComponent
from agentmem.recall.tokens import TiktokenCounter
from agentmem.store.sql import SqlStore, create_engine
from agentmem.store.vectors import ChromaVectors, open_chroma
from agentmem.types import Scope, Turn

TOPICS = {
    "cooking": [
        "I baked sourdough bread this morning with a new starter.",
        "Did the crust come out crispy after baking it in the dutch oven?",
        "Yes, I preheated the oven to 250 degrees and added steam.",
        "Next time try a longer cold proof of the dough in the fridge.",
        "I also want to make pizza dough with the same flour.",
        "Neapolitan pizza needs a very hot oven and a thin crust.",
        "My tomato sauce recipe uses garlic, basil and olive oil.",
        "Fresh mozzarella and basil on top makes a great margherita pizza.",
    ],
    "space": [
        "The James Webb telescope captured a new image of a distant galaxy.",
        "Its infrared camera can see stars forming inside dust clouds.",
        "How far away is that galaxy from our Milky Way?",
        "About thirteen billion light years, light from the early universe.",
        "Black holes at the centre of galaxies grow by swallowing gas.",
        "Astronomers measure the expansion of the universe with supernovae.",
        "I watched Jupiter and its moons through my backyard telescope.",
        "Saturn's rings were visible too on that clear night sky.",
    ],
    "football": [
        "Our football team won the match three goals to one on Saturday.",
        "The striker scored twice and the goalkeeper saved a penalty.",
        "The coach changed the formation at half time of the game.",
        "Fans in the stadium sang for the whole second half.",
        "Next week they play the league leaders away from home.",
        "The midfielder got a yellow card for a late tackle.",
        "If they win they move up to second place in the league table.",
        "The transfer window opens soon and the club needs a defender.",
    ],
}


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


def stream_texts() -> list[str]:
    return TOPICS["cooking"] + TOPICS["space"] + TOPICS["football"]


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


# -- turns committed before a crash kept on_add from running ---------------------------------
class Interrupted:
    """A component whose ``on_add`` is interrupted (Ctrl-C) at its ``at``-th call: placed before
    the episode component, it leaves that add's turns stored but never fed to the stream."""

    name = "interrupted"

    def __init__(self, at: int) -> None:
        self.calls, self.at = 0, at

    def on_add(self, scope: Scope, turns: object, vectors: object, version: int) -> None:
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt

    def on_delete(self, scope: Scope, turns: object, version: int) -> None:
        pass

    def on_delete_user(self, scope: Scope) -> None:
        pass

    def search(self, query: Query) -> list[Candidate]:
        return []


def messages() -> list[dict[str, object]]:
    t0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    return [{"speaker": "Ann" if i % 2 == 0 else "Bob", "content": x, "id": f"m{i}",
             "timestamp": (t0 + timedelta(minutes=i)).isoformat()} for i, x in enumerate(stream_texts())]


def episode_view(mem: Any, user: str) -> list[tuple[list[str], str]]:
    """The user's episodes with message ids for turn ids (comparable across stores)."""
    ids = {t.id: t.metadata["message_id"] for t in mem.memories(user_id=user)}
    return [([ids[i] for i in e.turn_ids], e.text) for e in mem.episodes(user_id=user)]


def covered(mem: Any, user: str) -> int:
    return sum(len(ids) for ids, _ in episode_view(mem, user))


@pytest.mark.parametrize("then", ["re-add", "next-add"])
def test_turns_a_crash_kept_from_the_stream_are_fed_in_order(make_memory: Any, db_url: str, unique: str,
                                                             then: str) -> None:
    cfg = {"episodes": EpisodeConfig(segmenter="drift", window=6)}
    user, msgs = f"ann-{unique}", messages()
    parts = [msgs[:8], msgs[8:13], msgs[13:]]
    ref = make_memory(**cfg)
    for p in parts:
        ref.add(p, user_id=user, session_id="s1")

    mem = make_memory(db_url, **cfg)
    mem.components.insert(1, Interrupted(at=2))
    mem.add(parts[0], user_id=user, session_id="s1")
    with pytest.raises(KeyboardInterrupt):
        mem.add(parts[1], user_id=user, session_id="s1")
    assert len(mem.memories(user_id=user)) == 13 and covered(mem, user) == 8
    if then == "re-add":  # stores nothing, but the stream catches up on the stored turns
        assert mem.add(parts[1], user_id=user, session_id="s1") == []
        assert covered(mem, user) == 13
    mem.add(parts[2], user_id=user, session_id="s1")  # "next-add": on_add feeds the missed turns first
    assert episode_view(mem, user) == episode_view(ref, user)
    assert mem.add(msgs, user_id=user, session_id="s1") == [] and episode_view(mem, user) == episode_view(ref, user)


def test_a_late_on_add_after_another_writers_catch_up_adds_nothing(make_memory: Any, db_url: str,
                                                                  unique: str) -> None:
    mem = make_memory(db_url, episodes=EpisodeConfig(segmenter="drift", window=6))
    user, msgs = f"ann-{unique}", messages()
    mem.components.insert(1, Interrupted(at=2))
    mem.add(msgs[:8], user_id=user, session_id="s1")
    with pytest.raises(KeyboardInterrupt):  # as if this writer were slow, not dead
        mem.add(msgs[8:16], user_id=user, session_id="s1")
    mem.add(msgs[8:16], user_id=user, session_id="s1")  # another writer meets them: catch-up
    before = episode_view(mem, user)
    assert covered(mem, user) == 16
    late = mem.memories(user_id=user)[8:]
    vectors = mem.services.embedder.embed([t.render() for t in late])
    mem.component("episode").on_add(Scope("default", user, None, "s1"), late, vectors, 0)
    assert episode_view(mem, user) == before


def test_update_refeeds_the_new_text_once(make_memory: Any, db_url: str, unique: str) -> None:
    mem = make_memory(db_url, episodes=EpisodeConfig(segmenter="drift", window=6))
    user = f"ann-{unique}"
    turns = mem.add(messages(), user_id=user, session_id="s1")
    mem.update(turns[3].id, "I switched to baking rye bread instead.", user_id=user)
    eps = mem.episodes(user_id=user)
    texts = "\n".join(e.text for e in eps)
    assert texts.count("rye bread") == 1 and TOPICS["cooking"][3] not in texts
    assert sum(e.turn_ids.count(turns[3].id) for e in eps) == 1


def test_a_writer_that_dies_after_a_slower_commit_loses_no_turns(make_memory: Any, db_url: str,
                                                                 unique: str) -> None:
    """Two writers of one user: A inserts first but commits last (Postgres allocates ``seq`` at
    INSERT), then dies before its ``on_add``. Unless A's commit comes before B's, B's on_add
    takes B's turns alone and moves the stream's ``consumed`` past A's, which no catch-up then
    finds. ``lock_scope`` holds B's insert until A commits."""
    import threading
    import time

    cfg = {"episodes": EpisodeConfig(segmenter="drift", window=6)}
    user, msgs = f"ann-{unique}", messages()
    parts = [msgs[:8], msgs[8:12], msgs[12:16], msgs[16:]]
    ref = make_memory(**cfg)
    for p in parts:
        ref.add(p, user_id=user, session_id="s1")

    a, b = make_memory(db_url, **cfg), make_memory(db_url, **cfg)
    a.add(parts[0], user_id=user, session_id="s1")
    a.components.insert(0, Interrupted(at=1))  # A dies before any component sees its turns
    inserted, go, b_done = threading.Event(), threading.Event(), threading.Event()
    insert_turns = a.services.sql.insert_turns

    def slow_insert(conn: Any, scope: Scope, new: Any) -> list[Turn]:
        got = insert_turns(conn, scope, new)
        inserted.set()
        go.wait(timeout=30)  # A's transaction stays open, its seqs allocated
        return got

    a.services.sql.insert_turns = slow_insert  # type: ignore[method-assign]

    died: list[BaseException] = []

    def writer_a() -> None:
        try:
            a.add(parts[1], user_id=user, session_id="s1")
        except KeyboardInterrupt as exc:
            died.append(exc)

    def writer_b() -> None:
        b.add(parts[2], user_id=user, session_id="s1")
        b_done.set()

    ta = threading.Thread(target=writer_a)
    ta.start()
    assert inserted.wait(timeout=30)
    tb = threading.Thread(target=writer_b)
    tb.start()
    time.sleep(1.0 if db_url.startswith("postgresql") else 0.2)
    b_first = b_done.is_set()  # B must wait for A's commit (SQLite: for its write lock)
    go.set()
    ta.join(timeout=60)
    tb.join(timeout=60)
    assert not b_first
    assert died and b_done.is_set()
    b.add(parts[3], user_id=user, session_id="s1")
    assert covered(b, user) == len(msgs)
    assert episode_view(b, user) == episode_view(ref, user)
