"""Fact memory's pure parts: statements, derive_facts (insert / merge / supersede / contradict),
rendering, and reading a query."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agentmem.mechanisms.facts.algorithms import (
    Mention,
    derive_facts,
    query_intent,
    query_relations,
    score_fact,
)
from agentmem.mechanisms.thoughts.extract import derive_thoughts
from agentmem.statements import extract_statements, render_statement
from agentmem.types import Scope

OWNER = Scope("acme", "ada")


def triples(text: str, speaker: str | None = "Ada") -> list[tuple[str, str, str]]:
    return [s.triple() for s in extract_statements(text, speaker=speaker)]


def day(n: int) -> datetime:
    return datetime(2024, 1, 1, tzinfo=UTC).replace(day=1 + n % 28, month=1 + n // 28)


def facts(*said: str, speaker: str = "Ada"):  # type: ignore[no-untyped-def]
    ms = [Mention(f"t{i}", day(i), i, s) for i, text in enumerate(said) for s in extract_statements(text, speaker=speaker)]
    return derive_facts(ms, OWNER)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I live in Lisbon.", ("Ada", "lives in", "Lisbon")),
        ("I moved from Lisbon to Porto last week.", ("Ada", "lives in", "Porto")),
        ("We relocated to Denver in June.", ("Ada", "lives in", "Denver")),
        ("I'm based in Austin these days.", ("Ada", "lives in", "Austin")),
        ("Yesterday, I finally moved to Porto!", ("Ada", "lives in", "Porto")),
        ("Ada moved to Porto.", ("Ada", "lives in", "Porto")),
        ("My brother lives in Oslo.", ("Ada's brother", "lives in", "Oslo")),
        ("I work at Acme.", ("Ada", "works at", "Acme")),
        ("I left Acme to join Globex.", ("Ada", "works at", "Globex")),
        ("Got hired by Initech last month.", ("Ada", "works at", "Initech")),  # no subject: the speaker's
        ("Use Flask for this.", None),  # an imperative states nothing
        ("Bob works at Google.", ("Bob", "works at", "Google")),
        ("I'm a teacher now.", ("Ada", "role", "teacher")),
        ("I work as a nurse at St Mary's.", ("Ada", "works at", "St Mary's")),
        ("My name is Bob.", ("Ada", "is called", "Bob")),
        ("I just got married!", ("Ada", "status", "married")),
        ("My favourite colour is green now.", ("Ada", "favourite colour", "green")),
        ("I have never used Flask.", ("Ada", "uses", "Flask")),
        ("I wrote the Flask route yesterday.", ("Ada", "uses", "Flask")),
        ("I've never been to Japan.", ("Ada", "has visited", "Japan")),
    ],
)
def test_statements_read_varied_phrasing(text: str, expected: tuple[str, str, str] | None) -> None:
    got = triples(text)
    if expected is None:
        assert got == []
    else:
        assert expected in got


def test_statement_flags_and_what_asserts_nothing() -> None:
    (s,) = extract_statements("I moved from Lisbon to Porto last week.", speaker="user")
    assert (s.subject, s.previous, s.changed, s.first_person) == ("the user", "Lisbon", True, True)
    (n,) = extract_statements("I have never used Flask.", speaker="user")
    assert n.negated and not n.ended
    (e,) = extract_statements("I don't live in Rome anymore.", speaker="user")
    assert e.ended and not e.negated
    assert extract_statements("Do you live in Porto?", speaker="user") == []  # a question
    assert extract_statements("You live in Porto.", speaker="user") == []  # second person
    assert extract_statements("The weather was lovely this weekend.", speaker="user") == []
    assert render_statement(s, when="2024-03-02") == "The user lives in Porto (since 2024-03-02; before: Lisbon)."


def test_supersession_lisbon_to_porto() -> None:
    lisbon, porto = facts("I live in Lisbon.", "I moved from Lisbon to Porto last week.")
    assert (porto.object, porto.current, porto.valid_from) == ("Porto", True, day(1))
    assert (lisbon.valid_from, lisbon.valid_to, lisbon.superseded_by) == (day(0), day(1), porto.id)
    assert porto.text == "Ada lives in Porto (since 2024-01-02; before: Lisbon)."
    assert lisbon.text == "Ada lived in Lisbon (until 2024-01-02; then: Porto)."
    # the move states both values: old and new evidence
    assert lisbon.source_ids == ("t0", "t1") and porto.source_ids == ("t1",)


def test_merge_restatement_and_ids_are_stable() -> None:
    got = facts("I work at Acme.", "I'm still working at Acme.", "I work at Acme.")
    assert len(got) == 1 and got[0].source_ids == ("t0", "t1", "t2") and got[0].current
    assert [f.id for f in facts("I work at Acme.")] == [f.id for f in facts("I work at Acme.")]
    other = derive_facts([Mention("t0", day(0), 0, extract_statements("I work at Acme.", speaker="Ada")[0])],
                         Scope("acme", "bob"))
    assert other[0].id != got[0].id  # ids are per owner


def test_a_chain_of_values_and_an_ending() -> None:
    got = facts("I work at Acme.", "I left Acme to join Globex.", "I no longer work at Globex.")
    acme, globex = got
    assert acme.superseded_by == globex.id and not acme.current
    assert globex.valid_to == day(2) and globex.superseded_by is None
    assert globex.text == "Ada worked at Globex (until 2024-01-03)."
    back = facts("I live in Lisbon.", "I moved to Porto.", "I moved back to Lisbon.")
    assert [(f.object, f.current) for f in back] == [("Lisbon", False), ("Porto", False), ("Lisbon", True)]
    assert back[2].text.endswith("before: Porto).")


def test_non_functional_relations_accumulate() -> None:
    got = facts("I use Flask.", "I use Django.")
    assert all(f.current for f in got) and len(got) == 2


def test_contradiction_flagged_on_both_in_either_order() -> None:
    for said in (("I have never used Flask.", "I wrote the Flask route yesterday."),
                 ("I wrote the Flask route yesterday.", "I have never used Flask.")):
        a, b = facts(*said)
        assert a.contradicts == (b.id,) and b.contradicts == (a.id,)
        assert a.current and b.current
        assert "contradicted:" in a.text and "contradicted:" in b.text


def test_announced_change_is_not_a_contradiction() -> None:
    used, stopped = facts("I use Flask.", "I don't use Flask anymore.")[0], None
    assert not used.current and used.contradicts == () and stopped is None
    a, b = facts("I don't eat out.", "I have never used Django."), facts("I have never used Django.", "I use Flask.")
    assert all(f.contradicts == () for f in [*a, *b])


def test_forgetting_a_turn_rederives() -> None:
    ms = [Mention(f"t{i}", day(i), i, s) for i, text in enumerate(["I live in Lisbon.", "I moved to Porto."])
          for s in extract_statements(text, speaker="Ada")]
    (lisbon,) = derive_facts([m for m in ms if m.turn_id != "t1"], OWNER)
    assert lisbon.current and lisbon.source_ids == ("t0",)
    assert derive_facts([], OWNER) == []


def test_query_reading() -> None:
    assert query_intent("Where do I live now?") == "now"
    assert query_intent("Where did I live before?") == "before"
    assert query_intent("When did that change?") == "change"
    assert "lives in" in query_relations("Which city am I based in these days?")
    assert "works at" in query_relations("Who do I work for?")
    assert "favourite colour" in query_relations("what is my favourite colour?")
    (porto,) = [f for f in facts("I moved to Porto.")]
    assert score_fact(porto, "where do I live now?", {"lives in"}, about_user=True) > 0
    assert score_fact(porto, "where does Bob live now?", {"lives in"}, about_user=True) == 0
    assert score_fact(porto, "where does Ada live now?", {"lives in"}, about_user=False) > 0
    assert score_fact(porto, "what is my favourite colour?", {"favourite colour"}, about_user=True) == 0


def test_offline_thoughts_are_sentences_with_their_time() -> None:
    from datetime import date

    got = derive_thoughts("I moved from Lisbon to Porto last week.", "Hello Ada, noted: you live in Porto.",
                          today=date(2024, 3, 2))
    assert [g.text for g in got] == [
        "The user lives in Porto (since 2024-03-02; before: Lisbon).",
        "The user lives in Porto (as of 2024-03-02).",
    ]
    assert got[0].triple() == ("the user", "lives in", "Porto")
    assert derive_thoughts("I have never used Flask.", "ok")[0].triple() is None  # a negation ends nothing
