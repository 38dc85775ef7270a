"""Fact memory with a chat model: the prompt, the reply's validation, and the fallback to the
offline statements (a deterministic fake model; no network)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import date

import pytest

from agentmem import Memory, MemoryConfig
from agentmem.config import FactConfig, GraphConfig
from agentmem.errors import ConfigError, ExtractionError
from agentmem.mechanisms.facts.chat import (
    FACT_EXTRACTION,
    chat_statements,
    fact_messages,
    parse_statements,
)
from agentmem.protocols import ChatMessage

T_2023 = "2023-05-01T10:00:00+00:00"
T_2024 = "2024-03-02T10:00:00+00:00"


class FakeChat:
    """Answers the fact prompt from a table keyed by the message text; records every call."""

    def __init__(self, replies: dict[str, str]) -> None:
        self.replies = replies
        self.calls: list[Sequence[ChatMessage]] = []

    def generate(self, messages: Sequence[ChatMessage]) -> str:
        self.calls.append(messages)
        text = messages[-1][1].removeprefix("Message: ").split("\n\nFacts (JSON list):")[0]
        return self.replies.get(text, "[]")


class Broken:
    def generate(self, messages: Sequence[ChatMessage]) -> str:
        raise TimeoutError("upstream timed out")


def fact(subject: str, relation: str, obj: str, **extra: object) -> dict[str, object]:
    return {"subject": subject, "relation": relation, "object": obj, "polarity": "positive", **extra}


def test_the_prompt_is_data_with_the_date_the_speaker_and_the_vocabulary() -> None:
    msgs = fact_messages("I moved to Porto.", speaker="Ada", today=date(2024, 3, 2))
    assert [role for role, _ in msgs] == ["system", "user"]
    assert "2024-03-02" in msgs[0][1] and "by Ada" in msgs[0][1] and '"lives in"' in msgs[0][1]
    assert msgs[1][1] == "Message: I moved to Porto.\n\nFacts (JSON list):"
    assert "by the user" in fact_messages("x", speaker="user", today=date(2024, 1, 1))[0][1]
    with pytest.raises(ValueError, match="missing"):
        FACT_EXTRACTION.render(today="2024-01-01")


def test_a_valid_reply_becomes_statements() -> None:
    reply = "```json\n" + json.dumps([
        fact("I", "lives in", "Porto", previous="Lisbon"),
        fact("Bob", "works at", "Acme"),
        fact("me", "uses", "Flask", polarity="negative"),
        fact("Ada", "works at", "Initech", ended=True, polarity="negative"),
        fact("I", "favorite colour", "green"),
        fact("I", "is allergic to", "peanuts"),  # outside the vocabulary: dropped
    ]) + "\n```"
    got = parse_statements(reply, speaker="Ada")
    assert [(s.subject, s.relation, s.object, s.negated, s.ended, s.previous, s.first_person) for s in got] == [
        ("Ada", "lives in", "Porto", False, False, "Lisbon", True),
        ("Bob", "works at", "Acme", False, False, None, False),
        ("Ada", "uses", "Flask", True, False, None, True),
        ("Ada", "works at", "Initech", False, True, None, True),  # an ending, not a negation
        ("Ada", "favourite colour", "green", False, False, None, True),
    ]
    assert got[0].changed and got[0].functional
    assert parse_statements("[]", speaker="Ada") == []


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("I think Ada lives in Lisbon.", "not a JSON list"),
        ('[{"subject": "I", "relation": "lives in", "object": "Lisbon",]', "not valid JSON"),
        ('["Ada lives in Lisbon"]', "not an object"),
        ('[{"subject": "I", "relation": "lives in"}]', "'object'"),
        ('[{"subject": "I", "relation": "lives in", "object": "Lisbon", "polarity": "maybe"}]', "polarity"),
        ('[{"subject": "I", "relation": "lives in", "object": "Lisbon", "ended": "yes"}]', "ended"),
        ('[{"subject": "I", "relation": "lives in", "object": "Lisbon", "previous": 3}]', "previous"),
    ],
)
def test_a_malformed_reply_is_an_extraction_error_that_does_not_quote_it(reply: str, problem: str) -> None:
    with pytest.raises(ExtractionError, match=problem) as err:
        parse_statements(reply, speaker="Ada")
    assert "Lisbon" not in str(err.value)


def test_a_failing_model_is_an_extraction_error() -> None:
    with pytest.raises(ExtractionError, match="TimeoutError"):
        chat_statements(Broken(), "I live in Lisbon.", speaker="Ada", today=date(2024, 1, 1))


def make(tmp_path, embedder, chat, **facts):  # type: ignore[no-untyped-def]
    home = tmp_path / f"home-{len(list(tmp_path.iterdir()))}"
    # without the graph, whose extractor would also call the chat model and be counted here
    config = MemoryConfig(home=home, chroma=str(home / "chroma"), device="cpu", facts=FactConfig(**facts),
                          graph=GraphConfig(enabled=False))
    return Memory(config, embedder=embedder, chat_model=chat)


def test_facts_come_from_the_chat_model_when_one_is_configured(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    # phrasings the offline patterns do not read: the chat model's statements are what is kept
    first, second = "Lisbon has been home for a decade.", "These days my mailbox says Porto."
    chat = FakeChat({first: json.dumps([fact("I", "lives in", "Lisbon")]),
                     second: json.dumps([fact("I", "lives in", "Porto")])})
    mem = make(tmp_path, embedder, chat)
    try:
        mem.add(first, user_id="ada", timestamp=T_2023)
        new = mem.add(second, user_id="ada", timestamp=T_2024)[0]
        assert len(chat.calls) == 2 and "2024-03-02" in chat.calls[1][0][1]
        assert [(f.object, f.current) for f in mem.facts(user_id="ada", include_past=True)] == [
            ("Lisbon", False), ("Porto", True)]
        hit = next(h for h in mem.search("where do I live now?", user_id="ada", k=5) if h.kind == "fact")
        assert hit.text == "The user lives in Porto (since 2024-03-02; before: Lisbon)."
        assert hit.metadata["source_ids"] == [new.id]
    finally:
        mem.close()


def test_a_malformed_reply_falls_back_to_the_offline_statements_with_a_quiet_warning(  # type: ignore[no-untyped-def]
    tmp_path, embedder, caplog
) -> None:
    text = "I moved from Lisbon to Porto last week."
    mem = make(tmp_path, embedder, FakeChat({text: "Sure! Ada now lives in Porto."}))
    try:
        with caplog.at_level(logging.WARNING, logger="agentmem.facts"):
            turn = mem.add(text, user_id="ada", timestamp=T_2024)[0]
        assert [(f.object, f.current) for f in mem.facts(user_id="ada", include_past=True)] == [
            ("Lisbon", False), ("Porto", True)]  # what the offline statements read
        (record,) = [r for r in caplog.records if r.name == "agentmem.facts"]
        message = record.getMessage()
        assert turn.id in message and "not a JSON list" in message
        assert "Porto" not in message and "Lisbon" not in message  # no memory text in the log
    finally:
        mem.close()
    broken = make(tmp_path, embedder, Broken())
    try:
        broken.add(text, user_id="ada", timestamp=T_2024)  # a failing model does not fail the add
        assert [f.object for f in broken.facts(user_id="ada")] == ["Porto"]
    finally:
        broken.close()


def test_the_extractor_setting(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="facts.extractor='llm' needs a chat_model"):
        make(tmp_path, embedder, None, extractor="llm")
    with pytest.raises(ConfigError, match="facts.extractor"):
        FactConfig(extractor="gpt")  # type: ignore[arg-type]
    chat = FakeChat({})
    mem = make(tmp_path, embedder, chat, extractor="offline")
    try:
        mem.add("I live in Lisbon.", user_id="ada", timestamp=T_2023)
        assert chat.calls == [] and [f.object for f in mem.facts(user_id="ada")] == ["Lisbon"]
    finally:
        mem.close()
