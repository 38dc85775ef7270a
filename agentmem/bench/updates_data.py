"""Data of ``agentmem bench updates``: synthetic update / contradiction scenarios and LoCoMo updates.

**Synthetic** (labelled ``"synthetic"``): :func:`synthetic` draws, from a seed, scenarios of three
kinds, each one user's short conversation with dated turns and distractor chit-chat:

* ``update`` — a functional value changes (home city, employer, role, relationship status, an
  employer left for a business of one's own) or ends with no successor (a job lost); questions
  ask for the value now ("now"; for an ended value "do I still work at X?", answered by the
  turn or the fact that tells the ending) and for what changed ("change", gold = the old and
  the new statements);
* ``contradiction`` — a statement and its negation ("I've never used Flask" / "I wrote the Flask
  route"); gold = that pair of turns;
* ``control`` — look-alikes that are *not* contradictions (a negation about another object, an
  announced change "I don't use X any more"); gold = no pair. They measure precision.

Each phrasing list is split in two: ``split="tune"`` draws only from the first part, the
``"report"`` split from every phrasing, so the reported figures include phrasings the extractor
was never adjusted on (and, with another seed, other names, values and orders).

**LoCoMo** (labelled ``"locomo"``): real state changes hand-labelled in the LoCoMo dev
conversations (``docs/data/updates_locomo.json``: conversation index, question, kind, the
``dia_id``s that state the new value and the old one).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, TypeVar

__all__ = ["LocomoUpdate", "Question", "Scenario", "load_locomo_updates", "synthetic"]

Split = Literal["tune", "report"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    kind: Literal["now", "change"]
    new: tuple[str, ...]  # turn labels stating the current value
    old: tuple[str, ...] = ()  # turn labels stating the earlier value
    current: str = ""  # the current value, for the fact check


@dataclass(frozen=True, slots=True)
class Scenario:
    id: str
    kind: Literal["update", "contradiction", "control"]
    speaker: str
    turns: tuple[tuple[str, str, datetime], ...]  # (label, text, timestamp)
    questions: tuple[Question, ...] = ()
    contradictions: frozenset[frozenset[str]] = field(default_factory=frozenset)
    source: str = "synthetic"


@dataclass(frozen=True, slots=True)
class LocomoUpdate:
    conversation: int
    question: str
    kind: Literal["now", "change"]
    new: tuple[str, ...]
    old: tuple[str, ...]


_PEOPLE = ["Ada", "Bruno", "Chiara", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kemi", "Luca",
           "Maya", "Nils", "Olga", "Pavel", "Rosa", "Sven", "Tara", "Umar"]
_CITIES = ["Lisbon", "Porto", "Berlin", "Madrid", "Oslo", "Denver", "Austin", "Lyon", "Kyoto", "Dublin", "Vienna",
           "Seattle", "Nairobi", "Quito", "Tallinn", "Bristol"]
_COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark Industries", "Wayne Enterprises",
              "Cyberdyne", "Soylent", "Tyrell", "Aperture"]
_ROLES = ["teacher", "nurse", "engineer", "designer", "accountant", "pharmacist", "architect", "electrician",
          "translator", "librarian"]
_STATUSES = [("single", "married"), ("engaged", "married"), ("married", "divorced"), ("single", "engaged")]
_TOOLS = ["Flask", "Django", "React", "Kafka", "Terraform", "Redis", "Spark", "Rust", "Kubernetes", "Postgres"]
_COUNTRIES = ["Japan", "Peru", "Iceland", "Morocco", "Vietnam", "Chile", "Norway", "Kenya"]
_CHAT = ["The weather was lovely this weekend.", "I baked bread yesterday and it came out fine.",
         "Any good podcast recommendations?", "Watched a documentary about whales last night.",
         "My knee hurts a bit after the run.", "Thinking about learning the guitar.",
         "We had friends over for dinner.", "The train was late again this morning.",
         "I finished that mystery novel.", "Trying to drink more water these days."]

# Phrasings: (old statement, new statement) templates; {old} / {new} are the values.
_LIVES_OLD = ["I live in {old}.", "I've been living in {old} for years.", "Home for me is in {old}.",
              "I'm based in {old}."]
_LIVES_NEW = ["I moved from {old} to {new} last week.", "We relocated to {new} this month.",
              "I finally moved to {new}!", "I live in {new} now.", "Just settled in {new} after leaving {old}.",
              "I'm living in {new} these days."]
_WORK_OLD = ["I work at {old}.", "I've been working for {old} since college.", "I'm employed by {old}."]
_WORK_NEW = ["I left {old} to join {new}.", "I started a new job at {new} on Monday.", "I work for {new} now.",
             "Got hired by {new} last month.", "I quit {old} and joined {new}."]
_ROLE_OLD = ["I'm a {old}.", "I work as a {old}.", "I've been a {old} for ten years."]
_ROLE_NEW = ["I became a {new} this year.", "I'm now a {new}.", "I work as a {new} now.",
             "I retrained and I'm a {new} these days."]
_STATUS_OLD = ["I'm {old}.", "I am {old} at the moment.", "Currently I'm {old}."]
_STATUS_NEW = ["I'm {new} now!", "I got {new} last spring.", "I am officially {new}."]
_BUSINESSES = ["bakery", "flower shop", "yoga studio", "bike shop", "dance studio", "design agency", "food truck",
               "restaurant", "clothing store", "tattoo studio"]
_BIZ_NEW = ["I left {old} and opened my own {new}.", "I quit {old} to start my own {new}.", "I run my own {new} now.",
            "I launched a {new} this spring and I'm running it full time.",
            "Starting my own {new} was scary, but it's open now!", "My {new} finally opened its doors last month."]
_LOSS_NEW = ["I lost my job at {old} last week.", "I got laid off from {old} in March.",
             "I don't work at {old} anymore.", "I no longer work for {old}.", "I resigned from {old} yesterday."]
_NEG = [("I have never used {x}.", "I wrote the {x} service yesterday."),
        ("I've never been to {y}.", "I visited {y} last summer."),
        ("I don't use {x}.", "I used {x} for the new dashboard."),
        ("I have never lived in {c}.", "I lived in {c} for two years."),
        ("I never worked at {w}.", "I worked at {w} before this job.")]
_CONTROL = [("I have never used {x}.", "I wrote the {x2} service yesterday."),
            ("I use {x}.", "I don't use {x} anymore."),
            ("I've never been to {y}.", "I visited {y2} last summer."),
            ("I used to live in {c}.", "I live in {c2}.")]
_Q_LIVES = ["Where do I live now?", "Which city am I based in these days?", "Where is my home now?",
            "Where am I living currently?"]
_Q_LIVES_3P = ["Where does {p} live now?", "Which city is {p} living in?"]
_Q_LIVES_CHANGE = ["Where did I live before?", "When did I move, and from where?"]
_Q_WORK = ["Where do I work now?", "Which company is my employer now?", "Who do I work for these days?"]
_Q_WORK_CHANGE = ["Where did I work before?", "When did I change jobs?"]
_Q_ROLE = ["What is my job now?", "What's my current occupation?", "What do I do for a living now?"]
_Q_ROLE_CHANGE = ["What was my previous job?", "When did my job change?"]
_Q_BIZ = ["What do I do for work now?", "What's my job these days?", "What business do I run now?"]
_Q_BIZ_CHANGE = ["Where did I work before?", "When did I change jobs?"]
_Q_STILL = ["Do I still work at {old}?", "Am I still employed by {old}?", "Am I still working for {old}?"]
_Q_STATUS = ["What is my relationship status now?", "Am I married or single now?"]
_Q_STATUS_CHANGE = ["What was my relationship status before?", "When did my relationship status change?"]


def _part(options: list[T], split: Split) -> list[T]:
    """The tuning split sees the first two thirds of a phrasing list, the report split all of it."""
    return options if split == "report" else options[: max(1, (2 * len(options)) // 3)]


def _update(rng: random.Random, i: int, split: Split, t0: datetime) -> Scenario:
    person = rng.choice(_PEOPLE + ["user"])
    family = rng.choice(["lives", "work", "role", "status", "business", "loss"])
    if family == "business":
        old, new = rng.choice(_COMPANIES), rng.choice(_BUSINESSES)
        olds, news, qs, qc = _WORK_OLD, _BIZ_NEW, _Q_BIZ, _Q_BIZ_CHANGE
    elif family == "loss":  # the value ends with no successor: "now" asks whether it still holds
        old, new = rng.choice(_COMPANIES), ""
        olds, news, qs, qc = _WORK_OLD, _LOSS_NEW, _Q_STILL, _Q_WORK_CHANGE
    elif family == "lives":
        old, new = rng.sample(_CITIES, 2)
        olds, news, qs, qc = _LIVES_OLD, _LIVES_NEW, _Q_LIVES, _Q_LIVES_CHANGE
    elif family == "work":
        old, new = rng.sample(_COMPANIES, 2)
        olds, news, qs, qc = _WORK_OLD, _WORK_NEW, _Q_WORK, _Q_WORK_CHANGE
    elif family == "role":
        old, new = rng.sample(_ROLES, 2)
        olds, news, qs, qc = _ROLE_OLD, _ROLE_NEW, _Q_ROLE, _Q_ROLE_CHANGE
    else:
        old, new = rng.choice(_STATUSES)
        olds, news, qs, qc = _STATUS_OLD, _STATUS_NEW, _Q_STATUS, _Q_STATUS_CHANGE
    turns: list[tuple[str, str, datetime]] = []
    chat = rng.sample(_CHAT, 4)
    day = t0 + timedelta(days=rng.randrange(0, 300))
    turns.append(("c0", chat[0], day))
    turns.append(("old", rng.choice(_part(olds, split)).format(old=old), day + timedelta(hours=1)))
    turns.append(("c1", chat[1], day + timedelta(days=3)))
    later = day + timedelta(days=rng.randrange(60, 400))
    turns.append(("new", rng.choice(_part(news, split)).format(old=old, new=new), later))
    turns.append(("c2", chat[2], later + timedelta(days=2)))
    turns.append(("c3", chat[3], later + timedelta(days=5)))
    now_q = rng.choice(_part(qs, split)).format(old=old)
    if family == "lives" and person != "user" and rng.random() < 0.3:
        now_q = rng.choice(_Q_LIVES_3P).format(p=person)
    questions = (
        Question(now_q, "now", ("new",), ("old",), new),
        Question(rng.choice(_part(qc, split)), "change", ("new",), ("old",), new),
    )
    return Scenario(f"update-{i}", "update", person, tuple(turns), questions)


def _pair(rng: random.Random, i: int, split: Split, t0: datetime, control: bool) -> Scenario:
    templates = _part(_CONTROL if control else _NEG, split)
    a, b = rng.choice(templates)
    x, x2 = rng.sample(_TOOLS, 2)
    y, y2 = rng.sample(_COUNTRIES, 2)
    c, c2 = rng.sample(_CITIES, 2)
    w = rng.choice(_COMPANIES)
    values = {"x": x, "x2": x2, "y": y, "y2": y2, "c": c, "c2": c2, "w": w}
    first, second = a.format(**values), b.format(**values)
    if not control and rng.random() < 0.5:
        first, second = second, first  # the negation may come second
    chat = rng.sample(_CHAT, 3)
    day = t0 + timedelta(days=rng.randrange(0, 300))
    turns = (("c0", chat[0], day), ("a", first, day + timedelta(hours=2)), ("c1", chat[1], day + timedelta(days=4)),
             ("b", second, day + timedelta(days=rng.randrange(10, 90))), ("c2", chat[2], day + timedelta(days=100)))
    gold = frozenset() if control else frozenset({frozenset({"a", "b"})})
    return Scenario(f"{'control' if control else 'contradiction'}-{i}", "control" if control else "contradiction",
                    rng.choice(_PEOPLE + ["user"]), turns, (), gold)


def synthetic(seed: int, n: int = 80, *, split: Split = "report") -> list[Scenario]:
    """``n`` scenarios drawn from ``seed``: half updates, a quarter contradictions, a quarter controls."""
    rng = random.Random(seed)
    t0 = datetime(2023, 1, 1, 9, tzinfo=UTC)
    out: list[Scenario] = []
    for i in range(n):
        r = i % 4
        if r in (0, 1):
            out.append(_update(rng, i, split, t0))
        else:
            out.append(_pair(rng, i, split, t0, control=r == 3))
    return out


def load_locomo_updates(path: str | Path) -> list[LocomoUpdate]:
    """The hand-labelled LoCoMo state changes (``docs/data/updates_locomo.json``)."""
    items = json.loads(Path(path).read_text(encoding="utf-8"))
    return [
        LocomoUpdate(int(d["conversation"]), str(d["question"]), d["kind"], tuple(d["new"]), tuple(d["old"]))
        for d in items["items"]
    ]
