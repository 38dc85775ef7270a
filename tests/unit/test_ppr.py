"""Personalized PageRank: scipy reference, torch path and networkx agree; errors are named."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from agentmem.errors import ConvergenceError, ValidationError
from agentmem.kernels import ppr as ppr_module
from agentmem.kernels.ppr import (
    Transition,
    pagerank_one,
    personalized_pagerank,
    personalized_pagerank_torch,
)


def random_graph(seed: int, n: int, *, directed: bool, density: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = (rng.random((n, n)) < density) * rng.uniform(0.1, 2.0, (n, n))
    np.fill_diagonal(a, 0.0)
    if not directed:
        a = np.triu(a) + np.triu(a).T
    lone = rng.integers(n)
    a[lone] = 0.0  # at least one dangling node
    if not directed:
        a[:, lone] = 0.0
    return a


def random_reset(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    r = rng.random(n) * (rng.random(n) < 0.3)
    r[0] += 0.5
    return r


def networkx_ppr(a: np.ndarray, reset: np.ndarray, damping: float, directed: bool) -> np.ndarray:
    g = nx.from_numpy_array(a, create_using=nx.DiGraph if directed else nx.Graph)
    pr = nx.pagerank(
        g, alpha=damping, personalization={i: float(reset[i]) for i in range(len(reset))},
        tol=1e-13, max_iter=10_000, weight="weight",
    )
    return np.array([pr[i] for i in range(len(reset))])


@pytest.mark.parametrize("directed", [False, True])
@pytest.mark.parametrize("damping", [0.5, 0.85])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_matches_networkx(seed: int, damping: float, directed: bool) -> None:
    a = random_graph(seed, 40, directed=directed)
    r = random_reset(seed, 40)
    got = personalized_pagerank(sp.csr_matrix(a), r, damping=damping, tol=1e-13, max_iter=1000)
    np.testing.assert_allclose(got, networkx_ppr(a, r, damping, directed), atol=1e-9)
    assert got.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [0, 3, 7])
def test_torch_batched_matches_reference(seed: int) -> None:
    a = random_graph(seed, 60, directed=False)
    resets = np.stack([random_reset(seed + i, 60) for i in range(5)])
    tr = Transition.from_adjacency(a)
    batched = personalized_pagerank_torch(tr, resets, damping=0.5, device="cpu")
    assert batched.shape == (5, 60)
    for i in range(5):
        ref = personalized_pagerank(tr, resets[i], damping=0.5)
        np.testing.assert_allclose(batched[i].numpy(), ref, atol=1e-12)
    single = personalized_pagerank_torch(tr, resets[0], damping=0.5, device="cpu")
    assert single.shape == (60,)
    np.testing.assert_allclose(single.numpy(), batched[0].numpy(), atol=1e-15)


def test_torch_float32_close_to_reference() -> None:
    a = random_graph(5, 80, directed=False)
    r = random_reset(5, 80)
    got = personalized_pagerank_torch(a, r, damping=0.5, device="cpu", dtype=torch.float32, tol=1e-7)
    np.testing.assert_allclose(got.numpy(), personalized_pagerank(a, r, damping=0.5), atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_reference() -> None:
    a = random_graph(11, 200, directed=False)
    r = np.stack([random_reset(11 + i, 200) for i in range(4)])
    got = personalized_pagerank_torch(a, r, damping=0.5, device="cuda")
    assert got.device.type == "cuda"
    ref = np.stack([personalized_pagerank(a, x, damping=0.5) for x in r])
    np.testing.assert_allclose(got.cpu().numpy(), ref, atol=1e-10)


def test_reset_mass_stays_near_seeds() -> None:
    # path 0-1-2-3: seeding node 0 ranks nodes by distance from it
    a = np.zeros((4, 4))
    for i in range(3):
        a[i, i + 1] = a[i + 1, i] = 1.0
    x = personalized_pagerank(a, np.array([1.0, 0, 0, 0]), damping=0.5)
    assert list(np.argsort(-x)) == [0, 1, 2, 3]


def test_graph_without_edges_returns_reset() -> None:
    r = np.array([0.2, 0.0, 0.8])
    np.testing.assert_allclose(personalized_pagerank(np.zeros((3, 3)), r, damping=0.5), r)
    np.testing.assert_allclose(
        personalized_pagerank_torch(np.zeros((3, 3)), r, damping=0.5, device="cpu").numpy(), r
    )


def test_non_convergence_raises_named_error() -> None:
    a = random_graph(0, 30, directed=False)
    r = random_reset(0, 30)
    with pytest.raises(ConvergenceError) as info:
        personalized_pagerank(a, r, damping=0.99, tol=1e-15, max_iter=3)
    assert info.value.max_iter == 3 and info.value.residual > 0
    with pytest.raises(ConvergenceError):
        personalized_pagerank_torch(a, r, damping=0.99, tol=1e-15, max_iter=3, device="cpu")


@pytest.mark.parametrize(
    ("adj", "reset", "kwargs"),
    [
        (np.ones((3, 3)), np.zeros(3), {}),  # all-zero reset
        (np.ones((3, 3)), np.array([1.0, -1.0, 1.0]), {}),  # negative reset
        (np.ones((3, 3)), np.ones(4), {}),  # wrong length
        (np.ones((2, 3)), np.ones(3), {}),  # not square
        (-np.ones((3, 3)), np.ones(3), {}),  # negative weights
        (np.ones((3, 3)), np.ones(3), {"damping": 1.0}),
        (np.ones((3, 3)), np.ones(3), {"max_iter": 0}),
    ],
)
def test_validation(adj: np.ndarray, reset: np.ndarray, kwargs: dict) -> None:
    with pytest.raises(ValidationError):
        personalized_pagerank(adj, reset, **kwargs)


needs_c = pytest.mark.skipif(ppr_module._spmm is None, reason="kernels/_spmm.c not built (no C compiler)")


@needs_c
@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("b", [1, 3, 40, 64])  # 40: a last tile padded with copies of its last column
def test_c_kernel_float64_matches_reference_per_column(b: int, weighted: bool) -> None:
    a = random_graph(5, 80, directed=True)  # directed, with a dangling node
    if not weighted:
        a = (a > 0).astype(float)
    resets = np.stack([random_reset(11 + i, 80) for i in range(b)])
    tr = Transition.from_adjacency(a)
    got = personalized_pagerank_torch(tr, resets, damping=0.5, device="cpu", tol=1e-13)
    assert got.dtype == torch.float64 and got.shape == (b, 80)
    for i in range(b):
        np.testing.assert_allclose(got[i].numpy(), personalized_pagerank(tr, resets[i], damping=0.5, tol=1e-13),
                                   rtol=0, atol=1e-12)
        # each vector stops where it would alone: the batch does not change a column's result
        alone = personalized_pagerank_torch(tr, resets[i], damping=0.5, device="cpu", tol=1e-13)
        np.testing.assert_allclose(got[i].numpy(), alone.numpy(), rtol=1e-13, atol=0)


@needs_c
@pytest.mark.parametrize("b", [1, 64])
def test_c_kernel_float32_close_to_reference(b: int) -> None:
    a = random_graph(6, 300, directed=False, density=0.03)
    resets = np.stack([random_reset(20 + i, 300) for i in range(b)])
    tr = Transition.from_adjacency(a)
    got = personalized_pagerank_torch(tr, resets, damping=0.5, device="cpu", dtype=torch.float32, tol=1e-8)
    assert got.dtype == torch.float32 and got.shape == (b, 300)
    ref = np.stack([personalized_pagerank(tr, r, damping=0.5) for r in resets])
    np.testing.assert_allclose(got.numpy(), ref, rtol=0, atol=2e-6)
    np.testing.assert_allclose(got.numpy().sum(axis=1), 1.0, atol=1e-5)


@needs_c
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_c_kernel_threads_split_tiles_without_changing_results(dtype: torch.dtype) -> None:
    a = random_graph(8, 120, directed=False)
    resets = np.stack([random_reset(30 + i, 120) for i in range(70)])
    tr = Transition.from_adjacency(a)
    one = personalized_pagerank_torch(tr, resets, device="cpu", dtype=dtype, tol=1e-9, threads=1)
    two = personalized_pagerank_torch(tr, resets, device="cpu", dtype=dtype, tol=1e-9, threads=2)
    np.testing.assert_array_equal(one.numpy(), two.numpy())
    with pytest.raises(ValidationError):
        personalized_pagerank_torch(tr, resets, device="cpu", threads=0)


@needs_c
def test_c_kernel_non_convergence_raises_named_error_in_float32() -> None:
    a = random_graph(0, 30, directed=False)
    with pytest.raises(ConvergenceError) as info:
        personalized_pagerank_torch(a, random_reset(0, 30), damping=0.99, tol=1e-15, max_iter=3, device="cpu",
                                    dtype=torch.float32)
    assert info.value.max_iter == 3 and info.value.residual > 0


@needs_c
def test_c_solve_rejects_inconsistent_buffers() -> None:
    solve = ppr_module._spmm.solve
    ip, ix, d = np.array([0, 1], dtype=np.int64), np.array([5], dtype=np.int32), np.ones(1)
    none, scale = np.zeros(0, dtype=np.int64), np.ones(2)
    r, out = np.full((2, 1), 1.0), np.empty((2, 1))
    with pytest.raises(ValueError, match="out of range"):
        solve(ip, ix, d, none, r, scale, out, 1, 2, 0.5, 1e-9, 10, 1, 1, 1, True)
    with pytest.raises(ValueError, match="sizes"):
        solve(ip, ix, d, none, r, scale, out, 1, 3, 0.5, 1e-9, 10, 1, 1, 1, True)
    with pytest.raises(ValueError, match="sizes"):  # one scale for two vectors
        solve(ip, ix, d, none, r, scale[:1], out, 1, 2, 0.5, 1e-9, 10, 1, 1, 1, True)
    with pytest.raises(ValueError, match="sizes"):  # float64 buffers announced as float32
        solve(ip, ix, d, none, r, scale, out, 1, 2, 0.5, 1e-9, 10, 1, 1, 1, False)
    with pytest.raises(ValueError, match="indptr"):
        solve(np.array([0, 2], dtype=np.int64), ix, d, none, r, scale, out, 1, 2, 0.5, 1e-9, 10, 1, 1, 1, True)
    with pytest.raises(ValueError, match="dangling"):
        solve(ip, np.array([0], dtype=np.int32), d, np.array([3], dtype=np.int64), r, scale, out, 1, 2, 0.5, 1e-9,
              10, 1, 1, 1, True)
    with pytest.raises(ValueError, match="tile"):
        solve(ip, np.array([0], dtype=np.int32), d, none, r, scale, out, 1, 2, 0.5, 1e-9, 10, 3, 1, 1, True)
    with pytest.raises(ValueError, match="crew"):
        solve(ip, np.array([0], dtype=np.int32), d, none, r, scale, out, 1, 2, 0.5, 1e-9, 10, 1, 1, 0, True)


def sparse_graph(seed: int, n: int, per_node: int) -> sp.csr_matrix:
    """Directed, ``per_node`` random out-edges a node, every tenth node dangling, hubs every 97th."""
    rng = np.random.default_rng(seed)
    src = np.repeat(np.arange(n), per_node)
    dst = np.where(rng.random(len(src)) < 0.2, rng.integers(0, n // 97, len(src)) * 97, rng.integers(0, n, len(src)))
    keep = (src % 10 != 3) & (src != dst)
    return sp.csr_matrix((rng.uniform(0.1, 2.0, keep.sum()), (src[keep], dst[keep])), shape=(n, n))


def crew_solve(tr: Transition, resets: np.ndarray, *, tile: int, threads: int, crew: int, double: bool,
               limit: float) -> np.ndarray:
    """``_spmm.solve`` with an explicit tile width and crew."""
    dt = np.dtype(np.float64 if double else np.float32)
    indptr, indices, data, dangling = tr.host_operands(dt)
    b, n = resets.shape
    out = np.empty((b, n), dtype=dt)
    converged, _, _ = ppr_module._spmm.solve(indptr, indices, data, dangling, resets, 1.0 / resets.sum(axis=1), out,
                                             n, b, 0.5, limit, 100, tile, threads, crew, double)
    assert converged
    return out


@needs_c
@pytest.mark.parametrize("double", [True, False])
@pytest.mark.parametrize(("b", "tile"), [(1, 1), (5, 8), (40, 16)])
@pytest.mark.parametrize("n", [5000, 300])
def test_c_kernel_crew_splits_a_tile_without_changing_results(n: int, b: int, tile: int, double: bool) -> None:
    # 5,000 nodes: five chunks of 1,024 rows, split by stored entries between the members;
    # 300 nodes: one chunk, so every member but the first has no rows
    tr = Transition.from_adjacency(sparse_graph(3, n, 6))
    resets = np.stack([random_reset(50 + i, n) for i in range(b)])
    # float32 at 5,000 nodes: a change within rounding of the limit (the exact pass runs)
    limit = 1e-12 * n if double else 1.778e-7 if n == 5000 else 1e-8 * n
    alone = crew_solve(tr, resets, tile=tile, threads=1, crew=1, double=double, limit=limit)
    for threads in (2, 3):
        shared = crew_solve(tr, resets, tile=tile, threads=threads, crew=threads, double=double, limit=limit)
        np.testing.assert_array_equal(shared, alone)
    ref = np.stack([personalized_pagerank(tr, r, damping=0.5, tol=limit / n) for r in resets])
    np.testing.assert_allclose(alone, ref, rtol=0, atol=1e-13 if double else 2e-6)


@needs_c
def test_c_kernel_shares_tiles_of_large_graphs_and_single_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ppr_module, "_CACHE_SHARE", 16 << 20)  # half of a 32 MB last-level cache
    f32, f64 = torch.float32, torch.float64
    assert ppr_module._layout(1_000, 64, f32, 2) == (32, 1)  # tiles fit the cache: one thread each
    assert ppr_module._layout(100_000, 64, f32, 2) == (16, 2)  # they do not: one cache line, shared
    assert ppr_module._layout(100_000, 64, f64, 2) == (8, 2)
    assert ppr_module._layout(100_000, 1, f64, 2) == (1, 2)
    assert ppr_module._layout(2_000, 1, f64, 2) == (1, 1)  # too small to pay for meeting every iteration
    assert ppr_module._layout(100_000, 64, f32, 1) == (32, 1)
    n = 12_000  # through the public functions: one vector and a batch, shared by two threads
    tr = Transition.from_adjacency(sparse_graph(4, n, 5))
    resets = np.stack([random_reset(70 + i, n) for i in range(3)])
    one = pagerank_one(tr, resets[0], damping=0.5, threads=2)
    np.testing.assert_array_equal(one, pagerank_one(tr, resets[0], damping=0.5, threads=1))
    np.testing.assert_allclose(one, personalized_pagerank(tr, resets[0], damping=0.5), rtol=0, atol=1e-15)
    batch = personalized_pagerank_torch(tr, resets, damping=0.5, device="cpu", threads=2).numpy()
    np.testing.assert_array_equal(batch[0], one)


@pytest.mark.parametrize("every", [1, 4])
def test_torch_path_checks_convergence_every_few_iterations(every: int) -> None:
    """The GPU path's loop (torch.sparse.mm, float32 here) tests convergence every ``every`` steps."""
    a = random_graph(2, 50, directed=False)
    resets = np.stack([random_reset(i, 50) for i in range(3)])
    got = personalized_pagerank_torch(a, resets, damping=0.5, device="cpu", dtype=torch.float32, tol=1e-7,
                                      check_every=every)
    for i in range(3):
        np.testing.assert_allclose(got[i].numpy(), personalized_pagerank(a, resets[i], damping=0.5), atol=2e-6)
    with pytest.raises(ValidationError):
        personalized_pagerank_torch(a, resets, device="cpu", check_every=0)


@pytest.mark.parametrize("directed", [False, True])
def test_one_query_path_matches_the_reference(directed: bool) -> None:
    # what the graph's search runs: the C kernel when built, with the reference's stopping rule
    a = random_graph(7, 120, directed=directed)
    r = random_reset(7, 120)
    tr = Transition.from_adjacency(sp.csr_matrix(a))
    np.testing.assert_allclose(pagerank_one(tr, r, damping=0.5), personalized_pagerank(tr, r, damping=0.5),
                               rtol=0, atol=1e-15)
    with pytest.raises(ConvergenceError):
        pagerank_one(a, r, damping=0.99, tol=1e-15, max_iter=3)
    with pytest.raises(ValidationError):
        pagerank_one(a, r, damping=1.0)
