"""kernels.order: the partial stable sort gives the full sort's first k, ties and NaNs included."""

from __future__ import annotations

import numpy as np
import pytest

from agentmem.kernels.order import stable_top, stable_top_reference


@pytest.mark.parametrize("seed", range(20))
def test_stable_top_equals_the_full_stable_sort(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    values = rng.integers(0, 12, size=n).astype(np.float64) if seed % 2 else rng.normal(size=n)  # many ties
    if seed % 5 == 0:
        values[rng.integers(0, n, size=3)] = np.nan
    for k in (0, 1, 3, 10, 100, n - 1, n, n + 5):
        got = stable_top(values, k)
        np.testing.assert_array_equal(got, stable_top_reference(values, k))
        assert got.dtype.kind == "i"


def test_float32_and_infinities() -> None:
    values = np.array([1.0, np.inf, -np.inf, 1.0, 0.5, np.inf] * 50, dtype=np.float32)
    for k in (1, 2, 3, 7, 60):
        np.testing.assert_array_equal(stable_top(values, k), stable_top_reference(values, k))
