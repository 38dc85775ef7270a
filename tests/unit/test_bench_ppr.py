"""``agentmem bench ppr`` on a small graph: every timing and ratio is reported, the batch equals the reference."""

from __future__ import annotations

import argparse

import numpy as np

from agentmem.bench import ppr as bench_ppr


def test_bench_ppr_reports_ratios_and_parity() -> None:
    args = argparse.Namespace(graphs="600:2000", batch=8, threads="1,2", repeats=1, shape="random")
    out = bench_ppr.run(args)
    (row,) = out["rows"]
    assert row["nodes"] == 600 and row["batch"] == 8 and row["stored_entries"] > 3000
    for key in ("scipy_1_ms", "c_f64_1_t1_ms", "c_f64_1_t2_ms", "c_f32_1_t1_ms", "c_f64_8_t1_ms", "c_f64_8_t2_ms",
                "c_f32_8_t2_ms"):
        assert row[key] > 0, key
    assert row["c_f64_8_t1_cpu_over_one"] > 0 and row["c_f32_8_t2_over_one"] > 0
    assert row["c_f32_8_t2_over_one_thread"] > 0
    assert row["c_f64_max_abs_diff"] < 1e-12
    assert row["c_f32_max_abs_diff"] < 1e-5


def test_random_graph_is_symmetric_with_five_seeds_per_reset() -> None:
    tr, resets = bench_ppr.random_graph(300, 900, 4, seed=1)
    assert tr.n == 300 and resets.shape == (4, 300)
    assert ((resets > 0).sum(axis=1) <= 5).all()
    pattern = (tr.pt != 0).astype(int)
    assert (pattern != pattern.T).nnz == 0


def test_ring_shape_links_each_node_to_its_next_neighbours() -> None:
    tr, _ = bench_ppr.random_graph(50, 100, 2, shape="ring")
    rows, cols = tr.pt.nonzero()
    gap = np.abs(rows - cols)
    assert tr.pt.nnz == 200 and set(np.minimum(gap, 50 - gap).tolist()) == {1, 2}
