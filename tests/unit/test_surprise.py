"""Surprisal kernel and the EM-LLM boundary rule: hand-computed cases, reference vs fast path."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agentmem.errors import ValidationError
from agentmem.kernels.surprisal import linear_surprisal, token_surprisal, token_surprisal_reference
from agentmem.mechanisms.episodes.segment.surprise import (
    SurpriseDetector,
    split_oversized,
    surprise_boundaries,
    surprise_boundaries_reference,
)

BOUNDARY_IMPLS = [surprise_boundaries, surprise_boundaries_reference]


# -- token_surprisal ----------------------------------------------------------------------
def test_surprisal_hand_computed() -> None:
    # uniform over 2 → log 2; [2, 0] → log(1 + e^-2) for the likely token
    logits = torch.tensor([[0.0, 0.0], [2.0, 0.0], [2.0, 0.0]])
    got = token_surprisal(logits, torch.tensor([1, 0, 1]), chunk=1)
    want = [math.log(2), math.log(1 + math.exp(-2)), 2 + math.log(1 + math.exp(-2))]
    assert got.tolist() == pytest.approx(want, abs=1e-6)


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_chunked_matches_reference(chunk: int, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(33, 301, generator=g) * 5).to(dtype)
    ids = torch.randint(0, 301, (33,), generator=g)
    torch.testing.assert_close(
        token_surprisal(logits, ids, chunk=chunk), token_surprisal_reference(logits, ids),
        rtol=1e-5, atol=1e-5,
    )


def test_large_logits_do_not_overflow() -> None:
    logits = torch.tensor([[1000.0, 0.0, -1000.0]])
    assert token_surprisal(logits, torch.tensor([0]), chunk=1).item() == pytest.approx(0.0, abs=1e-6)
    assert token_surprisal(logits, torch.tensor([1]), chunk=2).item() == pytest.approx(1000.0)


@pytest.mark.parametrize("softcap", [None, 3.0])
def test_linear_surprisal_matches_logits_path(softcap: float | None) -> None:
    g = torch.Generator().manual_seed(1)
    h, w = torch.randn(9, 16, generator=g), torch.randn(50, 16, generator=g)
    ids = torch.randint(0, 50, (9,), generator=g)
    z = h @ w.T
    if softcap:
        z = softcap * torch.tanh(z / softcap)
    torch.testing.assert_close(
        linear_surprisal(h, w, ids, softcap=softcap, chunk=8), token_surprisal_reference(z, ids),
        rtol=1e-5, atol=1e-5,
    )


def test_surprisal_validates() -> None:
    with pytest.raises(ValidationError):
        token_surprisal(torch.zeros(3, 4), torch.tensor([0, 1]))
    with pytest.raises(ValidationError):
        token_surprisal(torch.zeros(2, 4), torch.tensor([0, 4]))
    with pytest.raises(ValidationError):
        token_surprisal(torch.zeros(2, 4), torch.tensor([0, 1]), chunk=0)


# -- surprise_boundaries ------------------------------------------------------------------
@pytest.mark.parametrize("fn", BOUNDARY_IMPLS)
def test_boundaries_hand_computed(fn) -> None:  # type: ignore[no-untyped-def]
    # t=3: past [1,1,1] mean 1 std 0, 5 > 1 → boundary. t=4: past [1,1,5] mean 7/3,
    # std 1.886 → threshold 4.22, 1 is not above. t=6: past [5,1,1]: same threshold, 6 fires.
    s = [1.0, 1.0, 1.0, 5.0, 1.0, 1.0, 6.0]
    assert fn(s, window=3, gamma=1.0, min_size=1, max_size=100) == [3, 6]
    # min_size 4: at t=3 the first segment has only 3 items, so only t=6 cuts
    assert fn(s, window=3, gamma=1.0, min_size=4, max_size=100) == [6]
    # a high gamma silences the surprise; the size cap still cuts
    assert fn(s, window=3, gamma=10.0, min_size=1, max_size=3) == [3, 6]


@pytest.mark.parametrize("fn", BOUNDARY_IMPLS)
def test_boundaries_need_two_past_values(fn) -> None:  # type: ignore[no-untyped-def]
    assert fn([0.0, 9.0, 0.0], window=4, gamma=0.0, min_size=1, max_size=9) == []
    assert fn([0.0, 0.0, 9.0], window=4, gamma=0.0, min_size=1, max_size=9) == [2]


@pytest.mark.parametrize("fn", BOUNDARY_IMPLS)
def test_boundaries_validate(fn) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError):
        fn([1.0], window=1)
    with pytest.raises(ValidationError):
        fn([1.0], min_size=5, max_size=4)


@settings(max_examples=150, deadline=None)
@given(
    s=st.lists(st.floats(-5, 5, allow_nan=False, width=32), max_size=60),
    window=st.integers(2, 8),
    gamma=st.floats(0, 2),
    min_size=st.integers(1, 4),
    extra=st.integers(0, 10),
)
def test_fast_equals_reference_equals_streaming(
    s: list[float], window: int, gamma: float, min_size: int, extra: int
) -> None:
    max_size = min_size + extra
    ref = surprise_boundaries_reference(s, window=window, gamma=gamma, min_size=min_size, max_size=max_size)
    assert surprise_boundaries(s, window=window, gamma=gamma, min_size=min_size, max_size=max_size) == ref
    d = SurpriseDetector(window=window, gamma=gamma, min_size=min_size, max_size=max_size)
    assert [t for t, x in enumerate(s) if d.push(x)] == ref
    sizes: list[int] = np.diff([0, *ref, len(s)]).tolist() if s else []
    assert all(z <= max_size for z in sizes)
    assert all(z >= min_size for z in sizes[:-1])


def test_split_oversized_hand_computed() -> None:
    s = [0.0, 5.0, 0.0, 0.0, 9.0, 0.0]
    assert split_oversized(s, [100] * 6, max_tokens=600) == []
    assert split_oversized(s, [100] * 6, max_tokens=599, min_size=1) == [4]  # before the 9; 400 + 200 fit
    assert split_oversized(s, [100] * 6, max_tokens=399, min_size=1) == [1, 4]  # then [0, 4) before the 5
    assert split_oversized(s, [100] * 6, max_tokens=250, min_size=1) == [1, 2, 4]
    assert split_oversized(s, [100] * 6, max_tokens=250, min_size=3) == [3]  # only an even split is allowed
    assert split_oversized(s, [100] * 6, max_tokens=10, min_size=4) == []  # too short to cut
    assert split_oversized([1.0, 2.0, 2.0, 1.0], [5, 5, 5, 5], max_tokens=15, min_size=1) == [1]  # first of ties
    with pytest.raises(ValidationError):
        split_oversized([1.0], [1, 2], max_tokens=5)
    with pytest.raises(ValidationError):
        split_oversized([1.0], [1], max_tokens=0)
