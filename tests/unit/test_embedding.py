"""The query path of the bundled embedder: the compact BERT forward against ``encode``."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from agentmem._bert import compact_encoder
from agentmem.embedding import SentenceTransformerEmbedder, bundled_model_path, embed_query

QUERIES = [
    "What did Melanie paint after her trip to the lake last May?",
    "hi",
    "Ünïcödé ✓ 日本語, emoji 🎉 and   odd   spacing",
    "long " * 400,  # past the model's 256-token limit: truncated the same way
]


def test_compact_query_embedding_matches_encode(embedder: SentenceTransformerEmbedder) -> None:
    assert embedder.query_path == "compact"  # the bundled model is covered
    batch = embedder.embed(QUERIES + ["padding partner"] * 8)  # > FAST_PATH_MAX: encode()
    for i, q in enumerate(QUERIES):
        got = embedder.embed_query(q)
        assert got.dtype == np.float32 and got.shape == (embedder.dim,)
        np.testing.assert_allclose(got, batch[i], atol=1e-6)
        np.testing.assert_allclose(np.linalg.norm(got), 1.0, atol=1e-6)


def test_embed_query_falls_back_to_embed_for_other_embedders() -> None:
    class Plain:
        dim = 2

        def embed(self, texts: list[str]) -> np.ndarray:
            return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    assert embed_query(Plain(), "abc").tolist() == [3.0, 1.0]


@pytest.mark.parametrize("modules", [
    [],
    [SimpleNamespace(), SimpleNamespace(), SimpleNamespace()],
])
def test_uncovered_pipelines_get_no_compact_encoder(modules: list[object]) -> None:
    assert compact_encoder(modules) is None


def test_other_pooling_is_not_covered() -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(bundled_model_path()), device="cpu")
    assert compact_encoder(model) is not None
    model[1].pooling_mode = "cls"
    assert compact_encoder(model) is None
