"""The episode stream through ``Memory``: turns a crash kept from ``on_add`` are fed later, in
order; a late ``on_add`` adds nothing twice; an update refeeds its text once; two writers of
one user lose no turns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from _episode_texts import TOPICS, stream_texts

from agentmem.config import EpisodeConfig
from agentmem.mechanisms.base import Candidate, Query
from agentmem.types import Scope, Turn


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
