"""Short texts read packed, several to a row (agentmem._packing): the rows, the packed forward
against each text read alone, and the embedder's packed ``embed`` against ``encode``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agentmem import _packing
from agentmem._packing import embed_packed, embed_packed_reference, pack, packed_batch, positions
from agentmem.batch.feed import embed_batches
from agentmem.embedding import SentenceTransformerEmbedder

TEXTS = [
    "caroline",
    "lgbtq support group",
    "caroline attended support group",
    "",
    "  leading and trailing spaces  ",
    "yep",
    "[2023-05-08] Ana: Did you book the hiking trip to Sintra? The one past the Moorish castle.",
    "Je voudrais réserver une table pour deux personnes demain soir à vingt heures.",
    "🙂🙂 thanks!!! see you at 7:30pm @ the café",
    "word " * 400,  # longer than the model reads: cut as encode cuts it
    "melanie painting sunset",
    "you d",
]


@pytest.mark.parametrize("seed", range(5))
def test_rows_hold_each_position_once_shortest_first_and_fit_the_room(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lengths = [int(x) for x in rng.integers(1, 140, size=60)]
    rows = pack(lengths, 128)
    assert sorted(i for r in rows for i in r) == list(range(60))
    flat = [i for r in rows for i in r]
    assert flat == sorted(range(60), key=lambda i: (lengths[i], i))
    assert all(len(r) == 1 or sum(lengths[i] for i in r) <= 128 for r in rows)
    # greedy: the next row's first text did not fit in the row before it
    assert all(sum(lengths[i] for i in a) + lengths[b[0]] > 128 for a, b in zip(rows, rows[1:], strict=False))
    assert pack([], 128) == [] and pack([300, 2], 128) == [[1], [0]]
    assert positions([300, 2], 128) == 600 and positions([2, 3, 4], 128) == 9 and positions([], 128) == 0


def test_a_packed_batch_numbers_tokens_by_text_and_restarts_positions() -> None:
    ids = [[101, 5, 6, 102], [101, 102], [101, 7, 102]]
    b = packed_batch(ids, room=6)
    assert b.count == 3 and b.input_ids.shape == b.position_ids.shape == b.segments.shape
    for r in range(b.input_ids.shape[0]):
        seg = b.segments[r].tolist()
        for i in set(seg) - {-1}:
            cols = [c for c, s in enumerate(seg) if s == i]
            assert b.input_ids[r, cols].tolist() == ids[i]
            assert b.position_ids[r, cols].tolist() == list(range(len(ids[i])))
    assert sorted(set(b.segments.flatten().tolist()) - {-1}) == [0, 1, 2]


def test_packed_forward_matches_each_text_read_alone(embedder: Any) -> None:
    model = embedder._load()
    ids = embedder._token_ids(model, TEXTS)
    assert max(len(x) for x in ids) == model.max_seq_length  # the long text is cut
    got = embed_packed(model[0].auto_model, packed_batch(ids, room=64)).numpy()
    want = embed_packed_reference(model[0].auto_model, ids)
    assert got.shape == (len(TEXTS), embedder.dim)
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_the_embedder_packs_short_texts_and_matches_encode(embedder: Any) -> None:
    model = embedder._load()
    assert embedder._packs
    many = TEXTS * 30  # more than one batch, duplicates included
    want = model.encode(many, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    got = embedder.embed(many)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(embed_batches(embedder, many, batch_size=16), got, atol=1e-6)
    short = [t for t in TEXTS if len(t) < 40]
    packed = embedder.tokenize(short)  # short texts only: one packed batch
    assert "packed" in packed and packed["packed"].input_ids.shape[0] < len(short)
    mixed = embedder.tokenize(TEXTS)  # one long text among short ones: packing saves positions
    assert "packed" in mixed and mixed["packed"].input_ids.numel() < len(TEXTS) * model.max_seq_length
    mid = TEXTS[6] + " We could stop for lunch in the village and take the evening train back to Lisbon."
    similar = [mid, mid.replace("Ana", "Ben"), mid.replace("Sintra", "Porto")]
    assert "packed" not in embedder.tokenize(similar)  # mid-length texts alike: padded, as encode
    np.testing.assert_allclose(embedder.embed_tokens(packed), embedder.embed(short * 3)[: len(short)], atol=1e-6)
    np.testing.assert_allclose(embedder.embed_tokens(embedder.tokenize(TEXTS)), got[: len(TEXTS)], atol=1e-6)


def test_an_encoder_that_cannot_pack_is_read_padded(monkeypatch: pytest.MonkeyPatch) -> None:
    e = SentenceTransformerEmbedder(device="cpu")
    model = e._load()

    def no_position_ids(encoder: Any, batch: Any) -> Any:
        raise TypeError("forward() got an unexpected keyword argument 'position_ids'")

    monkeypatch.setattr(_packing, "embed_packed", no_position_ids)
    assert not e._checked_packing(model)

    def off_by_a_little(encoder: Any, batch: Any) -> Any:
        import torch

        return torch.full((batch.count, e.dim), 0.05)

    monkeypatch.setattr(_packing, "embed_packed", off_by_a_little)
    assert not e._checked_packing(model)
    e._packs = False
    want = model.encode(TEXTS, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(e.embed(TEXTS), want, atol=1e-6)
    assert "packed" not in e.tokenize(TEXTS[:3])
