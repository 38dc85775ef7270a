"""Exact top-k: the reference, the torch path and the Triton kernel agree with a numpy brute force.

Triton runs on the CPU under ``TRITON_INTERPRET=1``, set by the ``interpret`` fixture only for
the tests that use it (the kernel is built per mode on first use, so setting it at run time
suffices). Triton itself is imported when this module is, before any test sets the flag, as by a
program that compiles kernels: its own ``@jit`` helpers are then built for compilation, and the
interpreter tests check that the kernel runs interpreted all the same, whatever this process
imported or ran before. Sizes are small because the interpreter executes each program in numpy.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
import torch

import agentmem.kernels as kernels
from agentmem.errors import ConfigError, DeviceUnavailableError, ValidationError
from agentmem.kernels import resolve_device, topk, topk_reference
from agentmem.kernels.device import triton_available

HAS_TRITON = importlib.util.find_spec("triton") is not None
SHELL_FLAG = os.environ.get("TRITON_INTERPRET")  # what the tests must leave behind
if HAS_TRITON:
    import triton.language
    from triton.runtime.jit import JITFunction
# False with Triton only when the shell set TRITON_INTERPRET=1: Triton then built its helpers for
# the interpreter, and compiles no kernel in this process.
TRITON_BUILT_TO_COMPILE = HAS_TRITON and isinstance(triton.language.max, JITFunction)
HAS_CUDA = torch.cuda.is_available()
DTYPES = [torch.float32, torch.float16, torch.bfloat16]
needs_triton = pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed (agentmem[gpu])")


@pytest.fixture
def interpret(monkeypatch: pytest.MonkeyPatch):
    """Run Triton kernels on the CPU for the one test that asks for it (unset again after it:
    the kernels read the flag at each launch, and are built once per mode)."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch):
    """The real, compiled kernel: no interpreter flag, whatever an earlier test or the shell set."""
    if not TRITON_BUILT_TO_COMPILE:
        pytest.skip(
            "triton was imported under the shell's TRITON_INTERPRET=1, so it compiles nothing"
        )
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    from agentmem.kernels.device import triton_interpret

    assert not triton_interpret()


def brute_force(q: torch.Tensor, c: torch.Tensor, k: int, valid: torch.Tensor | None = None):
    """float64 numpy top-k: highest score first, lower index first among equal scores."""
    s = q.double().numpy() @ c.double().numpy().T
    rows = np.arange(c.shape[0]) if valid is None else np.flatnonzero(valid.numpy())
    out = []
    for row in s:
        order = rows[np.lexsort((rows, -row[rows]))][:k]
        out.append((row[order], order))
    k_out = min(k, len(rows))
    scores = np.array([o[0] for o in out]).reshape(len(out), k_out)
    return scores, np.array([o[1] for o in out], dtype=np.int64).reshape(len(out), k_out)


def assert_same_topk(got, want, q, c, tol=1e-4):
    """Same scores; same indices except where two rows' exact scores are within ``tol``."""
    (gs, gi), (ws, wi) = got, want
    gs, gi = np.asarray(gs, dtype=np.float64), np.asarray(gi)
    assert gs.shape == np.shape(ws) and gi.shape == np.shape(wi)
    assert gi.dtype == np.int64
    np.testing.assert_allclose(gs, ws, rtol=tol, atol=tol)
    exact = q.double().numpy() @ c.double().numpy().T
    for b, (g_row, w_row) in enumerate(zip(gi, np.asarray(wi), strict=True)):
        assert len(set(g_row.tolist())) == len(g_row), "an index was returned twice"
        for g, w in zip(g_row, w_row, strict=True):
            assert g == w or abs(exact[b, g] - exact[b, w]) <= tol * max(1.0, abs(exact[b, w]))


def make(n: int, d: int, b: int, dtype: torch.dtype, seed: int = 0, masked: bool = False):
    gen = torch.Generator().manual_seed(seed)
    c = torch.randn(n, d, generator=gen).to(dtype)
    q = torch.randn(b, d, generator=gen).to(dtype)
    valid = torch.rand(n, generator=gen) > 0.4 if masked else None
    return q, c, valid


def as_np(result):
    return result[0].numpy(), result[1].numpy()


CASES = [  # (n, b, k, masked)
    (300, 1, 1, False),
    (300, 5, 7, True),
    (300, 3, 10, False),
    (40, 2, 64, True),  # k larger than the number of valid rows
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("n", "b", "k", "masked"), CASES)
def test_reference_matches_numpy(dtype, n, b, k, masked):
    q, c, valid = make(n, 48, b, dtype, masked=masked)
    got = topk_reference(q, c, k, valid=valid, chunk_size=64)
    assert got[0].dtype == torch.float32
    assert_same_topk(as_np(got), brute_force(q, c, k, valid), q, c)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("n", "b", "k", "masked"), [*CASES, (5000, 17, 25, True)])
