"""The local LM loader: a tiny random transformers model (fast) and the bundled Gemma GGUF (slow)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from agentmem.config import EpisodeConfig  # noqa: E402
from agentmem.errors import ConfigError  # noqa: E402
from agentmem.kernels.surprisal import token_surprisal  # noqa: E402
from agentmem.mechanisms.episodes.segment.lm import (  # noqa: E402
    as_surprisal_lm,
    lm_available,
    load_logits_model,
    native_bf16,
    resolve_lm_dtype,
)
from agentmem.mechanisms.episodes.segment.scorers import LMSurpriseScorer  # noqa: E402

WORDS = ["the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "sofa", "bread", "oven", "star", "galaxy", "team", "goal"]


@pytest.fixture(scope="module")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama with a word-level tokenizer, saved like any HF model dir."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    path = tmp_path_factory.mktemp("tiny-lm")
    vocab = {w: i for i, w in enumerate(["[UNK]", "<s>", "</s>", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="[UNK]"
    )
    fast.save_pretrained(path)
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
        bos_token_id=1, eos_token_id=2, tie_word_embeddings=False,
    )
    transformers.LlamaForCausalLM(cfg).save_pretrained(path)
    return path


def test_tiny_lm_surprisal_matches_logits(tiny_lm_dir: Path, tmp_path: Path) -> None:
    lm = load_logits_model(str(tiny_lm_dir), home=tmp_path)
    assert lm.max_context == 128
    ids = lm.tokenize("the cat sat on the mat")
    assert len(ids) == 6 and lm.tokenize("zebra") == [0]
    got = lm.surprisal(ids)
    z = lm.logits([1, *ids])  # BOS first, as surprisal() does
    want = token_surprisal(z[:-1], torch.tensor(ids)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert got.shape == (6,) and np.all(got > 0)
    with pytest.raises(ConfigError):
        lm.surprisal([3] * 200)


def test_surprisal_from_start_scores_only_the_suffix(tiny_lm_dir: Path, tmp_path: Path) -> None:
    lm = load_logits_model(str(tiny_lm_dir), home=tmp_path)
    ids = lm.tokenize("the cat sat on the mat under the star")
    whole = lm.surprisal(ids)
    for start in (1, 4, len(ids)):
        np.testing.assert_allclose(lm.surprisal(ids, start=start), whole[start:], rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError):
        lm.surprisal(ids, start=len(ids) + 1)


def test_lm_dtype_auto_is_bf16_only_with_native_bf16(tiny_lm_dir: Path, tmp_path: Path) -> None:
    want = "bfloat16" if native_bf16("cpu") else "float32"
    assert resolve_lm_dtype("auto", "cpu") == want
    assert [resolve_lm_dtype(d) for d in ("float32", "bfloat16")] == ["float32", "bfloat16"]
    with pytest.raises(ConfigError):
        resolve_lm_dtype("int8")
    with pytest.raises(ConfigError):
        EpisodeConfig(lm_dtype="int8")  # type: ignore[arg-type]
    assert EpisodeConfig().lm_dtype == "auto" and EpisodeConfig(lm_dtype="bfloat16").lm_dtype == "bfloat16"
    lm = load_logits_model(str(tiny_lm_dir), home=tmp_path, dtype="auto")
    assert next(lm.model.parameters()).dtype == getattr(torch, want)
    assert load_logits_model(str(tiny_lm_dir), home=tmp_path, dtype=want) is lm  # one copy per resolved dtype


def test_logits_only_model_adapter(tiny_lm_dir: Path, tmp_path: Path) -> None:
    lm = load_logits_model(str(tiny_lm_dir), home=tmp_path)

    class LogitsOnly:  # just the LogitsModel protocol
        name, max_context = "plain", 128

        def tokenize(self, text: str) -> list[int]:
            return lm.tokenize(text)

        def logits(self, ids: Sequence[int]) -> torch.Tensor:
            return lm.logits(ids)

    ad = as_surprisal_lm(LogitsOnly())  # type: ignore[arg-type]
    ids = lm.tokenize("the dog ran under the sofa")
    s = ad.surprisal(ids)
    assert np.isnan(s[0])
    np.testing.assert_allclose(ad.surprisal(ids, start=2), s[2:], rtol=1e-5, atol=1e-6)
    assert ad.surprisal(ids, start=len(ids)).shape == (0,)
    np.testing.assert_allclose(s[1:], lm.logits(ids)[:-1].log_softmax(-1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0].neg().numpy(), rtol=1e-4, atol=1e-5)
    assert np.isfinite(LMSurpriseScorer(ad, context=4, page=8).score(["the cat sat", "on the mat"], np.zeros((2, 0)))).all()


def test_streaming_lm_scores_equal_batch(tiny_lm_dir: Path, tmp_path: Path) -> None:
    lm = load_logits_model(str(tiny_lm_dir), home=tmp_path)
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 9)))) for _ in range(30)]
    batch = LMSurpriseScorer(lm, context=8, page=16).score(texts, np.zeros((30, 0)))
    sc = LMSurpriseScorer(lm, context=8, page=16)
    one = np.concatenate([sc.score([x], np.zeros((1, 0))) for x in texts])
    np.testing.assert_allclose(one, batch, rtol=1e-4, atol=1e-4)


def test_episode_component_with_tiny_lm(tiny_lm_dir: Path, tmp_path: Path) -> None:
    from test_episodes import _EMBEDDER, SCOPE, make_services, make_turns  # type: ignore[import-not-found]

    from agentmem.mechanisms.episodes.component import EpisodeComponent

    s = make_services(tmp_path, _EMBEDDER, segmenter="surprise", lm=str(tiny_lm_dir),
                      window=4, min_turns=2, max_turns=5, lm_context=8, lm_page=16)
    comp = EpisodeComponent(s)
    assert comp.segmenter == "surprise"
    rng = np.random.default_rng(1)
    turns = make_turns(SCOPE, [" ".join(rng.choice(WORDS, size=6)) for _ in range(14)])
    comp.on_add(SCOPE, turns[:9], s.embedder.embed([t.content for t in turns[:9]]), 1)
    comp.on_add(SCOPE, turns[9:], s.embedder.embed([t.content for t in turns[9:]]), 2)
    eps = comp.episodes(SCOPE.owner())
    assert [i for e in eps for i in e.turn_ids] == [t.id for t in turns]
    assert all(e.boundary_method == "surprise" and 2 <= len(e.turn_ids) <= 5 for e in eps[:-1])
    assert all(e.surprise_max >= e.surprise_mean > 0 for e in eps)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.skipif(not lm_available(), reason="needs the lm extra")
def test_bundled_gemma_end_to_end() -> None:
    # A fixed home outside the test's tmp dir: the first run converts the GGUF (30-60 s idle,
    # much longer on a loaded machine), later runs exercise the safetensors cache.
    home = Path(os.environ.get("AGENTMEM_TEST_LM_HOME", Path(tempfile.gettempdir()) / "agentmem-test-lm"))
    lm = load_logits_model(None, home=home, max_context=256)
    assert (home / "models" / "gemma-3-270m-q4_k_m" / "model.safetensors").exists()
    assert lm.name == "gemma3-270m" and lm.max_context == 256
    plain = lm.tokenize("The cat sat on the mat and looked out of the window.")
    shuffled = list(np.random.default_rng(0).permutation(plain))
    assert lm.surprisal(plain).mean() + 2 < lm.surprisal(shuffled).mean()
    z = lm.logits([lm._bos, *plain[:5]])
    np.testing.assert_allclose(
        lm.surprisal(plain[:5]), token_surprisal(z[:-1], torch.tensor(plain[:5])).numpy(), rtol=1e-3, atol=1e-3
    )
    # bf16 weights (the CPU default where AVX512-BF16/AMX exist): close to fp32 token by token
    text = lm.tokenize("Caroline: I went to the support group yesterday and it was so powerful. "
                       "Melanie: That sounds amazing! I'm painting a sunset with my kids this weekend.")
    x, y = lm.surprisal(text), load_logits_model(None, home=home, max_context=256, dtype="bfloat16").surprisal(text)
    assert np.corrcoef(x, y)[0, 1] > 0.999 and np.abs(x - y).max() < 0.5 and abs(x.mean() - y.mean()) < 0.05
    t0 = time.perf_counter()
    lm2 = load_logits_model(None, home=home, max_context=128)  # from the safetensors cache
    assert time.perf_counter() - t0 < 120
    np.testing.assert_allclose(lm2.surprisal(plain[:5]), lm.surprisal(plain[:5]), rtol=1e-4, atol=1e-4)
