"""Fact memory's pure parts: statements, derive_facts (insert / merge / supersede / contradict),
rendering, and reading a query."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agentmem.mechanisms.facts.algorithms import (
    Mention,
    derive_facts,
    names_object,
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
        # a business of one's own, told indirectly
        ("Sorry to hear that! I'm starting a dance studio 'cause I love dancing.", ("Ada", "runs", "dance studio")),
        ("Starting my own store and taking risks is scary.", ("Ada", "runs", "store")),
        ("I launched an ad campaign for my clothing store.", ("Ada", "runs", "clothing store")),
        ("I quit Acme to start my own bakery.", ("Ada", "runs", "bakery")),
        ("Ada left Acme to open a flower shop.", ("Ada", "runs", "flower shop")),
        ("I left Acme and opened my own food truck.", ("Ada", "runs", "food truck")),
        ("Ada quit Acme and then started a bakery.", ("Ada", "runs", "bakery")),
        ("A gift from my grandma in my home country, Sweden.", ("Ada", "is from", "Sweden")),
        # plans, wishes, other people's places, look-alikes: nothing
        ("I'm gonna take a shot at starting my own business.", None),
        ("I want to move to Oslo.", None),
        ("My sister's bakery is great.", None),
        ("It's like a reminder of my roots.", None),
        ("Their love and help have been so important.", None),
        ("I won't quit - your words motivate me.", None),
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


def test_places_that_are_not_ones_own_business() -> None:
    for text in ("I went to my favourite coffee shop.", "I picked it up at my local store.", "My company is hiring."):
        assert all(rel != "runs" for _, rel, _ in triples(text)), text


def test_one_business_named_many_ways_is_one_fact() -> None:
    got = facts("I'm starting a dance studio.", "My dream business: my own dance studio!",
                "I love running my own studio.", "I'm working hard on my business.")
    got = [f for f in got if f.relation == "runs"]
    assert [(f.object, f.current, f.source_ids) for f in got] == [("dance studio", True, ("t0", "t1", "t2", "t3"))]
    assert got[0].text == "Ada runs a dance studio (as of 2024-01-01)."
    # within one text the most specific name stands: no store superseding a clothing store
    assert triples("Ads for my clothing store. Starting my own store was scary.") == [("Ada", "runs", "clothing store")]
    shop, = facts("I started my own business.", "My bakery opened its doors.")
    assert (shop.object, shop.source_ids) == ("bakery", ("t0", "t1"))  # a generic name gets the specific one


def test_a_business_of_ones_own_ends_the_employer_when_announced() -> None:
    globex, bakery = facts("I work at Globex.", "I run my own bakery now.")
    assert (globex.current, globex.superseded_by, bakery.current) == (False, bakery.id, True)
    assert bakery.text == "Ada runs a bakery (since 2024-01-02; before: Globex)."
    both = facts("I work at Globex.", "I run a small bakery on weekends.")  # no announced change: both hold
    assert [f.current for f in both] == [True, True]


def test_an_ending_told_twice_is_one_ended_fact() -> None:
    (acme,) = facts("I lost my job at Acme.", "Since I lost my job at Acme it has been rough.")
    assert (acme.current, acme.source_ids, acme.valid_to) == (False, ("t0", "t1"), day(0))


def test_my_home_country_is_where_the_subject_is_from() -> None:
    lived, origin = facts("I moved from my home country four years ago.", "A gift from my home country, Sweden.")
    assert (lived.object, lived.current, origin.relation, origin.object) == ("Sweden", False, "is from", "Sweden")
    assert lived.text == "Ada lived in Sweden (until 2024-01-01)."
    (unresolved,) = facts("I moved from my home country.")
    assert unresolved.object == "home country"


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
    assert {"works at", "runs", "role"} <= query_relations("What does Jon do for work now?")
    (acme,) = facts("I lost my job at the mechanical engineering company.")
    assert names_object(acme, "Does John still work at the mechanical engineering company?")
    assert not names_object(acme, "Does John still work at the company?")


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
