"""The sketch's int8 first level (``kernels.scan``, C kernel ``kernels/_scan.c``) against its
numpy reference, the soundness of its bounds, and the fused single-query search against the
reference top-k.
"""

from __future__ import annotations

import platform
import sys

import numpy as np
import pytest
import torch
from test_topk_parity import assert_same_topk, brute_force
from test_topk_projected import embeddings

from agentmem.errors import ValidationError
from agentmem.kernels import scan
from agentmem.kernels.topk import topk_reference
from agentmem.kernels.topk_projected import (
    _first_level,
    _QueryTerms,
    build_sketch,
    extend_sketch,
    topk_projected,
)

built = pytest.mark.skipif(not scan.available(), reason="the C kernel is not built here")


def test_the_kernel_is_built_where_ci_runs() -> None:
    # CI (Linux x86-64, gcc) must exercise the C paths, not only the numpy fallback
    if sys.platform == "linux" and platform.machine() == "x86_64":
        assert scan.available() and scan.simd()


def random_codes(n: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    codes = rng.integers(1, 256, (n, width), dtype=np.uint8)  # signed codes -127..127, plus 128
    terms = rng.random((n, 3), dtype=np.float32)
    q = rng.integers(-64, 65, width).astype(np.int8)
    qt = np.array([1e-4, 0.5, 0.25], dtype=np.float32)
    return codes, terms, q, qt


@built
@pytest.mark.parametrize(("n", "width"), [(0, 32), (1, 32), (7, 64), (1001, 96), (64, 512), (9, 48)])
def test_scan_paths_agree(n: int, width: int) -> None:
    codes, terms, q, qt = random_codes(n, width, seed=n + width)
    simd, portable = scan.scan(codes, terms, q, qt), scan.scan(codes, terms, q, qt, portable=True)
    assert np.array_equal(simd, portable)  # the same int32 dot products, the same float32 steps
    np.testing.assert_allclose(simd, scan.scan_reference(codes, terms, q, qt), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("code", "sign"), [(1, 1), (255, 1), (1, -1), (255, -1)])
def test_scan_extremes_neither_saturate_nor_overflow(code: int, sign: int) -> None:
    codes = np.full((5, 512), code, dtype=np.uint8)  # signed -127 or 127
    terms = np.ones((5, 3), dtype=np.float32)
    q = np.full(512, 64 * sign, dtype=np.int8)  # AVX2 pairs: 255 * 64 * 2 < 2^15
    qt = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    want = np.float32((code - 128) * 64 * sign * 512)
    assert np.all(scan.scan(codes, terms, q, qt) == want)
    assert np.all(scan.scan(codes, terms, q, qt, portable=True) == want)


def test_scan_rejects_mismatched_inputs() -> None:
    codes, terms, q, qt = random_codes(10, 32, seed=1)
    with pytest.raises(ValidationError):
        scan.scan(codes.astype(np.int16), terms, q, qt)
    if scan.available():
        with pytest.raises(ValueError, match="rows of width"):
            scan.scan(codes[:, :16].copy(), terms, q, qt)
        with pytest.raises(ValueError):
            scan.scan(codes, terms[:5], q, qt)


def test_quantized_rows_bound_their_rounding() -> None:
    rng = np.random.default_rng(3)
    proj = rng.standard_normal((300, 24)) * rng.random((300, 1)) * 3
    proj[7] = 0.0
    codes, terms = scan.quantize_rows(proj, np.full(300, 0.5), width=32)
    signed = codes.astype(np.int64) - 128
    assert codes.shape == (300, 32) and not signed[:, 24:].any() and np.abs(signed).max() <= 127
    deq = signed[:, :24] * terms[:, :1].astype(np.float64)
    assert np.all(np.linalg.norm(proj - deq, axis=1) <= terms[:, 2])
    assert terms[7].tolist() == [1.0, 0.5, 0.0]
    with pytest.raises(ValidationError):
        scan.quantize_rows(proj, np.zeros(300), width=16)  # 24 coordinates in 16 codes
    with pytest.raises(ValidationError):
        scan.quantize_rows(proj, np.zeros(300), width=48)  # not a multiple of 32


@pytest.mark.parametrize("r", [0, 1, 24, 96])
def test_quantized_queries_match_the_reference_and_bound_their_rounding(r: int) -> None:
    rng = np.random.default_rng(r)
    p = rng.standard_normal((6, r)) * np.array([[1e-3], [0.1], [1.0], [10.0], [0.0], [0.5]])
    width = scan.code_width(max(r, 1))
    got, ref = scan.quantize_query(p, width=width), scan.quantize_query(p, width=width, reference=True)
    assert np.array_equal(got.codes, ref.codes) and np.array_equal(got.scale, ref.scale)
    np.testing.assert_allclose(got.error, ref.error, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(got.norm, ref.norm, rtol=1e-6)
    deq = got.codes[:, :r].astype(np.float64) * got.scale[:, None]
    assert np.all(np.linalg.norm(p - deq, axis=1) <= got.error)
    assert np.all(np.linalg.norm(deq, axis=1) <= got.norm)
    assert np.abs(got.codes.astype(int)).max(initial=0) <= 64


@pytest.mark.parametrize("kind", ["embeddings", "scaled", "foreign basis"])
def test_code_bounds_hold_for_every_row(kind: str) -> None:
    """The scan's output plus the query's constant is at least every row's exact score."""
    c = embeddings(2500, seed=20)
    q = embeddings(6, seed=21)
    if kind == "scaled":  # rows and queries far from unit norm
        c = c * torch.linspace(0.01, 30.0, len(c)).unsqueeze(1)
        q = q * 7.0
    basis = None if kind != "foreign basis" else torch.linalg.qr(torch.randn(64, 12))[0]
    sk = build_sketch(c, 16, basis=basis, codes=True)
    terms = _QueryTerms.of(sk, q.numpy())
    exact = q.double().numpy() @ c.double().numpy().T
    for i in range(len(q)):
        approx, const = _first_level(sk, terms, i)
        assert np.all(approx.astype(np.float64) + const >= exact[i])


@built
def test_gather_dot_matches_the_reference_and_checks_rows() -> None:
    rng = np.random.default_rng(5)
    for d in (32, 384, 50):  # 50: not a multiple of 32, the portable loop
        mat = rng.standard_normal((500, d), dtype=np.float32)
        rows = rng.integers(0, 500, 300)
        q = rng.standard_normal(d, dtype=np.float32)
        want = scan.gather_dot_reference(mat, rows, q)
        np.testing.assert_allclose(scan.gather_dot(mat, rows, q), want, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(scan.gather_dot(mat, rows, q, portable=True), want, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="outside"):
        scan.gather_dot(mat, np.array([0, 500]), q)
    with pytest.raises(ValueError, match="outside"):
        scan.gather_dot(mat, np.array([-1]), q)


@built
@pytest.mark.parametrize("n", [5, 63, 64, 1000, 4099])
def test_fused_search_is_the_reference_top_k(n: int) -> None:
    base = embeddings(n, seed=n)
    c = torch.cat([base, base[: max(1, n // 10)]])  # duplicates: ties, the lower row first
    q = torch.cat([embeddings(3, seed=n + 1), base[:2]])
    sk = build_sketch(c, 16, codes=True)
    terms = _QueryTerms.of(sk, q.numpy())
    for k in (1, 10, len(c) + 3):
        for i in range(len(q)):
            found = scan.fused_topk(sk.codes.numpy(), sk.code_terms.numpy(), terms.q_codes[i], terms.scan_terms[i],
                                    float(terms.const_scan[i]), c.numpy(), q[i].numpy(), k, first=4 * k + 32)
            assert found is not None
            want = brute_force(q[i : i + 1], c, k)
            assert_same_topk((found[0][None], found[1][None]), want, q[i : i + 1], c)
        assert_same_topk(topk_projected(q, c, sk, k), brute_force(q, c, k), q, c)


@pytest.mark.parametrize("refine", [0, 16])
def test_sketches_with_and_without_codes_give_the_same_answers(refine: int) -> None:
    c = embeddings(3000, seed=30)
    q = embeddings(5, seed=31)
    valid = torch.rand(len(c), generator=torch.Generator().manual_seed(32)) > 0.2
    plain = build_sketch(c, 8, refine_rank=refine, codes=False)
    coded = build_sketch(c, 8, refine_rank=refine, codes=True)
    assert plain.codes is None and coded.codes is not None and coded.codes.shape == (3000, 32)
    for k in (1, 10, 200):
        for mask in (None, valid):
            a, b = topk_projected(q, c, plain, k, valid=mask), topk_projected(q, c, coded, k, valid=mask)
            assert torch.equal(a[1], b[1])
            torch.testing.assert_close(a[0], b[0])
    more = torch.cat([c, embeddings(400, seed=33, shared=-0.6)])
    grown = extend_sketch(coded, more[len(c) :])
    assert grown.codes is not None and len(grown.codes) == len(more) == len(grown)
    assert grown.max_code_rounding >= coded.max_code_rounding
    assert torch.equal(topk_projected(q, more, grown, 10)[1], topk_reference(q, more, 10)[1])


def test_plans_with_codes_have_one_level_in_whole_code_steps() -> None:
    from agentmem.kernels.sketch_plan import choose_split, plan_sketch
    from agentmem.kernels.topk_projected import fit_basis

    corpus = embeddings(3000, seed=40)
    basis = fit_basis(corpus, 48)
    r1, r2, _ = choose_split(corpus, basis, 3000, codes=True)
    assert r2 == 0 and (r1 % 32 == 0 or r1 == 48)  # whole 32-code steps, or the whole basis
    assert choose_split(corpus, basis, 3000, candidates=(5, 40), codes=True)[:2] in {(32, 0), (48, 0)}
    sk = plan_sketch(corpus, 48, max_share=None, codes=True)
    assert sk is not None and sk.level2 is None and sk.codes is not None
