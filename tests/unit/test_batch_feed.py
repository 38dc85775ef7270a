"""The embedding feed (agentmem.batch.feed) and the half-precision embedder it drives.

The feed must give exactly the vectors of the plain ``embed`` path, in input order, and raise
a worker's exception in the consumer; a half-precision model is kept only when it matches
float32 on the probe texts (bf16 math runs on CPU torch, standing in for CUDA's fp16).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from agentmem.batch.feed import embed_batches, pipelined
from agentmem.embedding import SentenceTransformerEmbedder
from agentmem.errors import ConfigError, ValidationError

TEXTS = [(f"word {i} ") * (i % 13 + 1) + "end" for i in range(70)] + ["", "ok", "🙂 café"]


def test_pipelined_keeps_the_order_and_overlaps_the_stages() -> None:
    running: set[str] = set()
    overlapped = threading.Event()

    def stage(name: str):  # type: ignore[no-untyped-def]
        def fn(x: int) -> int:
            running.add(name)
            if len(running) > 1:
                overlapped.set()
            time.sleep(0.01)
            running.discard(name)
            return x + 1

        return fn

    assert list(pipelined(range(20), stage("a"), stage("b"), depth=1)) == [x + 2 for x in range(20)]
    assert overlapped.is_set()


def test_a_stage_failure_is_raised_in_the_consumer_after_the_items_before_it() -> None:
    def fails_on_3(x: int) -> int:
        if x == 3:
            raise KeyError("bad item")
        return x

    got: list[int] = []
    with pytest.raises(KeyError, match="bad item"):
        for v in pipelined(range(10), fails_on_3, lambda x: x * 2):
            got.append(v)
    assert got == [0, 2, 4]


def test_a_failing_source_and_an_abandoned_pipeline() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(pipelined(source(), lambda x: x))
    before = threading.active_count()
    it = pipelined(range(10**6), lambda x: x, depth=2)
    assert next(it) == 0
    it.close()  # the threads stop instead of running the million items
    deadline = time.time() + 5
    while threading.active_count() > before and time.time() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before
    with pytest.raises(ValidationError):
        list(pipelined(range(3)))


def test_embed_batches_is_the_plain_embed_bit_for_bit() -> None:
    emb = SentenceTransformerEmbedder(device="cpu", batch_size=16)
    plain = emb.embed(TEXTS)
    fed = embed_batches(emb, TEXTS)
    assert fed.dtype == np.float32
    np.testing.assert_array_equal(fed, plain)
    assert embed_batches(emb, []).shape == (0, emb.dim)


class _Plain:
    """An embedder with ``embed`` only (no tokenize / embed_tokens)."""

    dim = 3

    def __init__(self) -> None:
        self.calls: list[int] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        if "boom" in texts:
            raise RuntimeError("device lost")
        return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)


def test_embed_batches_with_a_plain_embedder_and_its_failure() -> None:
    emb = _Plain()
    texts = ["a" * n for n in (3, 1, 4, 1, 5, 9, 2, 6)]
    out = embed_batches(emb, texts, batch_size=3)
    np.testing.assert_array_equal(out[:, 0], [len(t) for t in texts])
    assert emb.calls == [3, 3, 2]
    with pytest.raises(RuntimeError, match="device lost"):
        embed_batches(emb, ["x", "boom", "yy"], batch_size=1)


def test_half_precision_is_kept_when_it_matches_float32() -> None:
    half = SentenceTransformerEmbedder(device="cpu", precision="bfloat16")
    full = SentenceTransformerEmbedder(device="cpu")
    a, b = half.embed(TEXTS), full.embed(TEXTS)
    assert half.precision == "bfloat16" and half.half_cosine is not None and half.half_cosine >= 0.999
    assert a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert float((a * b).sum(axis=1).min()) >= 0.999


def test_half_precision_falls_back_to_float32_when_the_check_fails() -> None:
    strict = SentenceTransformerEmbedder(device="cpu", precision="bfloat16", min_cosine=1.5)
    full = SentenceTransformerEmbedder(device="cpu")
    got = strict.embed(TEXTS[:5])
    assert strict.precision == "float32" and strict.half_cosine is not None and strict.half_cosine < 1.5
    np.testing.assert_allclose(got, full.embed(TEXTS[:5]), atol=1e-6)
    assert SentenceTransformerEmbedder(device="cpu").precision == "float32"  # auto on the CPU
    assert SentenceTransformerEmbedder(device="cuda").precision == "float16"  # auto on CUDA (not loaded)
    with pytest.raises(ConfigError):
        SentenceTransformerEmbedder(precision="int8")  # type: ignore[arg-type]
