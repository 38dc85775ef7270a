"""Refinement, sentence splitting, and streaming segmentation equal to the batch path."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from agentmem.errors import ValidationError
from agentmem.mechanisms.episodes.segment.refine import (
    refine_boundaries,
    refine_boundaries_reference,
    split_scores,
)
from agentmem.mechanisms.episodes.segment.scorers import DriftScorer, LMSurpriseScorer, drift_scores
from agentmem.mechanisms.episodes.segment.stream import (
    SegmentParams,
    StreamSegmenter,
    segment_batch,
    split_sentences,
)

REFINERS = [refine_boundaries, refine_boundaries_reference]


def _blocks(sizes: Sequence[int], inside: float = 1.0, across: float = 0.1) -> np.ndarray:
    n = sum(sizes)
    s = np.full((n, n), across)
    at = 0
    for z in sizes:
        s[at : at + z, at : at + z] = inside
        at += z
    return s


# -- refine_boundaries --------------------------------------------------------------------
@pytest.mark.parametrize("fn", REFINERS)
@pytest.mark.parametrize("metric", ["modularity", "conductance"])
def test_refine_moves_to_block_edges(fn, metric) -> None:  # type: ignore[no-untyped-def]
    s = _blocks([4, 3, 5])
    assert fn(s, [2, 9], metric) == [4, 7]


def test_modularity_hand_computed() -> None:
    # Two disconnected edges {0,1}, {2,3}: splitting between them gives Q = 1/2, the known
    # modularity of two equal cliques with no edges between; splitting at 1 gives -1/4 + ...
    a = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=float)
    scores = split_scores(a, "modularity")
    # q=1: parts {0}, {1,2,3}: inner 0 + 2, volumes 1 and 3: (2 - (1 + 9)/4)/4 = -0.125
    assert scores.tolist() == pytest.approx([-0.125, 0.5, -0.125])
    # conductance: q=2 cuts nothing → 0 (best); q=1 cuts 1 of min volume 1 → -1
    assert split_scores(a, "conductance").tolist() == pytest.approx([-1.0, 0.0, -1.0])


@pytest.mark.parametrize("fn", REFINERS)
def test_refine_keeps_boundary_on_ties_and_respects_min_size(fn) -> None:  # type: ignore[no-untyped-def]
    no_edges = -np.ones((8, 8))  # negative similarity is no edge: every split scores the same
    assert fn(no_edges, [3, 5], "modularity") == [3, 5]
    assert fn(no_edges, [3, 5], "conductance") == [3, 5]
    s = _blocks([1, 7])
    assert fn(s, [3], "modularity", min_size=2) == [2]


@pytest.mark.parametrize("metric", ["modularity", "conductance"])
def test_refine_fast_equals_reference(metric) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(4, 40))
        v = rng.normal(size=(n, 6))
        s = v @ v.T
        k = int(rng.integers(1, n // 2 + 1))
        b = sorted(rng.choice(np.arange(1, n), size=k, replace=False).tolist())
        for min_size in (1, 2):
            assert refine_boundaries(s, b, metric, min_size=min_size) == refine_boundaries_reference(
                s, b, metric, min_size=min_size
            )


def test_refine_validates() -> None:
    with pytest.raises(ValidationError):
        refine_boundaries(np.ones((3, 4)), [1])
    with pytest.raises(ValidationError):
        refine_boundaries(np.ones((4, 4)), [2, 2])
    with pytest.raises(ValidationError):
        refine_boundaries(np.ones((4, 4)), [1], "cut")  # type: ignore[arg-type]


# -- sentences and drift ------------------------------------------------------------------
def test_split_sentences() -> None:
    assert split_sentences("short.", 100) == ["short."]
    text = "One two. Three four five. Six. " + "x" * 25
    parts = split_sentences(text, 20)
    assert all(len(p) <= 20 for p in parts)
    assert parts[:2] == ["One two.", "Three four five."]
    assert " ".join(parts).replace(" ", "") == text.replace(" ", "")


def test_drift_scores_hand_computed() -> None:
    v = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # t=1: same direction → 0; t=2: orthogonal to the mean [1, 0] → 1
    assert drift_scores(v, window=2).tolist() == pytest.approx([0.0, 0.0, 1.0])


def test_drift_scorer_incremental_equals_batch() -> None:
    v = np.random.default_rng(1).normal(size=(20, 5))
    whole = DriftScorer(window=3).score([""] * 20, v)
    inc = DriftScorer(window=3)
    parts = [inc.score([""] * 7, v[:7])]
    inc = DriftScorer(window=3, state=inc.state())  # continue in "another process"
    parts.append(inc.score([""] * 13, v[7:]))
    np.testing.assert_allclose(np.concatenate(parts), whole)
    np.testing.assert_allclose(whole, drift_scores(v, window=3))


# -- LM paging ------------------------------------------------------------------------------
class CountingLM:
    """A fake LM whose surprisal encodes its whole input: catches any context mismatch."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def tokenize(self, text: str) -> list[int]:
        return [ord(c) % 50 for c in text]

    def surprisal(self, ids: Sequence[int], *, start: int = 0) -> np.ndarray:
        self.calls.append(len(ids))
        return np.array([len(ids[:t]) * 0.01 + sum(ids[: t + 1]) % 7 for t in range(start, len(ids))], dtype=np.float32)


