"""Batched LM surprise: padded multi-window forward passes equal one window at a time (fp32, CPU),
the scorer's windows are predicted exactly, and ``agentmem index`` uses the batched path."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from _tiny_lm import save_tiny_lm, tiny_llama  # noqa: E402

from agentmem import Memory, MemoryConfig  # noqa: E402
from agentmem.batch import IndexOptions, run_index  # noqa: E402
from agentmem.batch.pipeline import store_conversation  # noqa: E402
from agentmem.batch.readers import Conversation, read_paths  # noqa: E402
from agentmem.batch.surprise import PrecomputedSurprisal, predicted_units, predicted_windows  # noqa: E402
from agentmem.config import EpisodeConfig  # noqa: E402
from agentmem.errors import ConfigError  # noqa: E402
from agentmem.mechanisms.episodes.segment.lm import CausalLM  # noqa: E402
from agentmem.mechanisms.episodes.segment.scorers import LMSurpriseScorer  # noqa: E402

FIX = Path(__file__).resolve().parents[1] / "fixtures_batch"


def _gemma3() -> Any:
    """Gemma 3's architecture (sliding-window layers, soft cap): what the bundled LM is."""
    torch.manual_seed(0)
    cfg = transformers.Gemma3TextConfig(
        vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, sliding_window=16, max_position_embeddings=256,
        final_logit_softcapping=30.0)
    return transformers.Gemma3ForCausalLM(cfg)


class _CharTokenizer:
    bos_token_id, eos_token_id = 1, 2

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [3 + (ord(c) % 60) for c in text]}


def _lm(model: Any) -> CausalLM:
    return CausalLM(model.float(), _CharTokenizer(), name="tiny")


@pytest.mark.parametrize("make", [tiny_llama, _gemma3], ids=["llama", "gemma3"])
def test_surprisal_batch_equals_one_window_at_a_time(make: Any) -> None:
    lm = _lm(make())
    rng = np.random.default_rng(0)
    vocab = lm.model.config.vocab_size
    windows = [(rng.integers(3, vocab, n).tolist(), s) for n, s in
               [(40, 0), (7, 3), (40, 40), (1, 0), (25, 10), (60, 59), (33, 0), (12, 5)]]
    want = [lm.surprisal(ids, start=s) for ids, s in windows]
    for budget in (16_384, 90):  # one batch; several (longest first, cut by the token budget)
        got = lm.surprisal_batch(windows, max_batch_tokens=budget)
        assert [len(g) for g in got] == [len(w) for w in want]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError):
        lm.surprisal_batch([([3] * 300, 0)])
    with pytest.raises(ConfigError):
        lm.surprisal_batch([([3, 4], 3)])


class _OneAtATime:
    """Hides ``surprisal_batch``: the scorer's unbatched path, and a log of its windows."""

    def __init__(self, lm: CausalLM) -> None:
        self.lm, self.name, self.windows = lm, lm.name, []  # type: ignore[var-annotated]

    def tokenize(self, text: str) -> list[int]:
        return self.lm.tokenize(text)

    def surprisal(self, ids: Sequence[int], *, start: int = 0) -> np.ndarray:
        self.windows.append((tuple(ids), start))
        return self.lm.surprisal(ids, start=start)


def test_scorer_pages_batched_equal_unbatched_and_are_predicted() -> None:
    lm = _lm(tiny_llama())
    plain = _OneAtATime(lm)
    calls = [["ab cd", "efg hij klm"], ["n" * 30, "op"], ["q" * 70], ["rs tu vw"] * 3]
    one = LMSurpriseScorer(plain, context=8, page=16)
    many = LMSurpriseScorer(lm, context=8, page=16)  # CausalLM.surprisal_batch: all pages of a call at once
    for texts in calls:
        np.testing.assert_allclose(many.score(texts, np.zeros((len(texts), 1))),
                                   one.score(texts, np.zeros((len(texts), 1))), rtol=1e-5, atol=1e-6)
    assert many.state() == one.state()
    assert predicted_windows(calls, plain.tokenize, context=8, page=16) == plain.windows


