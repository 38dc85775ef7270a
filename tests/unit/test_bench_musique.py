"""``agentmem bench prepare-musique``: corpus ids, gold of the test questions and the selection split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentmem.bench.musique import prepare
from agentmem.errors import ValidationError


def _write(tmp_path: Path, corpus: list[dict[str, str]], questions: list[dict[str, object]]) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "musique_corpus.json").write_text(json.dumps(corpus))
    (data / "musique_dev_questions.json").write_text(json.dumps(questions))
    return data


CORPUS = [
    {"title": "A", "text": "Alpha is a town. It has a river."},
    {"title": "B", "text": "Beta is a river in the north."},
    {"title": "A", "text": "Alpha is a town. It has a bridge."},  # same title and start as p0000
    {"title": "B", "text": "Beta is a river in the north."},  # an exact copy of p0001
]
TEST_Q = [{"id": "q1", "question": "Where is Beta?", "paragraphs": [
    {"idx": 0, "title": "B", "paragraph_text": "Beta is a river in the north.", "is_supporting": True},
    {"idx": 1, "title": "A", "paragraph_text": "Alpha is a town. It has a river.", "is_supporting": False},
]}]


def test_selection_questions_get_gold_from_title_and_text_start(tmp_path: Path) -> None:
    data = _write(tmp_path, CORPUS, TEST_Q)
    sel = tmp_path / "sel.json"
    sel.write_text(json.dumps([
        {"id": "s1", "question": "What crosses Alpha?", "supporting": [
            {"title": "A", "text_start": "Alpha is a town. It has a b"}, {"title": "B", "text_start": "Beta is"}]},
    ]))
    out = prepare(data, tmp_path / "out", sel)
    assert out["selection_queries"] == 1 and out["queries"] == 1
    test = [json.loads(x) for x in (tmp_path / "out" / "queries.jsonl").read_text().splitlines()]
    chosen = [json.loads(x) for x in (tmp_path / "out" / "queries_selection.jsonl").read_text().splitlines()]
    assert test == [{"id": "q1", "query": "Where is Beta?", "gold": ["p0001"]}]
    # the copy of B maps to its first id, as in queries.jsonl; A is told apart by its longer start
    assert chosen == [{"id": "s1", "query": "What crosses Alpha?", "gold": ["p0002", "p0001"]}]


@pytest.mark.parametrize("start", ["Alpha is a town", "Gamma"])
def test_selection_rejects_ambiguous_or_missing_paragraphs(tmp_path: Path, start: str) -> None:
    data = _write(tmp_path, CORPUS, TEST_Q)
    sel = tmp_path / "sel.json"
    sel.write_text(json.dumps([{"id": "s1", "question": "?", "supporting": [{"title": "A", "text_start": start}]}]))
    with pytest.raises(ValidationError, match="s1"):
        prepare(data, tmp_path / "out", sel)


def test_shipped_selection_is_disjoint_from_the_test_questions() -> None:
    shipped = json.loads((Path(__file__).parents[2] / "docs" / "data" / "musique_selection.json").read_text())
    assert len(shipped) == 50 and len({q["id"] for q in shipped}) == 50
    test_ids = Path(__file__).parents[3] / "shared" / "data" / "musique_dev_questions.json"
    if test_ids.exists():  # the shared data sits beside the checkout on the team's machines
        assert not {q["id"] for q in json.loads(test_ids.read_text())} & {q["id"] for q in shipped}
    assert all(q["supporting"] and all(len(s["text_start"]) >= 80 for s in q["supporting"]) for q in shipped)