def test_lm_scorer_pages_bound_context_and_stream_equals_batch() -> None:
    texts = [f"turn number {i} says {'abc' * (i % 5)}" for i in range(40)]
    lm = CountingLM()
    batch = LMSurpriseScorer(lm, context=16, page=64).score(texts, np.zeros((40, 0)))
    assert max(lm.calls) <= 16 + 64
    lm2 = CountingLM()
    sc = LMSurpriseScorer(lm2, context=16, page=64)
    got = []
    for i, x in enumerate(texts):
        if i == 20:  # hand the state to a fresh scorer, as another replica would
            sc = LMSurpriseScorer(lm2, context=16, page=64, state=sc.state())
        got.append(sc.score([x], np.zeros((1, 0)))[0])
    np.testing.assert_allclose(got, batch, rtol=1e-6)
    assert max(lm2.calls) <= 16 + 64
    assert len(sc.state()["ids"]) <= 16 + 64


# -- streaming = batch -----------------------------------------------------------------------
def _topic_stream(rng: np.random.Generator, sizes: Sequence[int], dim: int = 8) -> np.ndarray:
    rows = []
    for z in sizes:
        centre = rng.normal(size=dim)
        rows.append(centre + 0.3 * rng.normal(size=(z, dim)))
    v = np.concatenate(rows)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("refine", ["modularity", "conductance", "off"])
@pytest.mark.parametrize("chunks", [[1], [3, 5, 2], [200]])
@pytest.mark.parametrize("max_tokens", [None, 60])
def test_streaming_equals_batch(refine, chunks, max_tokens) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(7)
    v = _topic_stream(rng, [6, 9, 4, 12, 7, 8])
    params = SegmentParams(window=6, gamma=0.5, min_size=2, max_size=10, refine=refine, max_tokens=max_tokens)
    scores = drift_scores(v, window=3)
    tokens = [int(x) for x in rng.integers(1, 20, size=len(v))]
    want = segment_batch(scores, v, params, tokens)
    if max_tokens is not None:  # the cap cuts something here, and every cuttable episode fits
        assert len(want) > len(segment_batch(scores, v, SegmentParams(
            window=6, gamma=0.5, min_size=2, max_size=10, refine=refine), tokens))
        cuts = [0, *want, len(v)]
        assert all(sum(tokens[a:b]) <= max_tokens or b - a < 4 for a, b in zip(cuts, cuts[1:], strict=False))

    seg = StreamSegmenter(DriftScorer(window=3), params)
    segments = []
    at, i = 0, 0
    while at < len(v):
        step = chunks[i % len(chunks)]
        i += 1
        segments += seg.feed([""] * len(v[at : at + step]), v[at : at + step], tokens[at : at + step])
        at += step
        tail = seg.open_tail()
        covered = (segments[-1].end if segments else 0)
        assert tail is None or tail.start == covered  # final + open tail tile the stream
        if at == 20:  # continue in a fresh segmenter from saved state
            seg = StreamSegmenter(DriftScorer(window=3, state=seg.scorer.state()), params, state=seg.state())
    segments += seg.flush()
    assert [s.start for s in segments[1:]] == want
    assert segments[-1].end == len(v)
    assert np.concatenate([s.scores for s in segments]).tolist() == pytest.approx(scores.tolist())


def test_drift_segmentation_finds_topics() -> None:
    v = _topic_stream(np.random.default_rng(3), [8, 8, 8, 8])
    got = segment_batch(drift_scores(v, window=3), v, SegmentParams(window=6, gamma=1.0, min_size=3, max_size=20))
    assert got == [8, 16, 24]


def test_token_cap_needs_token_counts() -> None:
    params = SegmentParams(window=6, min_size=2, max_size=10, max_tokens=50)
    v = _topic_stream(np.random.default_rng(1), [5, 5])
    with pytest.raises(ValidationError, match="token count"):
        segment_batch(drift_scores(v, window=3), v, params)
    seg = StreamSegmenter(DriftScorer(window=3), params)
    with pytest.raises(ValidationError, match="token count"):
        seg.feed([""] * 3, v[:3])
    with pytest.raises(ValidationError, match="3 units but 2"):
        seg.feed([""] * 3, v[:3], [1, 2])


def test_state_without_token_counts_resumes() -> None:
    """A stream saved before the token cap existed: its pending units count as 0 tokens."""
    v = _topic_stream(np.random.default_rng(2), [6, 6, 6])
    old = StreamSegmenter(DriftScorer(window=3), SegmentParams(window=6, min_size=2, max_size=10))
    old.feed([""] * 9, v[:9])
    state = {k: x for k, x in old.state().items() if k != "tokens"}
    params = SegmentParams(window=6, min_size=2, max_size=10, max_tokens=40)
    seg = StreamSegmenter(DriftScorer(window=3, state=old.scorer.state()), params, state=state)
    done = seg.feed([""] * 9, v[9:], [10] * 9) + seg.flush()
    assert done[-1].end == 18 and all(a.end == b.start for a, b in zip(done, done[1:], strict=False))
