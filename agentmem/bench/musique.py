"""``agentmem bench prepare-musique``: turn the shared MuSiQue files into retrieval-bench inputs.

Reads ``musique_corpus.json`` (``[{title, text}]``) and ``musique_dev_questions.json`` from
``--data`` and writes to ``--out``:

* ``corpus.jsonl`` — ``{"id", "title", "text"}`` per passage (ids ``p0000``, ... in file order);
* ``queries.jsonl`` — ``{"id", "query", "gold": [passage ids]}``, gold = the question's
  supporting paragraphs, matched to corpus passages by their ``title\\ntext`` string.

With ``--selection`` (``docs/data/musique_selection.json``: the other 50 questions of the same
HippoRAG subset, whose passages are in the same corpus, in a compact form whose supporting
paragraphs are given by title and the first 80 characters) it also writes
``queries_selection.jsonl``: questions to choose settings on, so the 50 dev questions stay a test.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from agentmem.errors import ValidationError
from agentmem.mechanisms.graph.triples import passage_key

__all__ = ["add_arguments", "prepare", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="directory with musique_corpus.json and musique_dev_questions.json")
    p.add_argument("--out", required=True, help="output directory for corpus.jsonl and queries.jsonl")
    p.add_argument("--selection", default=None,
                   help="compact question file (docs/data/musique_selection.json): also write queries_selection.jsonl")


def prepare(data: Path, out: Path, selection: Path | None = None) -> dict[str, Any]:
    """Write ``corpus.jsonl`` and ``queries.jsonl`` (and ``queries_selection.jsonl`` from
    ``selection``); returns counts (and unmatched gold)."""
    corpus = json.loads((data / "musique_corpus.json").read_text(encoding="utf-8"))
    questions = json.loads((data / "musique_dev_questions.json").read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    ids: dict[str, str] = {}
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for i, d in enumerate(corpus):
            pid = f"p{i:04d}"
            ids.setdefault(passage_key(d["text"], d["title"]), pid)
            f.write(json.dumps({"id": pid, "title": d["title"], "text": d["text"]}, ensure_ascii=False) + "\n")
    unmatched = 0
    with (out / "queries.jsonl").open("w", encoding="utf-8") as f:
        for q in questions:
            gold = []
            for p in q["paragraphs"]:
                if not p.get("is_supporting"):
                    continue
                found = ids.get(passage_key(p["paragraph_text"], p["title"]))
                if found is None:
                    unmatched += 1
                else:
                    gold.append(found)
            if not gold:
                raise ValidationError(f"question {q['id']}: no supporting paragraph found in the corpus")
            f.write(json.dumps({"id": q["id"], "query": q["question"], "gold": gold}, ensure_ascii=False) + "\n")
    result: dict[str, Any] = {"corpus": len(corpus), "queries": len(questions), "unmatched_gold": unmatched,
                              "out": str(out)}
    if selection is not None:
        result["selection_queries"] = _write_selection(corpus, json.loads(selection.read_text(encoding="utf-8")), out)
    return result


def _write_selection(corpus: list[dict[str, str]], questions: list[dict[str, Any]], out: Path) -> int:
    """``queries_selection.jsonl`` from compact questions (supporting = title + text start)."""
    by_title: dict[str, list[int]] = {}
    for i, d in enumerate(corpus):
        by_title.setdefault(d["title"], []).append(i)
    with (out / "queries_selection.jsonl").open("w", encoding="utf-8") as f:
        for q in questions:
            gold = []
            for sup in q["supporting"]:
                found = [i for i in by_title.get(sup["title"], []) if corpus[i]["text"].startswith(sup["text_start"])]
                if len({corpus[i]["text"] for i in found}) != 1:
                    raise ValidationError(f"question {q['id']}: supporting paragraph {sup['title']!r} matches "
                                          f"{len(found)} passages of the corpus")
                gold.append(f"p{found[0]:04d}")  # the first copy, as queries.jsonl's gold
            f.write(json.dumps({"id": q["id"], "query": q["question"], "gold": gold}, ensure_ascii=False) + "\n")
    return len(questions)


def run(args: argparse.Namespace) -> dict[str, Any]:
    return prepare(Path(args.data), Path(args.out), Path(args.selection) if args.selection else None)
