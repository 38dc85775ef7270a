"""Statements read by a chat model: the prompt, its reply's parser, and the call (sans logic).

When a :class:`~agentmem.protocols.ChatModel` is configured, fact memory asks it for the
statements of each turn instead of the offline patterns of :mod:`agentmem.statements`. The
prompt (:data:`FACT_EXTRACTION`, a template kept as data; the turn's date, the speaker and the
relation vocabulary are its variables) asks for a JSON list of
``{"subject", "relation", "object", "polarity"}`` objects, with optional ``"ended"`` (the value
stopped holding) and ``"previous"`` (the value it replaced). :func:`parse_statements` validates
the reply into :class:`~agentmem.statements.Statement` s: relations outside the vocabulary are
dropped (supersession needs to know which relations hold one value at a time); anything that is
not a list of such objects raises :class:`~agentmem.errors.ExtractionError`. Error messages name
what is wrong with the reply, never its text: a reply may quote the memory.

>>> reply = '[{"subject": "I", "relation": "lives in", "object": "Porto", "polarity": "positive", "previous": "Lisbon"}]'
>>> [(s.triple(), s.previous, s.first_person) for s in parse_statements(reply, speaker="Ada")]
[(('Ada', 'lives in', 'Porto'), 'Lisbon', True)]
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from agentmem.errors import AgentMemError, ExtractionError
from agentmem.mechanisms.prompt import PromptTemplate
from agentmem.protocols import ChatMessage, ChatModel
from agentmem.statements import RELATIONS, Statement, self_subject

__all__ = ["FACT_EXTRACTION", "chat_statements", "fact_messages", "parse_statements"]


FACT_EXTRACTION = PromptTemplate(
    system=(
        "You read one message of a conversation and list the facts it states about people: where "
        "they live, work, what they do, their status, names, preferences, what they use, visit or own. "
        "The message was written on {today} by {speaker}. Write the subject as \"I\" when the writer "
        "states it about themself, else the person's name; skip what is only asked, planned or wished. "
        "Use only these relations: {relations}, or \"favourite <thing>\" (e.g. \"favourite colour\").\n"
        "Give each fact as an object with \"subject\", \"relation\", \"object\" and \"polarity\" "
        "(\"positive\", or \"negative\" for \"I have never used Flask\"); add \"ended\": true when the "
        "message says the fact stopped holding (\"I left Acme\"), and \"previous\" when it names the "
        "value it replaced (\"I moved from Lisbon to Porto\": previous \"Lisbon\").\n"
        "Answer with a JSON list and nothing else, e.g.\n"
        '[{{"subject": "I", "relation": "lives in", "object": "Porto", "polarity": "positive", '
        '"previous": "Lisbon"}}]\n'
        "Write [] when the message states no such fact."
    ),
    user="Message: {text}\n\nFacts (JSON list):",
    variables=("today", "speaker", "relations", "text"),
)

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)
_SELF = frozenset({"i", "me", "myself", "we", "us", "the speaker", "speaker", "the writer", "writer"})
_POLARITY = {"positive": False, "negative": True}


def fact_messages(text: str, *, speaker: str | None, today: date, template: PromptTemplate = FACT_EXTRACTION) -> list[ChatMessage]:
    """The conversation asking for the statements of ``text`` (said by ``speaker`` on ``today``)."""
    who = self_subject(speaker)
    return template.render(today=today.isoformat(), speaker=who, relations=", ".join(f'"{r}"' for r in RELATIONS),
                           text=text)


def _text(item: dict[str, Any], key: str, i: int, *, required: bool = True) -> str | None:
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.split():
        raise ExtractionError(f"fact {i}: {key!r} must be a non-empty string")
    return " ".join(value.split())


def parse_statements(raw: str, *, speaker: str | None) -> list[Statement]:
    """Validate the model's reply to :data:`FACT_EXTRACTION` into statements.

    Raises
    ------
    ExtractionError
        The reply is not a JSON list of fact objects, or a fact lacks a field or has a bad one.
    """
    text = _FENCE.sub("", raw.strip())
    start, end = text.find("["), text.rfind("]")
    if start < 0 or end < start:
        raise ExtractionError("fact extraction: the reply is not a JSON list")
    try:
        items = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ExtractionError(f"fact extraction: the reply is not valid JSON ({exc.msg} at {exc.pos})") from exc
    if not isinstance(items, list):
        raise ExtractionError("fact extraction: the reply is not a JSON list")
    me = self_subject(speaker)
    out: list[Statement] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ExtractionError(f"fact {i}: not an object")
        subject, relation, obj = (_text(item, k, i) for k in ("subject", "relation", "object"))
        assert subject is not None and relation is not None and obj is not None
        polarity = item.get("polarity", "positive")
        if polarity not in _POLARITY:
            raise ExtractionError(f"fact {i}: 'polarity' must be 'positive' or 'negative'")
        ended = item.get("ended", False)
        if not isinstance(ended, bool):
            raise ExtractionError(f"fact {i}: 'ended' must be true or false")
        previous = _text(item, "previous", i, required=False)
        relation = relation.lower()
        if relation.startswith("favorite "):
            relation = "favourite " + relation[len("favorite "):]
        if relation not in RELATIONS and not relation.startswith("favourite "):
            continue  # outside the vocabulary: no supersession rule applies to it
        first = subject.lower() in _SELF or subject.lower() == me.lower()
        out.append(Statement(
            me if first else subject, relation, obj, negated=_POLARITY[polarity] and not ended, ended=ended,
            changed=previous is not None, previous=previous, first_person=first,
        ))
    return out


def chat_statements(model: ChatModel, text: str, *, speaker: str | None, today: date) -> list[Statement]:
    """Ask ``model`` for the statements of one turn (see the module docstring).

    Raises
    ------
    ExtractionError
        The model raised, returned something other than text, or a reply that does not parse.
    """
    messages: Sequence[ChatMessage] = fact_messages(text, speaker=speaker, today=today)
    try:
        reply = model.generate(messages)
    except AgentMemError:
        raise
    except Exception as exc:  # a provider's own error types: translate at this boundary
        raise ExtractionError(f"fact extraction: the chat model failed ({type(exc).__name__})") from exc
    if not isinstance(reply, str):
        raise ExtractionError(f"fact extraction: the chat model returned {type(reply).__name__}, not text")
    return parse_statements(reply, speaker=speaker)