def test_precomputed_surprisal_answers_given_windows_and_scores_the_rest() -> None:
    lm = _lm(tiny_llama())
    pre = PrecomputedSurprisal(lm)
    given = [((5, 6, 7, 8), 1)]
    pre.provide(given, [np.array([9.0, 9.0, 9.0], dtype=np.float32)])
    got = pre.surprisal_batch([((5, 6, 7, 8), 1), ((5, 6, 7, 9), 0)])
    np.testing.assert_array_equal(got[0], [9.0, 9.0, 9.0])
    np.testing.assert_allclose(got[1], lm.surprisal([5, 6, 7, 9]), rtol=1e-6)
    assert (pre.hits, pre.misses) == (1, 1)
    pre.release(given)
    np.testing.assert_allclose(pre.surprisal([5, 6, 7, 8], start=1), lm.surprisal([5, 6, 7, 8], start=1))


def test_a_window_two_chunks_provided_stays_until_both_release_it() -> None:
    lm = _lm(tiny_llama())
    pre = PrecomputedSurprisal(lm)
    window = [((5, 6, 7, 8), 1)]
    pre.provide(window, [np.array([9.0, 9.0, 9.0], dtype=np.float32)])  # chunk 1
    pre.provide(window, [np.array([9.0, 9.0, 9.0], dtype=np.float32)])  # chunk 2, prepared ahead
    pre.release(window)  # chunk 1 stored
    np.testing.assert_array_equal(pre.surprisal([5, 6, 7, 8], start=1), [9.0, 9.0, 9.0])
    pre.release(window)  # chunk 2 stored
    assert (pre.hits, pre.misses) == (1, 0)
    np.testing.assert_allclose(pre.surprisal([5, 6, 7, 8], start=1), lm.surprisal([5, 6, 7, 8], start=1))
    assert pre.misses == 1


def test_predicted_units_split_long_turns_like_the_episode_component() -> None:
    msgs = [{"role": "user", "content": "Short one.", "speaker": "Ana", "timestamp": "2024-01-01T00:00:00Z"},
            {"role": "user", "content": "A long first sentence here. " * 4, "speaker": "Ben",
             "timestamp": "2024-01-01T00:01:00Z"},
            {"role": "user", "content": "", "timestamp": "2024-01-01T00:02:00Z"}]
    units = predicted_units(msgs, max_unit_chars=60)
    assert units[0] == "Ana: Short one." and len(units) == 3 and all(u.startswith("Ben: ") for u in units[1:])


@pytest.fixture(scope="module")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))


def _episodes(home: Path, embedder: Any, lm_dir: Path) -> list[tuple[Any, ...]]:
    mem = Memory(_config(home, lm_dir), embedder=embedder)
    try:
        eps = mem.episodes(user_id="conv-t1") + mem.episodes(user_id="conv-t2")
        return sorted((e.scope.session_id, len(e.turn_ids), e.text, round(e.surprise_mean, 5)) for e in eps)
    finally:
        mem.close()


def _config(home: Path, lm_dir: Path) -> MemoryConfig:
    return MemoryConfig(home=home, device="cpu", episodes=EpisodeConfig(
        segmenter="surprise", lm=str(lm_dir), lm_dtype="float32", lm_context=4, lm_page=8, window=3,
        min_turns=1, max_turns=4, max_unit_chars=40))


def test_index_scores_surprise_in_batches_with_the_same_episodes(tmp_path: Path, embedder: Any,
                                                                 tiny_lm_dir: Path) -> None:
    archive = FIX / "locomo.json"
    s = run_index(IndexOptions(paths=(str(archive),), chunk_turns=64), _config(tmp_path / "a", tiny_lm_dir),
                  embedder=embedder)
    assert s.counts["surprise_windows_batched"] > 0 and s.counts["surprise_prediction_misses"] == 0
    mem = Memory(_config(tmp_path / "b", tiny_lm_dir), embedder=embedder)  # Memory.add, one stream at a time
    try:
        for rec in read_paths([archive], "locomo"):
            if isinstance(rec, Conversation):
                store_conversation(mem, rec, user=None, tenant="default")
    finally:
        mem.close()
    batched = _episodes(tmp_path / "a", embedder, tiny_lm_dir)
    assert batched and batched == _episodes(tmp_path / "b", embedder, tiny_lm_dir)
