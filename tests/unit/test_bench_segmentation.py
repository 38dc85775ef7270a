"""The segmentation bench's budget rule (similarity + contiguity buffers) and its defaults."""

from __future__ import annotations

import numpy as np
import pytest

from agentmem.bench.segmentation import episode_recall, fixed_boundaries, two_stage_episodes
from agentmem.cli.main import build_parser
from agentmem.config import EpisodeConfig
from agentmem.errors import ValidationError


def test_similarity_buffer_skips_what_does_not_fit() -> None:
    sims = np.array([0.9, 0.8, 0.7, 0.1])
    cost = np.array([6, 5, 3, 1])
    # budget 10: 0 (6), 1 does not fit (11), 2 fits (9), 3 fits (10)
    assert two_stage_episodes(sims, cost, 10, contiguity=0.0) == [0, 2, 3]


def test_contiguity_buffer_takes_neighbours_of_the_similar_episodes() -> None:
    sims = np.array([0.0, 0.1, 0.9, 0.2, 0.3, 0.8])
    cost = np.full(6, 10)
    # similarity buffer 30 - 9 = 21 tokens: episodes 2 and 5; contiguity buffer 9 tokens: nothing
    assert two_stage_episodes(sims, cost, 30, contiguity=0.3) == [2, 5]
    # 40 tokens: similarity 28 (2, 5), contiguity 12: the first neighbour, 1 (before 2)
    assert two_stage_episodes(sims, cost, 40, contiguity=0.3) == [2, 5, 1]
    # contiguity 1.0: no similar episode, hence no neighbour
    assert two_stage_episodes(sims, cost, 40, contiguity=1.0) == []
    with pytest.raises(ValidationError):
        two_stage_episodes(sims, cost, 40, contiguity=1.5)


def test_episode_recall_is_the_share_of_evidence_turns_recalled() -> None:
    vectors = np.eye(4)[[0, 0, 1, 1, 2, 2]].astype(float)
    dia = [f"D{i}" for i in range(6)]
    counts = np.full(6, 5)
    q = np.eye(4)[[1]]
    # episodes [0,2) [2,4) [4,6), 10 tokens each; the question is closest to the middle one
    assert episode_recall([2, 4], vectors, counts, dia, [("q", ["D2", "D1"])], q, 10) == 0.5
    assert episode_recall([2, 4], vectors, counts, dia, [("q", ["D2", "D1"])], q, 20, contiguity=0.5) == 1.0
    assert fixed_boundaries(6, 3) == [2, 4] and fixed_boundaries(5, 1) == []


def test_segmentation_defaults_are_the_engine_defaults() -> None:
    args = build_parser().parse_args(["bench", "segmentation"])
    cfg = EpisodeConfig()
    assert (args.dtype, args.context, args.page) == (cfg.lm_dtype, cfg.lm_context, cfg.lm_page)
    assert (args.gamma, args.window, args.min_size, args.max_size, args.refine, args.max_tokens) == (
        cfg.gamma, cfg.window, cfg.min_turns, cfg.max_turns, cfg.refine, cfg.max_tokens,
    )


def test_fixed_grid_at_phase_zero_is_the_old_grid() -> None:
    # the grid before phases existed; i * n / k hits exact .5 ties (e.g. 419 / 55 * ...)
    for n, k in ((419, 55), (369, 42), (663, 86), (629, 86), (680, 92), (7, 2), (5, 9)):
        kk = max(1, min(k, n))
        assert fixed_boundaries(n, k) == sorted({round(i * n / kk) for i in range(1, kk)})
        for phase in (0.25, 0.5, 0.75) if n >= 2 * k else ():  # chunks of >= 2 items keep one
            assert len(fixed_boundaries(n, k, phase)) == len(fixed_boundaries(n, k))