@pytest.mark.parametrize("chunk_size", [None, 97])
def test_torch_path_matches_reference(dtype, n, b, k, masked, chunk_size):
    q, c, valid = make(n, 48, b, dtype, seed=1, masked=masked)
    got = topk(q, c, k, valid=valid, method="torch", chunk_size=chunk_size)
    assert_same_topk(as_np(got), as_np(topk_reference(q, c, k, valid=valid)), q, c)


@needs_triton
@pytest.mark.usefixtures("interpret")
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("n", "b", "k", "masked"), [*CASES, (700, 20, 5, True)])
def test_triton_matches_reference(dtype, n, b, k, masked):
    q, c, valid = make(n, 48, b, dtype, seed=2, masked=masked)
    got = topk(q, c, k, valid=valid, method="triton")
    assert_same_topk(as_np(got), as_np(topk_reference(q, c, k, valid=valid)), q, c)


@needs_triton
@pytest.mark.usefixtures("interpret")
def test_interpreter_runs_the_kernel_where_triton_was_imported_to_compile():
    """``tl.max`` and the like, built for compilation at import, fail when an interpreted kernel
    calls them ("Cannot call @triton.jit'd outside of the scope of a kernel")."""
    if not TRITON_BUILT_TO_COMPILE:
        pytest.skip("the shell set TRITON_INTERPRET=1, so triton was imported for the interpreter")
    q, c, valid = make(300, 48, 3, torch.float32, seed=6, masked=True)
    got = topk(q, c, 5, valid=valid, method="triton")
    assert_same_topk(as_np(got), as_np(topk_reference(q, c, 5, valid=valid)), q, c)


def clustered(n: int, d: int, b: int, seed: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit vectors in tight clusters: scores closer than bf16 resolution (2**-8 near 1.0)."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(torch.randn(8, d, generator=gen), dim=1)
    pick = torch.randint(0, 8, (n,), generator=gen)
    c = torch.nn.functional.normalize(
        centres[pick] + 0.01 * torch.randn(n, d, generator=gen), dim=1
    )
    q = torch.nn.functional.normalize(centres[:b] + 0.01 * torch.randn(b, d, generator=gen), dim=1)
    return q, c


@pytest.mark.parametrize("query_dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("b", [2, 7])  # the two error bounds: query residual multiplied, or bounded
@pytest.mark.parametrize("masked", [False, True])
def test_bf16_torch_path_is_exact_on_near_ties(query_dtype, b, masked):
    q, c = clustered(8000, 64, b)
    q, c = q.to(query_dtype), c.to(torch.bfloat16)
    valid = torch.arange(8000) % 3 != 1 if masked else None
    want = topk_reference(q, c, 20, valid=valid)
    got = topk(q, c, 20, valid=valid, method="torch", chunk_size=4096)
    assert_same_topk(as_np(got), as_np(want), q, c, tol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_mostly_masked_corpus(dtype):
    q, c, _ = make(3000, 32, 4, dtype, seed=5)
    valid = torch.zeros(3000, dtype=torch.bool)
    valid[[5, 700, 701, 2999]] = True
    want = brute_force(q, c, 3, valid)
    assert_same_topk(as_np(topk(q, c, 3, valid=valid, method="torch", chunk_size=1000)), want, q, c)
    assert_same_topk(as_np(topk_reference(q, c, 3, valid=valid, chunk_size=1000)), want, q, c)


def tie_corpus() -> tuple[torch.Tensor, torch.Tensor]:
    a, b, z = [1.0, 0.0], [0.5, 0.5], [0.0, 1.0]
    return torch.tensor([[1.0, 0.0]]), torch.tensor([z, a, b, a, z, a, b])


def test_reference_breaks_ties_by_lower_index():
    q, c = tie_corpus()
    scores, idx = topk_reference(q, c, 4, chunk_size=2)
    assert idx.tolist() == [[1, 3, 5, 2]]
    assert scores.tolist() == [[1.0, 1.0, 1.0, 0.5]]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("method", ["torch", pytest.param("triton", marks=needs_triton)])
def test_fast_paths_order_ties_by_index(dtype, method, request):
    if method == "triton":
        request.getfixturevalue("interpret")
    q, c = tie_corpus()
    # every tie lies inside the top-5, so even the fast paths must give the reference's rows
    assert topk(q.to(dtype), c.to(dtype), 5, method=method)[1].tolist() == [[1, 3, 5, 2, 6]]


@pytest.mark.parametrize("method", ["torch", pytest.param("triton", marks=needs_triton)])
@pytest.mark.parametrize(
    ("n", "b", "all_masked"),
    [(0, 3, False), (10, 3, True), (10, 0, False)],
    ids=["empty", "masked", "B0"],
)
def test_nothing_to_return_gives_empty_result(method, n, b, all_masked, request):
    if method == "triton":
        request.getfixturevalue("interpret")
    q, c = torch.randn(b, 8), torch.randn(n, 8)
    valid = torch.zeros(n, dtype=torch.bool) if all_masked else None
    for fn in (topk_reference, lambda *a, **kw: topk(*a, method=method, **kw)):
        scores, idx = fn(q, c, 4, valid=valid)
        k_out = 0 if (n == 0 or all_masked) else 4
        assert scores.shape == (b, k_out) and scores.dtype == torch.float32
        assert idx.shape == (b, k_out) and idx.dtype == torch.int64


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"k": 0}, ValidationError),
        ({"k": True}, ValidationError),
        ({"queries": torch.randn(8)}, ValidationError),
        ({"queries": torch.randn(2, 7)}, ValidationError),
        ({"corpus": torch.randn(10, 8).double()}, ValidationError),
        ({"valid": torch.ones(9, dtype=torch.bool)}, ValidationError),
        ({"valid": torch.ones(10)}, ValidationError),
        ({"method": "faiss"}, ConfigError),
        ({"device": "tpu"}, ConfigError),
        ({"chunk_size": 0}, ValidationError),
    ],
)
def test_bad_input_is_rejected_up_front(kwargs, error):
    args = {"queries": torch.randn(2, 8), "corpus": torch.randn(10, 8), "k": 3, **kwargs}
    with pytest.raises(error):
        topk(args.pop("queries"), args.pop("corpus"), args.pop("k"), **args)


