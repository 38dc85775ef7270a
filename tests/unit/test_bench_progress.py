"""Bench progress: lines on a stream, throttled, the last one always printed; --quiet silences."""

from __future__ import annotations

import io

from agentmem.bench.progress import Progress
from agentmem.cli.main import build_parser


def test_progress_lines_are_throttled_and_end_at_the_total() -> None:
    now = [0.0]
    out = io.StringIO()
    p = Progress("locomo: questions", 4, stream=out, every=5.0, clock=lambda: now[0])
    p.step()  # 0 s since the start: no line
    now[0] = 6.0
    p.step()  # 6 s: a line
    now[0] = 7.0
    p.step()  # 1 s since the last line: none
    p.step()  # the total: always
    assert out.getvalue().splitlines() == ["locomo: questions: 2/4 (50%) 6.0 s", "locomo: questions: 4/4 (100%) 7.0 s"]
    quiet = io.StringIO()
    q = Progress("x", 1, stream=quiet, enabled=False)
    q.step()
    assert quiet.getvalue() == ""


def test_every_bench_takes_quiet_and_json() -> None:
    args = build_parser().parse_args(["bench", "locomo", "--data", "x.json", "--json", "--quiet"])
    assert args.quiet and args.json
