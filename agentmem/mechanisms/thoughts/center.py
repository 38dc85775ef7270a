"""The common direction of an embedder's sentence embeddings, for centering LSH codes.

Sentence embeddings share a mean direction (all-MiniLM-L6-v2: the mean of a corpus has norm
≈ 0.4), so random hyperplanes through the origin split them unevenly and LSH buckets crowd
(see :class:`agentmem.mechanisms.thoughts.lsh.LSHIndex`, ``center``). A per-user mean would move as thoughts
arrive and invalidate every stored code; instead the center is the mean embedding of a fixed
calibration set of everyday statements, the same for every user of one embedder, rounded so
that the last bits of a CPU and a GPU forward pass give the same value (codes persisted by one
replica stay valid on another).
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from typing import Any

import numpy as np

from agentmem.protocols import Embedder

__all__ = ["CALIBRATION", "embedding_center"]

# Everyday statements of the kind a memory holds: people, plans, preferences, facts, events.
CALIBRATION: tuple[str, ...] = (
    "I moved to Lisbon last spring and still miss the snow.",
    "My sister is a nurse and works night shifts at the hospital.",
    "We decided to postpone the product launch until October.",
    "The user prefers vegetarian recipes without mushrooms.",
    "Remember that the dentist appointment is on Tuesday at 9am.",
    "He is allergic to peanuts and shellfish.",
    "The quarterly report showed revenue grew by twelve percent.",
    "She adopted a rescue dog named Biscuit in 2021.",
    "I have been learning to play the guitar for three months.",
    "The meeting with the landlord went badly; the rent will go up.",
    "Our team uses Postgres for the billing service.",
    "They are planning a hiking trip to the Alps in August.",
    "My favourite book is One Hundred Years of Solitude.",
    "The kids start school again on the fifth of September.",
    "He thinks the new manager is too strict about deadlines.",
    "I ran my first half marathon in under two hours.",
    "The assistant recommended switching to a standing desk.",
    "Grandma's birthday party is at the lake house this weekend.",
    "I can't stand horror movies but I love documentaries.",
    "The flight to Tokyo was delayed by four hours.",
    "She is studying for her architecture licensing exam.",
    "We bought a used electric car and it charges overnight.",
    "The user works as a data engineer at a logistics company.",
    "My therapist suggested keeping a gratitude journal.",
    "The garden tomatoes finally ripened after the heatwave.",
    "He volunteers at the animal shelter every Saturday morning.",
    "I am saving money for a down payment on an apartment.",
    "The bug only happens when the cache is cold.",
    "Our wedding anniversary is on the twelfth of June.",
    "She prefers tea over coffee and drinks it without sugar.",
    "I started a pottery class at the community center.",
    "The doctor said my blood pressure is slightly high.",
    "We are thinking about moving closer to my parents.",
    "He speaks Portuguese, Spanish and a little Japanese.",
    "The concert tickets sold out in ten minutes.",
    "I lost my keys again, probably at the gym.",
    "The project deadline was moved up by a week.",
    "My brother just got engaged to his college girlfriend.",
    "The user wants reminders sent by email, not SMS.",
    "I've been sleeping badly since the new job started.",
    "Our cat knocked the plant off the windowsill again.",
    "She is training for a triathlon next summer.",
    "The restaurant on the corner serves great ramen.",
    "I need to renew my passport before the trip.",
    "He prefers short answers with code examples.",
    "We painted the kitchen a pale shade of green.",
    "My best friend lives in Berlin and works in film.",
    "The heating broke during the coldest week of the year.",
    "I finally finished reading the whole Dune series.",
    "The client asked for a discount on the annual plan.",
    "She is nervous about the job interview on Friday.",
    "Our book club is reading a mystery novel this month.",
    "I want to learn how to bake sourdough bread.",
    "The baby took her first steps yesterday.",
    "He broke his wrist skiing in Colorado.",
    "The user is vegetarian and lives in Toronto.",
    "We celebrated Diwali with the neighbours.",
    "I think the second option is cheaper in the long run.",
    "The startup raised a seed round of two million dollars.",
    "My mother is recovering well after the surgery.",
    "I usually go running along the river before work.",
    "They argued about who should pay for the repairs.",
    "The exam results will be published next Monday.",
    "I switched my phone plan to save twenty dollars a month.",
)

_lock = threading.Lock()
_cache: weakref.WeakKeyDictionary[Any, np.ndarray] = weakref.WeakKeyDictionary()


def embedding_center(embedder: Embedder, *, decimals: int = 3) -> np.ndarray:
    """Mean embedding of :data:`CALIBRATION` under ``embedder``, rounded to ``decimals``.

    Computed once per embedding model object (cached while it lives): a
    :class:`~agentmem.write_embedder.WriteEmbedder` is looked through to the embedder it wraps,
    so every ``Memory`` sharing one model shares its centre.
    """
    from agentmem.write_embedder import WriteEmbedder

    while isinstance(embedder, WriteEmbedder):
        embedder = embedder.inner
    with _lock:
        try:
            hit = _cache.get(embedder)
        except TypeError:  # not weak-referenceable: compute every time
            hit = None
        if hit is not None:
            return hit
    vecs = np.asarray(embedder.embed(list(CALIBRATION)), dtype=np.float32)
    center = np.round(vecs.mean(axis=0), decimals).astype(np.float32)
    with _lock, contextlib.suppress(TypeError):
        _cache[embedder] = center
    return center
