"""Batch indexing of conversation archives (``agentmem index``): local and Ray engines.

See :mod:`agentmem.batch.pipeline` for the stages and the resume guarantee, and
``docs/batch.md`` for the command line.
"""

from agentmem.batch.pipeline import IndexOptions, IndexSummary, run_index

__all__ = ["IndexOptions", "IndexSummary", "run_index"]
