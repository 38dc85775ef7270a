"""Extraction: offline rules, OpenIE prompt parsing/repair, the runner, precomputed triples."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pytest

from agentmem.errors import ExtractionError, ValidationError
from agentmem.mechanisms.graph import openie
from agentmem.mechanisms.graph.offline import extract_entities, extract_triples, split_sentences
from agentmem.mechanisms.graph.runner import ExtractionRunner
from agentmem.mechanisms.graph.triples import load_openie, passage_key
from agentmem.protocols import ChatMessage

# -- offline ---------------------------------------------------------------------------------

PASSAGE = (
    "Journal of Mathematical Physics\n"
    "The Journal of Mathematical Physics is a peer-reviewed journal published monthly by the "
    "American Institute of Physics. The journal was first published in January 1960. "
    "Its current editor is Jan Philip Solovej from the University of Copenhagen."
)


def test_offline_entities() -> None:
    ents = extract_entities(PASSAGE)
    for e in ["Journal of Mathematical Physics", "American Institute of Physics", "January 1960",
              "Jan Philip Solovej", "University of Copenhagen"]:
        assert e in ents
    assert "The" not in ents and "Its" not in ents
    assert len(ents) == len({e.lower() for e in ents})  # deduplicated


def test_offline_triples_link_topic_and_resolve_anaphora() -> None:
    triples = extract_triples(PASSAGE)
    assert ("Journal of Mathematical Physics", "published monthly by", "American Institute of Physics") in [
        (s, r.replace("journal ", ""), o) for s, r, o in triples
    ]
    # "The journal was first published ..." and "Its current editor ..." refer to the topic
    assert any(s == "Journal of Mathematical Physics" and o == "January 1960" for s, _, o in triples)
    assert any(s == "Journal of Mathematical Physics" and o == "Jan Philip Solovej" for s, _, o in triples)
    assert ("Jan Philip Solovej", "from", "University of Copenhagen") in triples


def test_offline_is_deterministic_and_handles_chat_text() -> None:
    assert extract_triples(PASSAGE) == extract_triples(PASSAGE)
    assert extract_triples("user likes pizza") == [("user", "likes", "pizza")]
    assert extract_triples("") == [] and extract_entities("") == []
    assert extract_triples("ok, thanks!") == []


def test_offline_chat_fillers_and_contractions_name_nothing() -> None:
    # sentence-initial small talk is capitalized but is not an entity node of the graph
    text = "Thanks, Maria! Wow, I'm glad. That's great. Sounds fun, yeah? Hey John, you'd love Lisbon."
    assert extract_entities(text) == ["Maria", "John", "Lisbon"]
    assert all(s.lower() not in ("thanks", "wow", "i'm", "that's", "sounds") for s, _, _ in extract_triples(text))
    # a contraction of "I" is the first-person subject; the entity after the verb is the object,
    # so the turn links to the node other turns name
    assert extract_triples("Yeah I've been reading Harry Potter again.") == [("i", "been", "Harry Potter")]
    assert extract_triples("I haven't tried painting yet.") == [("i", "tried", "painting yet")]
    assert extract_triples("Really? I'd love that.") == []


def test_offline_speaker_is_the_first_person_subject() -> None:
    # a chat turn's "I" is its speaker, so one person's facts share a subject node
    said = "Yeah, I painted that lake sunrise last year! I visited Paris and Rome with Anna."
    assert extract_triples(said, speaker="Melanie") == [
        ("Melanie", "painted", "lake sunrise"),
        ("Melanie", "visited", "Paris"), ("Melanie", "mentions", "Rome"), ("Paris", "mentions", "Rome"),
        ("Melanie", "with", "Anna"), ("Rome", "with", "Anna"),
    ]
    # the verb follows "I" (adverbs skipped); each clause is read on its own
    assert extract_triples("I'm keen on counseling - I'd love to support others.", speaker="Caroline") == [
        ("Caroline", "keen", "counseling"), ("Caroline", "love", "support others")
    ]
    assert extract_triples("I really enjoy painting, it relaxes me.", speaker="Caroline") == [
        ("Caroline", "enjoy", "painting")
    ]
    # without a speaker (a document, or a caller that has none) "I" stays "i"
    assert extract_triples("Yeah, I painted that lake sunrise last year!") == [
        ("i", "painted", "lake sunrise")
    ]
    # a sentence that does not open with "I" keeps its own subject
    assert extract_triples("Anna met Tom in Lisbon.", speaker="Melanie")[0] == ("Anna", "met", "Tom")
    # "we" is the speaker too, "my" / "our" the speaker's
    assert extract_triples("We visited Porto.", speaker="Melanie") == [("Melanie", "visited", "Porto")]
    assert extract_triples("My kids love pottery.", speaker="Melanie") == [("Melanie kids", "love", "pottery")]
    # a statement without a subject is the speaker's; one whose subject is someone else is not
    assert extract_triples("Just been helping some friends at the tournament.", speaker="Nate") == [
        ("Nate", "been", "helping friends")
    ]
    assert extract_triples("It's been fun! Have you been there? You played well.", speaker="Nate") == []


def test_offline_extract_reads_a_chat_turn_as_its_speaker() -> None:
    from datetime import UTC, datetime

    from agentmem.mechanisms.graph.component import offline_extract
    from agentmem.types import Scope, Turn

    scope, when = Scope("default", "u", "s"), datetime(2024, 5, 1, tzinfo=UTC)
    turn = Turn("t1", scope, "I went camping with Anna.", "Melanie", "user", when, 0, "h")
    triples, entities = offline_extract(turn)
    assert triples == [("Melanie", "went camping with", "Anna")]
    assert entities == ["Melanie", "Anna"]  # the speaker is an entity the passage names
    doc = Turn("d1", scope, "I went camping with Anna.", "Camping", "document", when, 1, "h")
    assert offline_extract(doc)[0] == [("i", "went", "Anna")]  # "I" of a document stays "i"


def test_offline_dates_numbers_and_initials() -> None:
    ents = extract_entities("George T. Solomon met Carl Rogers in 3 May 2004; it cost 1.355 million.")
    assert "George T. Solomon" in ents and "Carl Rogers" in ents and "3 May 2004" in ents
    assert "1.355 million" in ents
    assert [s for _, s in split_sentences("Dr. Who met Mr. Smith. Then he left.")] == [
        "Dr. Who met Mr. Smith.", "Then he left."
    ]


# -- OpenIE parsing --------------------------------------------------------------------------


def test_templates_are_data_with_explicit_date() -> None:
    msgs = openie.ner_messages("Alice met Bob.", today=date(2024, 5, 1))
    assert msgs[0][0] == "system" and "2024-05-01" in msgs[0][1]
    assert msgs[-1] == ("user", "Paragraph:\n```\nAlice met Bob.\n```")
    tm = openie.triple_messages("Alice met Bob.", ["Alice", "Bob"], today=date(2024, 5, 1))
    assert '{"named_entities": ["Alice", "Bob"]}' in tm[-1][1]
    fm = openie.filter_messages("who?", [("a", "b", "c")], today=date(2024, 5, 1))
    assert '[["a", "b", "c"]]' in fm[-1][1]


@pytest.mark.parametrize(
    "reply",
    [
        '{"triples": [["Alice", "met", "Bob"]]}',
        'Sure! Here it is:\n```json\n{"triples": [["Alice", "met", "Bob"],]}\n```',
        "{'triples': [('Alice', 'met', 'Bob')]}",
        '{"triples": [["Alice", "met", "Bob"], ["Bob", "lives in"',  # truncated
        '[["Alice", "met", "Bob"], ["broken"], ["", "x", "y"]]',  # bare list, bad triples dropped
    ],
)
def test_parse_triples_repairs(reply: str) -> None:
    assert openie.parse_triples(reply)[0] == ("Alice", "met", "Bob")
    assert all(len(t) == 3 and all(t) for t in openie.parse_triples(reply))


def test_failure_differs_from_nothing_extracted() -> None:
    assert openie.parse_triples('{"triples": []}') == []
    assert openie.parse_ner('{"named_entities": []}') == []
    for bad in ["I cannot help with that.", '{"entities": ["x"]}', '{"triples": "none"}']:
        with pytest.raises(ExtractionError):
            openie.parse_triples(bad) if "triples" in bad or "cannot" in bad else openie.parse_ner(bad)


def test_parse_filter_keeps_known_facts_only() -> None:
    facts = [("a", "r", "b"), ("c", "r", "d"), ("e", "r", "f")]
    reply = '{"fact": [["C", "r", "D"], ["x", "y", "z"], ["a", "r", "b"]]}'
    assert openie.parse_filter(reply, facts) == [1, 0]


# -- runner ----------------------------------------------------------------------------------


class ScriptedChat:
    """A fake chat model: NER lists capitalized words, triples link the first to the rest."""

    def __init__(self, *, fail_on: str | None = None, delay: float = 0.0) -> None:
        self.fail_on = fail_on
        self.delay = delay
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()

    def generate(self, messages: Sequence[ChatMessage]) -> str:
        with self.lock:
            self.calls += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            text = messages[-1][1]
            if self.fail_on and self.fail_on in text:
                raise RuntimeError("rate limited")
            if "named_entities" in text:  # the triple step
                ents = json.loads(text[text.rindex("{"):])["named_entities"]
                return json.dumps({"triples": [[ents[0], "knows", e] for e in ents[1:]]})
            if "Question:" in text:
                return '{"fact": [["alice", "knows", "bob"]]}'
            passage = text.split("```")[1]
            return json.dumps({"named_entities": [w.strip(".") for w in passage.split() if w[:1].isupper()]})
        finally:
            with self.lock:
                self.in_flight -= 1


def test_runner_two_steps_bounded_concurrency() -> None:
    chat = ScriptedChat(delay=0.02)
    runner = ExtractionRunner(chat, max_concurrency=3, today=date(2024, 1, 1))
    got = runner.extract([f"Alice met Bob{i} and Carol." for i in range(8)] + ["nothing here"])
    assert chat.calls == 18 and 1 < chat.max_in_flight <= 3
    assert got[0].entities == ("Alice", "Bob0", "Carol")
    assert got[0].triples == (("Alice", "knows", "Bob0"), ("Alice", "knows", "Carol"))
    assert got[-1].entities == () and got[-1].triples == ()  # nothing to extract: not an error


def test_runner_model_failure_is_extraction_error() -> None:
    runner = ExtractionRunner(ScriptedChat(fail_on="Dave"), max_concurrency=2)
    with pytest.raises(ExtractionError, match="passage 1"):
        runner.extract(["Alice met Bob.", "Dave met Eve."])


def test_runner_fact_filter() -> None:
    runner = ExtractionRunner(ScriptedChat())
    facts = [("bob", "likes", "tea"), ("alice", "knows", "bob")]
    assert runner.filter_facts("who does alice know?", facts) == [1]
    assert runner.filter_facts("anything", []) == []


# -- precomputed triples ---------------------------------------------------------------------


def test_load_hipporag_openie_layout(tmp_path: Path) -> None:
    path = tmp_path / "openie.json"
    path.write_text(json.dumps({"docs": [{
        "passage": "Radio City\nRadio City is a radio station.",
        "extracted_entities": ["Radio City"],
        "extracted_triples": [["Radio City", "is", "radio station"], ["bad"]],
    }]}))
    got = load_openie(path)
    doc = got[passage_key("Radio City is a radio station.", "Radio City")]
    assert doc.triples == (("Radio City", "is", "radio station"),) and doc.entities == ("Radio City",)


def test_load_jsonl_layout_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"title": "T", "text": "body", "triples": [["a", "b", "c"]]}) + "\n")
    assert load_openie(path)["T\nbody"].triples == (("a", "b", "c"),)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"docs": [{"no_text": 1}]}))
    with pytest.raises(ValidationError):
        load_openie(bad)
    with pytest.raises(ValidationError):
        load_openie(tmp_path / "missing.json")
