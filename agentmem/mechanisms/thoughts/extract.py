"""Post-thinking (Think-in-Memory): turn a finished exchange into thoughts.

After answering, Think-in-Memory (Liu et al. 2023, §3.2 "post-thinking") asks the LLM what it
concluded, so the next question recalls the conclusion instead of re-reasoning over raw
history. Two ways to get those thoughts, same result type:

* :func:`post_think` — with a :class:`~agentmem.protocols.ChatModel`: the prompt
  :data:`POST_THINKING` (a template kept as data, today's date passed in) asks for a JSON list of
  thoughts, each a sentence with an optional ``(subject, relation, object)`` triple.
  The model failing or answering something unparseable raises :class:`ExtractionError`;
  an empty list ``[]`` means "nothing worth remembering" and returns ``[]``.
* :func:`derive_thoughts` — without an LLM: deterministic, one well-formed sentence per
  statement that :func:`agentmem.statements.extract_statements` reads in the exchange
  (the user's first person and the assistant's second person both become "the user"), with
  its date.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from agentmem.errors import ExtractionError
from agentmem.mechanisms.prompt import PromptTemplate
from agentmem.protocols import ChatModel
from agentmem.statements import extract_statements, render_statement

__all__ = ["POST_THINKING", "PromptTemplate", "ThoughtDraft", "derive_thoughts", "parse_thoughts", "post_think"]


@dataclass(frozen=True, slots=True)
class ThoughtDraft:
    """A thought before it is stored: a sentence and, when it states one fact, its triple."""

    text: str
    subject: str | None = None
    relation: str | None = None
    object: str | None = None

    def triple(self) -> tuple[str, str, str] | None:
        if self.subject and self.relation and self.object:
            return (self.subject, self.relation, self.object)
        return None


POST_THINKING = PromptTemplate(
    system=(
        "You are the memory of an AI assistant. Today is {today}. After each exchange you write "
        "down the conclusions worth remembering for future conversations: facts about the user "
        "and their world, preferences, decisions, and conclusions the assistant reached. Each "
        "thought is one short self-contained sentence that names its subject (write 'the user' "
        "for the person asking, never 'I' or 'you'); resolve relative dates against today. When "
        "a thought states a single fact, also give it as subject, relation, object. Do not "
        "repeat the question, do not write greetings or chit-chat.\n"
        "Answer with a JSON list and nothing else, e.g.\n"
        '[{{"thought": "The user is allergic to peanuts.", "subject": "the user", '
        '"relation": "is allergic to", "object": "peanuts"}}]\n'
        "Write [] when there is nothing worth remembering."
    ),
    user="Question: {query}\n\nResponse: {response}\n\nThoughts (JSON list):",
    variables=("today", "query", "response"),
)

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def _clean(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ExtractionError(f"post-thinking: {field!r} must be a string, got {type(value).__name__}")
    text = " ".join(value.split())
    return text or None


def parse_thoughts(raw: str) -> list[ThoughtDraft]:
    """Parse the model's reply to :data:`POST_THINKING`.

    Raises
    ------
    ExtractionError
        The reply is not a JSON list of thought objects (or strings).
    """
    text = _FENCE.sub("", raw.strip())
    start, end = text.find("["), text.rfind("]")
    if start < 0 or end < start:
        raise ExtractionError(f"post-thinking reply is not a JSON list: {raw[:200]!r}")
    try:
        items = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ExtractionError(f"post-thinking reply is not valid JSON: {exc}") from exc
    drafts: list[ThoughtDraft] = []
    for item in items:
        if isinstance(item, str):
            item = {"thought": item}
        if not isinstance(item, dict):
            raise ExtractionError(f"post-thinking item is not an object: {item!r}")
        body = _clean(item.get("thought"), "thought")
        if body is None:
            continue
        s, r, o = (_clean(item.get(k), k) for k in ("subject", "relation", "object"))
        if not (s and r and o):  # a partial triple states no fact: keep the sentence alone
            s = r = o = None
        drafts.append(ThoughtDraft(body, s, r, o))
    return drafts


def post_think(
    chat_model: ChatModel, query: str, response: str, *, today: date, template: PromptTemplate = POST_THINKING
) -> list[ThoughtDraft]:
    """Ask ``chat_model`` for the thoughts of one exchange (see module docstring).

    Raises
    ------
    ExtractionError
        The model raised, or its reply could not be parsed.
    """
    messages = template.render(today=today.isoformat(), query=query, response=response)
    try:
        raw = chat_model.generate(messages)
    except Exception as exc:  # any provider error: translate at this boundary
        raise ExtractionError(f"post-thinking: the chat model failed: {exc}") from exc
    if not isinstance(raw, str):
        raise ExtractionError(f"post-thinking: the chat model returned {type(raw).__name__}, not text")
    return parse_thoughts(raw)


# In the assistant's response "you" is the user and "I" the assistant (whose own states are not
# the user's memory): the second person is read as the first, the first person as "it" (skipped).
_SWAP = re.compile(r"\b(?:you're|you've|you'd|you'll|your|yours|yourself|you|i'm|i've|i'd|i'll|my|mine|me|i)\b", re.IGNORECASE)
_SWAPPED = {
    "you're": "I'm", "you've": "I've", "you'd": "I'd", "you'll": "I'll", "your": "my", "yours": "mine",
    "yourself": "myself", "you": "I", "i'm": "it is", "i've": "it has", "i'd": "it would", "i'll": "it will",
    "my": "its", "mine": "its", "me": "it", "i": "it",
}


def _as_user(response: str) -> str:
    return _SWAP.sub(lambda m: _SWAPPED[m.group().lower().replace("’", "'")], response.replace("’", "'"))


def derive_thoughts(query: str, response: str, *, today: date | None = None) -> list[ThoughtDraft]:
    """Thoughts of an exchange without an LLM: one sentence per statement, in order, deduplicated.

    Statements (:func:`agentmem.statements.extract_statements`) come from the user's
    question (first person → "the user") and the assistant's response (second person → "the
    user"). Each thought is a sentence with its time when ``today`` is given ("The user lives
    in Porto (since 2024-03-02; before: Lisbon)."). A statement of a functional relation
    (lives in, works at, ...) carries its triple, so a newer value forgets the older thought;
    others carry none (liking jazz does not contradict liking blues). Returns ``[]`` when no
    statement is found.
    """
    when = today.isoformat() if today is not None else None
    seen: dict[str, ThoughtDraft] = {}
    for text in (query, _as_user(response)):
        for st in extract_statements(text, speaker=None):
            sentence = render_statement(st, when=when)
            key = sentence.lower()
            if key in seen:
                continue
            if st.functional and not st.negated and not st.ended:
                seen[key] = ThoughtDraft(sentence, st.subject, st.relation, st.object)
            else:
                seen[key] = ThoughtDraft(sentence)
    return list(seen.values())
