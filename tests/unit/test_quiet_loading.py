"""Model loads print no progress bar, and leave transformers' switch as they found it."""

from __future__ import annotations

import pytest

transformers_logging = pytest.importorskip("transformers.utils.logging")


def test_embedder_loads_without_a_progress_bar(capfd: pytest.CaptureFixture[str]) -> None:
    from agentmem.embedding import SentenceTransformerEmbedder

    assert transformers_logging.is_progress_bar_enabled()
    emb = SentenceTransformerEmbedder(device="cpu")
    assert emb.dim == 384  # loads the model
    err = capfd.readouterr().err
    assert "Loading weights" not in err and "%|" not in err
    assert transformers_logging.is_progress_bar_enabled()  # restored


def test_the_switch_is_restored_off_too() -> None:
    from agentmem._quiet import quiet_model_loading

    transformers_logging.disable_progress_bar()
    try:
        with quiet_model_loading():
            assert not transformers_logging.is_progress_bar_enabled()
        assert not transformers_logging.is_progress_bar_enabled()
    finally:
        transformers_logging.enable_progress_bar()
