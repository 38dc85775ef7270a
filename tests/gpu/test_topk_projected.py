"""Projected-bound exact top-k (``kernels.topk_projected``) returns the reference's answer.

The bounds must hold whatever the data: a basis fitted on other data, rows appended after the
fit, masked rows, duplicated rows (ties), ``k`` larger than the rows left.
"""

from __future__ import annotations

import pytest
import torch
from test_topk_parity import assert_same_topk, brute_force

from agentmem.errors import ValidationError
from agentmem.kernels.sketch_plan import choose_split, plan_sketch
from agentmem.kernels.topk import topk_reference
from agentmem.kernels.topk_projected import build_sketch, extend_sketch, fit_basis, topk_projected


def embeddings(n: int, dim: int = 64, *, seed: int = 0, shared: float = 0.6) -> torch.Tensor:
    """Unit rows with a common direction and a few strong axes, like sentence embeddings."""
    g = torch.Generator().manual_seed(seed)
    axes = torch.randn(8, dim, generator=g)
    x = shared * torch.randn(1, dim, generator=g) + torch.randn(n, 8, generator=g) @ axes / 3
    x += 0.3 * torch.randn(n, dim, generator=g)
    return torch.nn.functional.normalize(x, dim=1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("rank", [1, 8, 32, 64])
def test_matches_reference(dtype: torch.dtype, rank: int) -> None:
    c = embeddings(3000).to(dtype)
    q = embeddings(7, seed=1)
    sk = build_sketch(c, rank)
    got = topk_projected(q, c, sk, 10)
    assert_same_topk(got, brute_force(q, c.float(), 10), q, c.float())
    assert torch.equal(got[1], topk_reference(q, c, 10)[1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(("rank", "refine"), [(1, 8), (2, 16), (8, 24), (32, 32), (60, 16)])
def test_second_level_matches_reference(dtype: torch.dtype, rank: int, refine: int) -> None:
    # a weak first level (rank 1-8 of 64) keeps far more rows than it rescores directly, so the
    # second-level bounds decide which rows are read in full
    c = embeddings(3000).to(dtype)
    q = embeddings(7, seed=1)
    sk = build_sketch(c, rank, refine_rank=refine)
    assert sk.level2 is not None and sk.level2.rank == min(refine, 64 - rank)
    for k in (1, 10, 100):
        got = topk_projected(q, c, sk, k)
        assert torch.equal(got[1], topk_reference(q, c, k)[1])
        torch.testing.assert_close(got[0], topk_reference(q, c, k)[0])


def test_second_level_with_foreign_bases_appends_masks_and_ties() -> None:
    base = embeddings(1500)
    c = torch.cat([base, base[:60]])  # exact duplicates: tied scores, lower index first
    q = torch.cat([embeddings(4, seed=6), base[:2]])
    other = fit_basis(torch.randn(400, 64), 4)  # unrelated first basis: its residuals are the data
    sk = build_sketch(c, basis=other, refine_rank=12)
    valid = torch.rand(len(c), generator=torch.Generator().manual_seed(7)) > 0.25
    for k in (1, 10, 300):
        got = topk_projected(q, c, sk, k, valid=valid)
        assert_same_topk(got, brute_force(q, c, k, valid), q, c)
        assert bool(valid[got[1]].all())
    more = torch.cat([c, embeddings(500, seed=3, shared=-0.6)])  # rows far from both fitted levels
    grown = extend_sketch(build_sketch(c, 4, refine_rank=12), more[len(c):])
    assert grown.level2 is not None and len(grown.level2.coords) == len(more)
    assert torch.equal(topk_projected(q, more, grown, 10)[1], topk_reference(q, more, 10)[1])


def test_foreign_basis_and_appended_rows_stay_exact() -> None:
    c = embeddings(2000)
    other = fit_basis(torch.randn(500, 64), 16)  # fitted on unrelated data: loose bounds, same answer
    q = embeddings(5, seed=2)
    sk = build_sketch(c, basis=other)
    assert torch.equal(topk_projected(q, c, sk, 8)[1], topk_reference(q, c, 8)[1])
    more = torch.cat([c, embeddings(700, seed=3, shared=-0.6)])  # rows far from the fitted axes
    grown = extend_sketch(build_sketch(c, 16), more[2000:])
    assert len(grown) == 2700
    assert torch.equal(topk_projected(q, more, grown, 8)[1], topk_reference(q, more, 8)[1])


def test_masks_ties_and_small_k() -> None:
    base = embeddings(400)
    c = torch.cat([base, base[:50]])  # 50 exact duplicates: tied scores, lower index first
    q = torch.cat([embeddings(3, seed=4), base[:2]])
    sk = build_sketch(c, 8)
    valid = torch.rand(450, generator=torch.Generator().manual_seed(5)) > 0.3
    for k in (1, 10, 500):
        got = topk_projected(q, c, sk, k, valid=valid)
        assert_same_topk(got, brute_force(q, c, k, valid), q, c)
        assert got[1].shape[1] == min(k, int(valid.sum()))
        assert bool(valid[got[1]].all())
    none = torch.zeros(450, dtype=torch.bool)
    assert topk_projected(q, c, sk, 3, valid=none)[1].shape == (5, 0)


def test_validation() -> None:
    c = embeddings(100)
    sk = build_sketch(c, 8)
    with pytest.raises(ValidationError):
        topk_projected(embeddings(1), c[:50], sk, 3)  # sketch of other rows
    with pytest.raises(ValidationError):
        fit_basis(c, 0)
    with pytest.raises(ValidationError):
        topk_projected(embeddings(1), c, sk, 0)


def same(a: list[list[tuple[str, float]]], b: list[list[tuple[str, float]]]) -> bool:
    """Same ids in the same order; scores equal up to fp32 summation order."""
    return all(
        [i for i, _ in x] == [i for i, _ in y]
        and all(abs(s - t) < 1e-5 for (_, s), (_, t) in zip(x, y, strict=True))
        for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_exact_index_sketch_path_gives_the_plain_answer(dtype: torch.dtype) -> None:
    from agentmem.store.dense import ExactIndex

    vecs = embeddings(1500, dim=32).numpy()
    sketched = ExactIndex(32, dtype=dtype, sketch_rank=8, sketch_min_rows=200, sketch_max_share=None)
    plain = ExactIndex(32, dtype=dtype, sketch_rank=0)
    q = embeddings(3, dim=32, seed=9).numpy()
    for idx in (sketched, plain):
        idx.add([f"a{i}" for i in range(300)], vecs[:300])
    assert same(sketched.search(q, 7), plain.search(q, 7)) and sketched._sketch is not None
    for idx in (sketched, plain):  # appends extend the sketch; deletes and replacements mask rows
        idx.add([f"a{i}" for i in range(300, 1500)], vecs[300:])
        idx.remove([f"a{i}" for i in range(0, 1500, 3)])
        idx.add(["a1"], vecs[5:6])
    assert same(sketched.search(q, 7), plain.search(q, 7))
    assert len(sketched._sketch or ()) == sketched.n_rows


def isotropic_clusters(n: int, dim: int = 64, *, seed: int = 0, clusters: int = 40) -> torch.Tensor:
    """Unit rows around random centres with noise in every direction (no few strong axes)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(torch.randn(clusters, dim, generator=g), dim=1)
    x = centres[torch.randint(0, clusters, (n,), generator=g)] + torch.randn(n, dim, generator=g) / dim**0.5
    return torch.nn.functional.normalize(x, dim=1)


@pytest.mark.parametrize("codes", [False, True])
def test_planned_split_follows_the_data_and_stays_exact(codes: bool) -> None:
    concentrated, spread = embeddings(3000, seed=5), isotropic_clusters(3000, seed=5)
    splits = {}
    for name, corpus in (("concentrated", concentrated), ("spread", spread)):
        sk = plan_sketch(corpus, 32, max_share=None, codes=codes)  # 64 dimensions: too few for the sketch to pay
        assert sk is not None and (sk.codes is not None) == codes
        splits[name] = (sk.rank, 0 if sk.level2 is None else sk.level2.rank)
        q = corpus[:7] + 0.05 * torch.randn(7, corpus.shape[1], generator=torch.Generator().manual_seed(1))
        for k in (1, 10):
            assert_same_topk(topk_projected(q, corpus, sk, k), topk_reference(q, corpus, k), q, corpus)
    # a few strong axes: a thin first level prunes enough; noise in every axis needs a wide
    # first level, after which a second level prunes too little to be worth reading. int8 codes
    # are padded to 16 per row, so there 16 and 24 axes cost nearly the same and both get 24.
    if codes:
        assert splits["concentrated"][0] <= splits["spread"][0]
    else:
        assert splits["concentrated"][0] < splits["spread"][0]
    assert splits["spread"][1] == 0, splits


def test_choose_split_candidates_and_degenerate_inputs() -> None:
    corpus = embeddings(500, seed=2)
    basis = fit_basis(corpus, 16)
    assert choose_split(corpus, basis, 500, candidates=(5,))[0] == 5
    r1, r2, cost = choose_split(corpus, basis, 500)
    assert r1 in {2, 3, 4, 6, 8, 12} and 500 * 2 * r1 <= cost  # 1/8 .. 3/4 of 16 axes; level 1 is read whole
    assert r2 in {0, 16 - r1}  # the other axes, or no second level
    assert choose_split(corpus[:1], basis, 1) == (8, 8, 0.0)  # nothing to plan on: half and half
    one = plan_sketch(corpus, 1)
    assert one is not None and one.level2 is None


def test_plan_gives_up_on_noise_in_every_direction_and_the_index_searches_plainly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agentmem.store import dense

    g = torch.Generator().manual_seed(3)
    noise = torch.nn.functional.normalize(torch.randn(16001, 64, generator=g), dim=1)
    assert plan_sketch(noise[:4000], 32) is None  # no few axes hold the rows: the bounds prune nothing
    planned: list[int] = []

    def counting(corpus: torch.Tensor, *args: object, **kwargs: object) -> object:
        planned.append(len(corpus))
        return plan_sketch(corpus, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(dense, "plan_sketch", counting)
    index = dense.ExactIndex(64, sketch_rank=32, sketch_min_rows=1000)
    index.add([str(i) for i in range(4000)], noise[:4000].numpy())
    q = noise[:3].numpy() + 0.01
    want = [[(str(int(i)), float(s)) for s, i in zip(*row, strict=True)]
            for row in zip(*topk_reference(torch.from_numpy(q), noise[:4000], 5), strict=True)]
    for row_q, row_want in zip(q, want, strict=True):
        got = index.search(row_q, 5)[0]
        assert [i for i, _ in got] == [i for i, _ in row_want]
    assert index.sketch is None and planned == [4000]
    index.add([str(i) for i in range(4000, 16000)], noise[4000:16000].numpy())
    index.search(q[0], 5)
    assert planned == [4000]  # planned off: not planned again before 4x the rows
    index.add(["16000"], noise[16000:].numpy())
    index.search(q[0], 5)
    assert index.sketch is None and planned == [4000, 16001]


def test_top_rows_finds_large_values_and_skips_masked_ones() -> None:
    import numpy as np

    from agentmem.kernels.topk_projected import _top_rows

    values = np.random.default_rng(0).standard_normal(20_000).astype(np.float32)
    rows = _top_rows(values, 72)
    assert len(rows) == 72 and int(np.argmax(values)) in rows
    nb = 20_000 // 64  # row i (below 64 nb) is in block i % nb; each chosen block gives its best row
    block_best = np.full(nb, -np.inf, dtype=np.float32)
    np.maximum.at(block_best, np.arange(64 * nb) % nb, values[: 64 * nb])
    assert np.sort(values[rows]).tolist() == np.sort(block_best)[-72:].tolist()
    values[values < 3.0] = -np.inf  # ~27 finite rows left: only those come back
    rows = _top_rows(values, 72)
    assert len(rows) <= int(np.isfinite(values).sum()) and np.isfinite(values[rows]).all()
    assert _top_rows(np.array([1.0, -np.inf, 2.0]), 2).tolist() in ([0, 2], [2, 0])


def test_mask_crowding_into_few_blocks_and_scaled_queries_stay_exact() -> None:
    c = embeddings(20_000, seed=8) * (0.5 + torch.rand(20_000, 1, generator=torch.Generator().manual_seed(2)))
    sk = build_sketch(c, 8, refine_rank=16)
    q = embeddings(3, seed=9) * torch.tensor([[1.0], [50.0], [1e-3]])  # bounds scale with ||q||
    nb = 20_000 // 64
    valid = torch.zeros(20_000, dtype=torch.bool)
    valid[::nb] = True  # every valid row in one strided block of the first pass
    for mask in (None, valid):
        for k in (1, 10, 70):
            got = topk_projected(q, c, sk, k, valid=mask)
            assert torch.equal(got[1], topk_reference(q, c, k, valid=mask)[1])


def test_extensions_append_in_place_and_leave_earlier_sketches_intact() -> None:
    c = embeddings(900, seed=11)
    q = embeddings(2, seed=12)
    base = build_sketch(c[:500], 8, refine_rank=8)
    one = extend_sketch(base, c[500:600])
    two = extend_sketch(one, c[600:700])  # written in place after one's rows
    assert one.spare is two.spare and len(one) == 600 and len(two) == 700
    branch = extend_sketch(one, c[700:900])  # one is no longer the latest: copies, never overwrites
    assert branch.spare is not two.spare
    whole = torch.cat([c[:600], c[700:900]])
    for sk, corpus in ((one, c[:600]), (two, c[:700]), (branch, whole)):
        assert torch.equal(topk_projected(q, corpus, sk, 10)[1], topk_reference(q, corpus, 10)[1])
    fresh = build_sketch(c[:700], basis=base.basis, refine_rank=0)
    torch.testing.assert_close(two.table, fresh.table)  # the same rows as a sketch built at once
