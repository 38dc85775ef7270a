"""Turn vectors read in windows (late chunking): the packing, the batched forward against the
one-window-at-a-time reference, and what ``Memory.add`` stores for a session written at once,
turn by turn, and with windows off."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agentmem import Memory, MemoryConfig
from agentmem._packing import runs
from agentmem._windows import (
    embed_windows,
    embed_windows_reference,
    parse_window_keys,
    window_ids,
    window_keys,
)
from agentmem.batch.feed import embed_planned
from agentmem.config import EpisodeConfig, GraphConfig
from agentmem.errors import ConfigError
from agentmem.mechanisms.turns.late import fill_context, plan_windows, turn_vectors
from agentmem.types import Scope, Turn

TEXTS = [
    "[2023-05-08] Ana: Did you book the hiking trip to Sintra?",
    "[2023-05-08] Ben: Yes, last Tuesday!",
    "[2023-05-08] Ana: Great, which trail are we taking?",
    "[2023-05-08] Ben: The one past the Moorish castle, about twelve kilometres with a picnic stop.",
]


def _pack_reference(lengths: list[int], room: int) -> list[list[int]]:
    runs: list[list[int]] = []
    for i, n in enumerate(lengths):
        if runs and sum(lengths[j] for j in runs[-1]) + n <= room:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


@pytest.mark.parametrize("seed", range(5))
def test_pack_matches_a_reference_and_covers_every_position_once(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lengths = [int(x) for x in rng.integers(1, 90, size=40)]
    got = runs(lengths, 126)
    assert got == _pack_reference(lengths, 126)
    assert [i for r in got for i in r] == list(range(40))
    assert all(len(r) == 1 or sum(lengths[i] for i in r) <= 126 for r in got)
    assert runs([], 126) == [] and runs([500], 126) == [[0]]
    assert fill_context([10, 10, 200, 5], 25) == 2 and fill_context([], 5) == 0


def _turn(k: int, text: str, session: str | None = "s", role: str = "user") -> Turn:
    return Turn(id=f"t{k}", scope=Scope("default", "u", session_id=session), content=text, speaker="Ana",
                role=role, timestamp=datetime(2024, 1, 1, tzinfo=UTC), seq=k, content_hash=str(k))


def test_plan_windows_keeps_sessions_apart_and_reads_stored_turns_first() -> None:
    turns = [_turn(0, "a " * 60), _turn(1, "b " * 60, session="x"), _turn(2, "c " * 60),
             _turn(3, "d " * 60), _turn(4, "doc", role="document"), _turn(5, "e", session=None)]
    stored = [_turn(-1, "old " * 10), _turn(-2, "older " * 30)]
    asked: list[tuple[str, int]] = []

    def previous(t: Turn, n: int) -> list[Turn]:
        asked.append((t.id, n))
        return stored if t.scope.session_id == "s" else []

    counts = lambda texts: [len(t.split()) for t in texts]  # noqa: E731
    plan = plan_windows(turns, counts, previous, 128)
    # session s: its three turns (62 tokens each) make runs [0, 2] and [3]; the first run has
    # 126 - 124 = 2 tokens of room, too few for the nearest stored turn (12)
    assert plan.alone == [1, 3, 4, 5]  # x's only turn, the last run of s, the document, no session
    assert plan.windows == [([], [0, 2])]
    assert ("t0", 16) in asked
    # one short new turn: the stored turns fill the rest of its window, oldest first
    short = [_turn(7, "f")]
    plan = plan_windows(short, counts, previous, 128)
    assert plan.windows == [([stored[1].render(), stored[0].render()], [0])] and plan.alone == []
    assert plan_windows(short, counts, previous, 0).alone == [0]


def test_batched_windows_match_the_reference_and_context_changes_the_vector(embedder: Any) -> None:
    model = embedder._load()
    windows = [([], TEXTS), ([TEXTS[0]], [TEXTS[1]]), ([], TEXTS[2:]), (TEXTS[:2], TEXTS[2:3])]
    got = embed_windows(model, windows, batch_size=3)
    want = embed_windows_reference(model, windows)
    assert got.shape == (8, embedder.dim) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(embedder.embed_windows(windows), got, atol=1e-6)
    # "Yes, last Tuesday!" read after the question is closer to the trip than read alone
    trip = embedder.embed(["booking the hiking trip to Sintra"])[0]
    alone = embedder.embed([TEXTS[1]])[0]
    assert float(got[1] @ trip) > float(alone @ trip) + 0.1
    assert embedder.token_counts(TEXTS[:2]) == [len(x) for x in model.tokenizer(TEXTS[:2], add_special_tokens=False)["input_ids"]]


def test_window_ids_spans_and_truncation(embedder: Any) -> None:
    tok = embedder._load().tokenizer
    ids, spans = window_ids(tok, (["one two"], ["three", "four five six"]), 512)
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert [tok.decode(ids[a:b]) for a, b in spans] == ["three", "four five six"]
    ids, spans = window_ids(tok, ([], ["word " * 20, "cut away"]), 8)
    assert len(ids) == 8 and all(1 <= a < b <= 7 for a, b in spans)


def _memory(tmp_path: Path, embedder: Any, **kw: Any) -> Memory:
    return Memory(MemoryConfig(home=tmp_path, device="cpu", graph=GraphConfig(enabled=False),
                               episodes=EpisodeConfig(segmenter="off"), **kw), embedder=embedder)


def _stored(mem: Memory, user: str) -> dict[str, np.ndarray]:
    turns = mem.memories(user_id=user)
    ids, vecs = mem.services.vectors.fetch("turns", Scope("default", user), [t.id for t in turns])
    by_id = dict(zip(ids, vecs, strict=True))
    return {t.content: np.asarray(by_id[t.id]) for t in turns}


def _messages(texts: list[str]) -> list[dict[str, Any]]:
    return [{"speaker": t.split("] ")[1].split(":")[0], "content": t.split(": ", 1)[1],
             "timestamp": "2023-05-08T10:00:00Z"} for t in texts]


def test_a_session_written_at_once_is_read_in_one_window(tmp_path: Path, embedder: Any) -> None:
    mem = _memory(tmp_path, embedder)
    try:
        mem.add(_messages(TEXTS), user_id="u", session_id="s")
        got = _stored(mem, "u")
        want = embedder.embed_windows([([], TEXTS)])
        for text, row in zip(TEXTS, want, strict=True):
            np.testing.assert_allclose(got[text.split(": ", 1)[1]], row, atol=1e-5)
        # the plan of the same messages for another user names the window, not the renderings
        plan = mem.maintenance.plan(_messages(TEXTS), user_id="v", session_id="s")
        assert plan.texts == window_keys(([], TEXTS)) and not any(t in plan.texts for t in TEXTS)
        np.testing.assert_allclose(embed_planned(embedder, ["a plain text", *plan.texts])[1:], want, atol=1e-5)
        np.testing.assert_allclose(embed_planned(embedder, ["a plain text"]), embedder.embed(["a plain text"]),
                                   atol=1e-6)
        # a write given the planned vectors stores them instead of reading the window again
        given = dict(zip(plan.texts, np.roll(want, 1, axis=1), strict=True))
        mem.add(_messages(TEXTS), user_id="v", session_id="s", vectors=given)
        for text, row in zip(TEXTS, np.roll(want, 1, axis=1), strict=True):
            np.testing.assert_allclose(_stored(mem, "v")[text.split(": ", 1)[1]], row, atol=1e-6)
    finally:
        mem.close()


def test_turn_by_turn_each_turn_is_read_after_its_stored_predecessors(tmp_path: Path, embedder: Any) -> None:
    mem = _memory(tmp_path, embedder)
    try:
        for m in _messages(TEXTS):
            mem.add([m], user_id="u", session_id="s")
        got = _stored(mem, "u")
        np.testing.assert_allclose(got["Did you book the hiking trip to Sintra?"], embedder.embed(TEXTS[:1])[0],
                                   atol=1e-5)  # nothing before it: embedded alone
        for i in range(1, 4):
            want = embedder.embed_windows([(TEXTS[:i], [TEXTS[i]])])[0]
            np.testing.assert_allclose(got[TEXTS[i].split(": ", 1)[1]], want, atol=1e-5)
        hits = mem.search("When was the Sintra trip booked?", user_id="u", k=2)
        assert "Yes, last Tuesday!" in [h.text for h in hits]
        # an edit reads the new text after the stored predecessors
        reply = next(t for t in mem.memories(user_id="u") if t.content == "Yes, last Tuesday!")
        after = mem.update(reply.id, "Yes, on Monday!", user_id="u")
        want = embedder.embed_windows([(TEXTS[:1], [after.render()])])[0]
        np.testing.assert_allclose(_stored(mem, "u")["Yes, on Monday!"], want, atol=1e-5)
    finally:
        mem.close()


def test_windows_off_and_embedders_without_windows_embed_each_turn_alone(tmp_path: Path, embedder: Any) -> None:
    mem = _memory(tmp_path, embedder, turn_window=0)
    try:
        mem.add(_messages(TEXTS), user_id="u", session_id="s")
        got = _stored(mem, "u")
        for text, row in zip(TEXTS, embedder.embed(TEXTS), strict=True):
            np.testing.assert_allclose(got[text.split(": ", 1)[1]], row, atol=1e-5)
    finally:
        mem.close()

    class Plain:
        name, dim = "plain", 3

        def embed(self, texts: Any) -> np.ndarray:
            return np.tile(np.array([[1.0, 0.0, 0.0]], dtype=np.float32), (len(texts), 1))

    turns = [_turn(0, "a"), _turn(1, "b")]
    assert turn_vectors(Plain(), turns, lambda t, n: [], 128).shape == (2, 3)
    with pytest.raises(ConfigError, match="turn_window"):
        MemoryConfig(turn_window=-1)


def test_window_keys_name_each_text_of_a_window_once(embedder: Any) -> None:
    a, b = window_keys((["ctx"], ["x", "y"])), window_keys(([], ["z"]))
    assert len(set(a + b)) == 3
    plain, windows = parse_window_keys(["p", a[1], b[0], "q", a[0], a[1]])
    assert plain == [0, 3] and windows == [(["ctx"], ["x", "y"]), ([], ["z"])]
    got = embed_planned(embedder, ["p", a[1], b[0], "q", a[0], a[1]])
    want = embedder.embed_windows(windows)
    np.testing.assert_allclose(got[[4, 1, 5, 2]], want[[0, 1, 1, 2]], atol=1e-6)
    np.testing.assert_allclose(got[[0, 3]], embedder.embed(["p", "q"]), atol=1e-5)


def test_only_mean_pooled_models_with_start_and_end_tokens_read_windows(embedder: Any) -> None:
    from agentmem._windows import reads_windows

    assert reads_windows(embedder._load()) and embedder.reads_windows

    class Transformer:
        pass

    class Pooling:
        def __init__(self, mode: str) -> None:
            self.pooling_mode = mode

    class Tok:
        cls_token_id, sep_token_id = 101, 102

    class Model(list):  # type: ignore[type-arg]
        tokenizer = Tok()

    assert reads_windows(Model([Transformer(), Pooling("mean")]))
    assert not reads_windows(Model([Transformer(), Pooling("cls")]))
    assert not reads_windows(Model([Transformer(), Pooling("mean"), Transformer()]))
    Model.tokenizer = object()  # type: ignore[assignment]
    assert not reads_windows(Model([Transformer(), Pooling("mean")]))
    assert not reads_windows(object())


def test_counting_tokens_while_another_thread_embeds_keeps_its_padding(embedder: Any) -> None:
    import threading

    texts = [f"text {'word ' * (i % 7)}{i}" for i in range(40)]  # uneven lengths: encode pads
    want = embedder.embed(texts)
    errors: list[BaseException] = []
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            embedder.token_counts(["a", "a much longer text than the other one"])

    t = threading.Thread(target=count)
    t.start()
    try:
        for _ in range(15):
            np.testing.assert_allclose(embedder.embed(texts), want, atol=1e-5)
    except BaseException as exc:  # noqa: BLE001 - reported below, after the thread stops
        errors.append(exc)
    finally:
        stop.set()
        t.join()
    assert not errors, errors[0]
