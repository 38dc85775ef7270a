"""Model loads without transformers' per-load progress bar ("Loading weights")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["quiet_model_loading"]


@contextmanager
def quiet_model_loading() -> Iterator[None]:
    """Hide transformers' progress bars while a model loads, then restore their previous state.

    A local model loads in about a second; a bar on every command-line call is noise. The
    switch is transformers' own (process-wide while the block runs), never warning filters,
    and it is turned back on afterwards if it was on.
    """
    try:
        from transformers.utils import logging as tf_logging
    except ImportError:  # sentence-transformers without transformers cannot happen; be lenient
        yield
        return
    was_on = tf_logging.is_progress_bar_enabled()
    tf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            tf_logging.enable_progress_bar()
