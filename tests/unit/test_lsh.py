"""LSH codes (numpy reference vs torch path) and the LSHIndex insert / remove / query / merge."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agentmem.errors import ValidationError
from agentmem.kernels.lsh import (
    lsh_codes,
    lsh_codes_reference,
    lsh_codes_torch,
    lsh_projections,
    random_planes,
)
from agentmem.mechanisms.thoughts.lsh import LSHIndex


def _unit(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _clear_margin(x: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """Rows whose top two scores differ by more than float error (ties excluded from parity)."""
    s = np.sort(lsh_projections(x, planes), axis=2)
    return ((s[:, :, -1] - s[:, :, -2]) > 1e-4).all(axis=1)


def test_code_is_tim_argmax_definition():
    planes = random_planes(8, 3, 4, seed=1)
    x = _unit(50, 8)
    codes = lsh_codes_reference(x, planes)
    for h in range(3):
        proj = x @ planes[h]
        assert (codes[:, h] == np.argmax(np.concatenate([proj, -proj], axis=1), axis=1)).all()
    assert codes.min() >= 0 and codes.max() < 8


@pytest.mark.parametrize("chunk", [7, 65_536])
def test_torch_path_matches_reference(chunk):
    x, planes = _unit(3000, 384, seed=2), random_planes(384, 6, 16, seed=3)
    ok = _clear_margin(x, planes)
    ref, fast = lsh_codes_reference(x, planes), lsh_codes_torch(x, planes, chunk=chunk)
    assert ok.mean() > 0.95
    np.testing.assert_array_equal(ref[ok], fast[ok])
    np.testing.assert_array_equal(lsh_codes(x, planes), ref)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_path_matches_reference():
    x, planes = _unit(20_000, 384, seed=4), random_planes(384, 8, 16, seed=5)
    ok = _clear_margin(x, planes)
    np.testing.assert_array_equal(lsh_codes_reference(x, planes)[ok], lsh_codes(x, planes, device="cuda")[ok])


def test_codes_are_scale_invariant_and_validated():
    x, planes = _unit(20, 16), random_planes(16, 2, 3)
    np.testing.assert_array_equal(lsh_codes(x, planes), lsh_codes(5 * x, planes))
    with pytest.raises(ValidationError):
        lsh_codes(_unit(3, 15), planes)
    with pytest.raises(ValidationError):
        random_planes(0, 1, 1)


@pytest.mark.parametrize(
    "kwargs",
    [dict(n_planes=0), dict(hashes_per_table=0), dict(hashes_per_table=5), dict(n_tables=0),
     dict(n_tables=4, probes=3), dict(max_scan=0.0), dict(max_scan=1.5), dict(center=np.ones(3))],
)
def test_parameters_are_validated(kwargs):
    with pytest.raises(ValidationError):
        LSHIndex(16, **kwargs)


def test_insert_query_remove():
    x = _unit(500, 32)
    idx = LSHIndex(32, n_planes=4, n_tables=4, probes=16)
    idx.insert_many([f"k{i}" for i in range(500)], x)
    assert len(idx) == 500 and "k7" in idx
    for i in range(0, 500, 25):  # every vector is found by itself, first, with cosine 1
        key, score = idx.query(x[i], 1)[0]
        assert key == f"k{i}" and score == pytest.approx(1.0, abs=1e-5)
    idx.remove("k0")
    assert "k0" not in idx and all(k != "k0" for k, _ in idx.query(x[0], 10))
    with pytest.raises(ValidationError):
        idx.remove("k0")
    with pytest.raises(ValidationError):
        idx.insert("k1", x[1])
    idx.insert("k0", x[0])  # a removed key can come back
    assert idx.query(x[0], 1)[0][0] == "k0"


def test_results_are_exact_cosine_over_candidates():
    x = _unit(800, 32, seed=9)
    idx = LSHIndex(32, n_planes=4, hashes_per_table=1, n_tables=3, probes=3)
    idx.insert_many([str(i) for i in range(800)], x)
    q = _unit(1, 32, seed=10)[0]
    cands = idx.candidates(q)
    assert 0 < len(cands) < 800  # home buckets only: a fraction of the store
    want = sorted(((c, float(x[int(c)] @ q)) for c in cands), key=lambda p: -p[1])[:5]
    got = idx.query(q, 5)
    assert [k for k, _ in got] == [k for k, _ in want]
    assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)


def test_full_probing_equals_exact_search():
    x = _unit(300, 16, seed=3)
    idx = LSHIndex(16, n_planes=2, hashes_per_table=1, n_tables=1, probes=4)  # probes all 4 buckets
    idx.insert_many([str(i) for i in range(300)], x)
    q = _unit(1, 16, seed=4)[0]
    assert idx.query(q, 10) == idx.exact(q, 10)
    assert idx.stats.scan_fraction == pytest.approx(1.0)


def test_recall_on_clustered_data_scans_a_fraction():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((50, 64))
    x = centres[rng.integers(0, 50, 5000)] + 0.6 * rng.standard_normal((5000, 64))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    q, x = x[:50], x[50:]
    idx = LSHIndex(64, n_planes=8, hashes_per_table=2, n_tables=8, probes=48)
    idx.insert_many([str(i) for i in range(len(x))], x)
    recall = np.mean([len({k for k, _ in idx.query(v, 10)} & {k for k, _ in idx.exact(v, 10)}) / 10 for v in q])
    assert recall >= 0.9 and idx.stats.scan_fraction < 0.5


def test_max_scan_bounds_the_candidates():
    x = _unit(4000, 32, seed=5)
    idx = LSHIndex(32, n_planes=4, hashes_per_table=1, n_tables=4, probes=32, max_scan=0.1)
    idx.insert_many([str(i) for i in range(4000)], x)
    for q in _unit(20, 32, seed=6):
        idx.query(q, 10)
    # homes (4 tables x 1/8 each) are always visited; beyond them probing stops at 10%
    assert idx.stats.scan_fraction < 0.5


def test_merge_and_persisted_codes():
    x = _unit(200, 32)
    a, b = LSHIndex(32, n_planes=4, n_tables=2, probes=8), LSHIndex(32, n_planes=4, n_tables=2, probes=8)
    a.insert_many([f"a{i}" for i in range(100)], x[:100])
    b.insert_many([f"b{i}" for i in range(100)], x[100:])
    a.merge(b)
    assert len(a) == 200 and a.query(x[150], 1)[0][0] == "b50"
    with pytest.raises(ValidationError):
        a.merge(b)  # keys overlap now
    with pytest.raises(ValidationError):
        a.merge(LSHIndex(32, n_planes=4, n_tables=2, probes=8, seed=1))
    # rebuilding from stored codes gives the same index as hashing
    c = LSHIndex(32, n_planes=4, n_tables=2, probes=8)
    keys = a.keys()
    c.insert_many(keys, np.stack([a.vector(k) for k in keys]), codes=[a.codes(k) for k in keys])
    assert c.query(x[3], 5) == a.query(x[3], 5)
    with pytest.raises(ValidationError):
        c.insert("bad", x[0], codes=[99, 0, 0, 0])


def test_center_changes_signature_not_results_of_exact():
    x = _unit(100, 16)
    plain = LSHIndex(16, n_planes=2, hashes_per_table=1, n_tables=1, probes=4)
    centred = LSHIndex(16, n_planes=2, hashes_per_table=1, n_tables=1, probes=4, center=x.mean(0))
    assert plain.signature != centred.signature
    for idx in (plain, centred):
        idx.insert_many([str(i) for i in range(100)], x)
    assert plain.query(x[5], 5) == centred.query(x[5], 5)  # both probe every bucket


def test_compaction_after_many_removals():
    x = _unit(3000, 16)
    idx = LSHIndex(16, n_planes=4, n_tables=2, probes=8)
    idx.insert_many([str(i) for i in range(3000)], x)
    for i in range(2000):
        idx.remove(str(i))
    assert len(idx) == 1000 and sorted(idx.keys(), key=int) == [str(i) for i in range(2000, 3000)]
    assert idx.query(x[2500], 1)[0][0] == "2500"


def test_bad_vectors_rejected():
    idx = LSHIndex(4, n_planes=2, n_tables=1, probes=1)
    for bad in (np.zeros(4), np.array([np.nan, 1, 0, 0]), np.ones(5)):
        with pytest.raises(ValidationError):
            idx.insert("x", bad)
    with pytest.raises(ValidationError):
        idx.query(np.ones(4), 0)
    assert idx.query(np.ones(4), 3) == []
