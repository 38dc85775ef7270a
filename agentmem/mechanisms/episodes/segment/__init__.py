"""Segmentation: cut a stream of turns into episodes where a local LM is surprised (EM-LLM).

Pure functions (:func:`surprise_boundaries`, :func:`refine_boundaries`), incremental scorers
(LM surprise, embedding drift) and the streaming segmenter that ties them together. The local LM
loader lives in :mod:`agentmem.mechanisms.episodes.segment.lm` (imported lazily: it needs the ``lm`` extra).
"""

from agentmem.mechanisms.episodes.segment.refine import (
    refine_boundaries,
    refine_boundaries_reference,
)
from agentmem.mechanisms.episodes.segment.scorers import DriftScorer, LMSurpriseScorer, drift_scores
from agentmem.mechanisms.episodes.segment.stream import (
    Segment,
    SegmentParams,
    StreamSegmenter,
    segment_batch,
    split_sentences,
)
from agentmem.mechanisms.episodes.segment.surprise import (
    SurpriseDetector,
    surprise_boundaries,
    surprise_boundaries_reference,
)

__all__ = [
    "DriftScorer",
    "LMSurpriseScorer",
    "Segment",
    "SegmentParams",
    "StreamSegmenter",
    "SurpriseDetector",
    "drift_scores",
    "refine_boundaries",
    "refine_boundaries_reference",
    "segment_batch",
    "split_sentences",
    "surprise_boundaries",
    "surprise_boundaries_reference",
]
