"""Bench pictures: every plottable bench's result draws, the HTML report is self-contained, and
the CLI's --plot / --report write them while the printed JSON stays the same."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from agentmem.bench.plots import PLOTTABLE, figure, write_plot, write_report
from agentmem.errors import BackendUnavailableError, ValidationError

pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"

RESULTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "retrieval": ({"recall": {"2": 40.0, "5": 60.0, "10": 75.0}, "n_queries": 3,
                   "signals": {"dense": {"2": 30.0, "5": 50.0, "10": 70.0}, "graph": {"2": 35.0, "5": 55.0, "10": 72.0}}},
                  {"search_ms": [12.0, 14.5, 13.1]}),
    "locomo": ({"turn_recall": {"5": 50.0, "10": 60.0}, "session_recall": {"5": 70.0, "10": 80.0}, "n_questions": 4,
                "turn_recall_by_category": {"1": {"5": 40.0, "10": 50.0}, "2": {"5": 60.0, "10": 70.0}}},
               {"search_ms": [20.0, 22.0, 19.0, 25.0]}),
    "latency": ({"results": [{"turns": 100, "search_ms_p50": 5.0, "search_ms_p95": 7.0},
                             {"turns": 1000, "search_ms_p50": 6.0, "search_ms_p95": 9.0}]},
                {"search_ms": [[5.0, 5.5, 7.0], [6.0, 6.2, 9.0]]}),
    "segmentation": ({"params": {"tolerance": 1},
                      "methods": {"surprise+refine": {"precision": 0.5, "recall": 0.4, "f1": 0.44},
                                  "fixed": {"precision": 0.2, "recall": 0.2, "f1": 0.2}}},
                     {"trace": {"conversation": "conv-1", "scores": [1.0, 3.0, 2.0, 5.0, 1.5, 2.5], "true": [3],
                                "found": [3, 5], "method": "surprise+refine"}}),
}


@pytest.mark.parametrize("bench", PLOTTABLE)
def test_every_bench_draws(bench: str, tmp_path: Path) -> None:
    result, data = RESULTS[bench]
    fig = figure(bench, result, data)
    assert fig.axes and all(ax.has_data() for ax in fig.axes)
    png = write_plot(tmp_path / "p.png", bench, result, data)
    assert png.read_bytes().startswith(PNG)
    page = write_report(tmp_path / "r.html", bench, result, data).read_text()
    assert "data:image/png;base64," in page and "http" not in page.replace("data:image", "")


def test_unknown_bench_and_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="no plot for bench 'load'"):
        figure("load", {}, {})
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what an install without the extra sees
    with pytest.raises(BackendUnavailableError, match=r"agentmem\[plot\]"):
        figure("locomo", *RESULTS["locomo"])


@pytest.mark.slow  # loads the embedder and indexes a tiny LoCoMo file
def test_cli_locomo_plot_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from agentmem.cli.main import main

    def turn(dia: str, text: str) -> dict[str, str]:
        return {"speaker": "Ada", "dia_id": dia, "text": text}

    conv = {"sample_id": "c1", "conversation": {
        "speaker_a": "Ada", "speaker_b": "Bo",
        "session_1_date_time": "1:00 pm on 8 May, 2023", "session_1": [
            turn("D1:1", "I adopted a grey cat named Miso."), turn("D1:2", "Miso sleeps on the radiator.")],
        "session_2_date_time": "2:00 pm on 9 May, 2023", "session_2": [
            turn("D2:1", "My manager Priya wants the report by Friday."), turn("D2:2", "The report is on databases.")]},
        "qa": [{"question": "What is the cat called?", "evidence": ["D1:1"], "category": 1},
               {"question": "When is the report due?", "evidence": ["D2:1"], "category": 2}]}
    data = tmp_path / "locomo.json"
    data.write_text(json.dumps([conv]))
    common = ["bench", "locomo", "--data", str(data), "--k", "1,2", "--home", str(tmp_path / "home"), "--json"]
    assert main([*common, "--plot", str(tmp_path / "l.png"), "--report", str(tmp_path / "l.html")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert "plot_data" not in printed and printed["n_questions"] == 2
    assert (tmp_path / "l.png").read_bytes().startswith(PNG)
    assert '"turn_recall_by_category"' in (tmp_path / "l.html").read_text().replace("&quot;", '"')