@needs_triton
@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_triton_without_cuda_or_interpreter_is_an_error(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert not triton_available()
    with pytest.raises(DeviceUnavailableError, match="TRITON_INTERPRET"):
        topk(torch.randn(2, 8), torch.randn(10, 8), 3, method="triton")
    assert topk(torch.randn(2, 8), torch.randn(10, 8), 3)[1].shape == (2, 3)  # auto: torch


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if HAS_CUDA else "cpu")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("gpu")


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_cuda_without_a_gpu_raises_instead_of_falling_back():
    with pytest.raises(DeviceUnavailableError, match="no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(DeviceUnavailableError):
        topk(torch.randn(2, 8), torch.randn(10, 8), 3, device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not (HAS_CUDA and HAS_TRITON), reason="needs a CUDA device and triton")
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.usefixtures("compiled")
def test_triton_on_cuda_matches_reference(dtype):
    from agentmem.kernels.topk_triton import _kernel

    assert type(_kernel(False)) is JITFunction  # compiled for the GPU, not the interpreter's
    q, c, valid = make(100_000, 384, 64, dtype, seed=4, masked=True)
    want = as_np(topk_reference(q, c, 10, valid=valid))
    q, c, valid = q.cuda(), c.cuda(), valid.cuda()
    for method in ("triton", "torch"):
        got = topk(q, c, 10, valid=valid, method=method)
        assert_same_topk((got[0].cpu().numpy(), got[1].cpu().numpy()), want, q.cpu(), c.cpu())


def test_public_surface():
    assert set(kernels.__all__) >= {"resolve_device", "topk", "topk_reference"}
    assert all(hasattr(kernels, name) for name in kernels.__all__)


def test_search_bench_smoke():
    from agentmem.bench.search import run_search_bench

    out = run_search_bench([1000], [1, 4], dim=32, k=5, repeats=3, include_chroma=True)
    rows = {(r["method"], r["batch"]): r for r in out["rows"]}
    for method in ("torch_fp32", "torch_bf16", "faiss_flat_ip", "chroma_hnsw"):
        assert rows[(method, 4)]["status"] == "ok", rows[(method, 4)]
        assert rows[(method, 4)]["p50_ms"] > 0
    assert rows[("torch_fp32", 4)]["recall_at_k"] == 1.0  # it is the ground truth
    assert rows[("exact_index", 1)]["recall_at_k"] == 1.0  # exact: the engine's search
    assert rows[("faiss_flat_ip", 4)]["recall_at_k"] >= 0.999  # exact too, up to float sums
    assert rows[("torch_bf16", 4)]["recall_at_k"] >= 0.98  # loses only bf16 storage rounding
    assert 0.0 <= rows[("chroma_hnsw", 1)]["recall_at_k"] <= 1.0


@needs_triton
def test_interpreter_flag_does_not_outlive_its_test():
    """Runs after the interpreter tests above: the flag is back to what the shell set, and a test
    that asks for the compiled kernel gets one (the CUDA parity tests once ran interpreted)."""
    from agentmem.kernels.topk_triton import _kernel

    assert os.environ.get("TRITON_INTERPRET") == SHELL_FLAG
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("TRITON_INTERPRET", raising=False)
        assert type(_kernel(kernels.device.triton_interpret())) is JITFunction
