"""bf16 storage + fp32 rescoring answers exactly as fp32 exact search does.

The same code runs on the CPU (``device="cpu"``, bf16 math on CPU torch) as on CUDA; the data
has exact ties (duplicate rows) and near-ties closer than bf16 can tell apart, where searching
the rounded rows alone gets the order wrong.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agentmem.errors import ValidationError
from agentmem.kernels import topk_reference
from agentmem.kernels.topk_rescore import rescoring_bound, topk_rescored
from agentmem.store.dense import ExactIndex

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def tricky_corpus(n: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit rows with duplicates and near-duplicates (2e-4 apart), and queries aimed at them."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, d, generator=g)
    base[n // 2 : n // 2 + 40] = base[:40]  # exact ties
    near = base[40:80] + 2e-4 * torch.randn(40, d, generator=g)  # bf16 cannot tell these from their twins
    base[n // 2 + 40 : n // 2 + 80] = near
    base /= base.norm(dim=1, keepdim=True)
    q = torch.cat([base[:8], base[40:48], torch.randn(8, d, generator=g)])
    q += 0.05 * torch.randn(q.shape, generator=g)
    return q, base


def ids_equal_to_reference(got: tuple[torch.Tensor, torch.Tensor], q: torch.Tensor, c: torch.Tensor,
                           k: int, valid: torch.Tensor | None = None) -> None:
    """The reference's ids, except that two rows whose float64 scores are within fp32 rounding
    (1e-6, where summation order decides) may swap; bf16 rounding errs by ~1e-3."""
    ws, wi = topk_reference(q, c, k, valid=valid)
    gs, gi = (t.cpu() for t in got)
    torch.testing.assert_close(gs, ws, rtol=0, atol=1e-6)
    s64 = q.double() @ c.double().T
    differ = (gi != wi).nonzero().tolist()
    for r, j in differ:
        assert abs(float(s64[r, gi[r, j]] - s64[r, wi[r, j]])) <= 1e-6, (r, j)
    assert len(differ) <= 2 * len(q)  # a swap here and there, not another ranking


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("k", [1, 5, 37])
@pytest.mark.parametrize("store", [torch.bfloat16, torch.float16])
def test_rescored_topk_equals_fp32_exact(device: str, k: int, store: torch.dtype) -> None:
    q, c = tricky_corpus(3000, 48, seed=k)
    low = c.to(device, store)
    got = topk_rescored(q.to(device), low, c, k, bound=rescoring_bound(c, low))
    ids_equal_to_reference(got, q, c, k)


@pytest.mark.parametrize("device", DEVICES)
def test_the_rounded_rows_alone_get_near_ties_wrong(device: str) -> None:
    # the reason for rescoring: bf16 search ranks near-twins by their rounded vectors
    q, c = tricky_corpus(3000, 48, seed=1)
    low = c.to(device, torch.bfloat16)
    plain = topk_reference(q, low.cpu(), 10)[1]
    assert not torch.equal(plain, topk_reference(q, c, 10)[1])
    ids_equal_to_reference(topk_rescored(q.to(device), low, c, 10, bound=rescoring_bound(c, low)), q, c, 10)


@pytest.mark.parametrize("width", [1, 3])
def test_a_narrow_first_scan_is_widened_until_certified(width: int) -> None:
    q, c = tricky_corpus(2000, 32, seed=7)
    low = c.to(torch.bfloat16)
    ids_equal_to_reference(topk_rescored(q, low, c, 12, bound=rescoring_bound(c, low), width=width), q, c, 12)


def test_masked_rows_and_k_beyond_the_valid_rows() -> None:
    q, c = tricky_corpus(500, 16, seed=3)
    low = c.to(torch.bfloat16)
    valid = torch.zeros(500, dtype=torch.bool)
    valid[::7] = True
    bound = rescoring_bound(c, low)
    ids_equal_to_reference(topk_rescored(q, low, c, 20, bound=bound, valid=valid), q, c, 20, valid)
    s, i = topk_rescored(q, low, c, 1000, bound=bound, valid=valid)
    assert i.shape == (q.shape[0], int(valid.sum()))
    ids_equal_to_reference((s, i), q, c, 1000, valid)
    none = torch.zeros(500, dtype=torch.bool)
    assert topk_rescored(q, low, c, 3, bound=bound, valid=none)[1].shape == (q.shape[0], 0)


def test_an_understated_bound_is_what_certification_rests_on() -> None:
    # both rows round to bf16 1.0; row 0 is nominated, and with bound 0 its exact 1.003 above
    # its rounded 1.0 "certifies" it, though row 1 scores 1.0035: the bound is not decoration
    c = torch.tensor([[1.003, 0.0], [1.0035, 0.0]])
    low = c.to(torch.bfloat16)
    q = torch.tensor([[1.0, 0.0]])
    assert topk_rescored(q, low, c, 1, bound=0.0, width=1)[1].tolist() == [[0]]
    assert topk_rescored(q, low, c, 1, bound=rescoring_bound(c, low), width=1)[1].tolist() == [[1]]


def test_bad_arguments_are_rejected() -> None:
    c = torch.eye(4)
    low = c.to(torch.bfloat16)
    with pytest.raises(ValidationError):
        topk_rescored(c, low, c.double(), 1, bound=0.1)
    with pytest.raises(ValidationError):
        topk_rescored(c, low, c, 1, bound=-1.0)
    with pytest.raises(ValidationError):
        topk_rescored(c, low, c, 1, bound=0.1, width=0)
    with pytest.raises(ValidationError):
        rescoring_bound(c, low[:2])


@pytest.mark.parametrize("device", DEVICES)
def test_exact_index_bf16_rescored_answers_like_fp32(device: str) -> None:
    q, c = tricky_corpus(4000, 48, seed=11)
    ids = [f"r{i}" for i in range(len(c))]
    fp32 = ExactIndex(48, device="cpu", dtype=torch.float32, sketch_rank=0)
    rescored = ExactIndex(48, device=device, dtype=torch.bfloat16, rescore=True)
    for start in range(0, len(c), 1500):  # grows past its first capacity
        fp32.add(ids[start : start + 1500], c[start : start + 1500].numpy())
        rescored.add(ids[start : start + 1500], c[start : start + 1500].numpy())
    gone = ids[::9]
    fp32.remove(gone)
    rescored.remove(gone)
    assert _same_ids(rescored.search(q.numpy(), 10), fp32.search(q.numpy(), 10))
    rows, scores = rescored.search_rows(q[0].numpy(), 5)
    want_rows, want_scores = fp32.search_rows(q[0].numpy(), 5)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_allclose(scores, want_scores, atol=1e-6)
    np.testing.assert_array_equal(rescored.rows_vectors(rows), c[rows].numpy())


def _same_ids(a: list[list[tuple[str, float]]], b: list[list[tuple[str, float]]]) -> bool:
    return [[i for i, _ in r] for r in a] == [[i for i, _ in r] for r in b] and all(
        abs(x - y) <= 1e-6 for ra, rb in zip(a, b, strict=True) for (_, x), (_, y) in zip(ra, rb, strict=True))


def test_storage_defaults() -> None:
    cpu = ExactIndex(8)
    assert (cpu.dtype, cpu.rescore) == (torch.float32, False)
    assert ExactIndex(8, dtype=torch.bfloat16).rescore is False  # an explicit bf16 index ranks its rounded rows
    if torch.cuda.is_available():
        gpu = ExactIndex(8, device="cuda")
        assert (gpu.dtype, gpu.rescore) == (torch.bfloat16, True)
