"""Rejected records and messages of an indexing job, for both engines.

A record the readers could not parse, or a message ``Memory.add`` rejects (too long, NUL, ...),
is kept in the job (:meth:`~agentmem.batch.job.JobState.add_error`) and passed to the caller's
``on_error``; with ``--strict`` the job is marked failed, its watermark left before the
rejection, and indexing stops with a :class:`ValidationError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import NoReturn

from agentmem.batch.job import JobState
from agentmem.batch.readers import Conversation, ReadError, Record
from agentmem.errors import ValidationError
from agentmem.store.sql import SqlStore

__all__ = ["Rejections", "fail_strict"]


def fail_strict(job: JobState, sql: SqlStore, what: str, err: object) -> NoReturn:
    """``--strict``: mark the job failed (its watermark stays before ``err``) and stop."""
    job.status = "failed"
    job.save(sql)
    raise ValidationError(f"malformed {what} (--strict): {err}")


class Rejections:
    """The one place an indexing run reports what it rejects (see the module docstring)."""

    def __init__(self, job: JobState, sql: SqlStore, *, strict: bool,
                 on_error: Callable[[str], None] | None) -> None:
        self.job, self.sql, self.strict, self.on_error = job, sql, strict, on_error

    def records(self, chunk: Sequence[tuple[int, Record]]) -> Iterator[tuple[int, Conversation]]:
        """The conversations of ``chunk`` with their positions; malformed records are rejected."""
        for i, rec in chunk:
            if isinstance(rec, ReadError):
                self.reject("record", [rec])
                continue
            yield i, rec

    def reject(self, what: str, errors: Sequence[ReadError | str]) -> None:
        """Report every one of ``errors`` (``what``: ``"record"`` or ``"message"``); with
        ``--strict`` then stop at the first."""
        for err in errors:
            self.job.add_error(str(err))
            if self.on_error is not None:
                self.on_error(str(err))
        if self.strict and errors:
            fail_strict(self.job, self.sql, what, errors[0])
