"""A tiny random-weight Llama and a saved model folder (word-level tokenizer) for surprise tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

WORDS = ["the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "sofa", "I", "got", "back", "from",
         "food", "was", "how", "every", "day", "we", "went", "to", "and", "it", "great", "!", "?", "."]


def tiny_llama() -> Any:
    """A two-layer Llama with a 64-token vocabulary, seeded."""
    import transformers

    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=256, bos_token_id=1, eos_token_id=2,
        tie_word_embeddings=False)
    return transformers.LlamaForCausalLM(cfg)


def save_tiny_lm(path: Path) -> Path:
    """Save :func:`tiny_llama` with a word-level tokenizer over ``WORDS`` to ``path`` (a folder
    ``EpisodeConfig(lm=...)`` loads)."""
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(["[UNK]", "<s>", "</s>", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                         unk_token="[UNK]").save_pretrained(path)
    model = tiny_llama()
    model.resize_token_embeddings(len(vocab))
    model.save_pretrained(path)
    return path
