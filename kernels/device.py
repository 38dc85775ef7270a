"""Where a kernel runs: resolve a device name, and tell whether Triton can run here.

``device="cuda"`` on a machine without CUDA is an error, never a silent fallback to the CPU:
a caller who asked for the GPU and got the CPU would read the wrong numbers.

>>> resolve_device("cpu")
device(type='cpu')
"""

from __future__ import annotations

import importlib.util
import os

import torch

from agentmem.errors import ConfigError, DeviceUnavailableError

__all__ = ["DEVICE_NAMES", "resolve_device", "triton_available", "triton_interpret"]

DEVICE_NAMES = ("auto", "cpu", "cuda")


def resolve_device(device: str = "auto") -> torch.device:
    """Turn a device name into a :class:`torch.device`.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        ``"cpu"`` always works; ``"cuda"`` needs a CUDA device; ``"auto"`` picks CUDA when one
        is available and the CPU otherwise. ``"cuda:1"``-style indices are accepted.

    Returns
    -------
    torch.device

    Raises
    ------
    DeviceUnavailableError
        ``"cuda"`` was asked for and ``torch.cuda.is_available()`` is False.
    ConfigError
        The name is none of the above.

    Examples
    --------
    >>> resolve_device("auto").type in ("cpu", "cuda")
    True
    """
    if not isinstance(device, str):
        raise ConfigError(f"device must be a string, one of {DEVICE_NAMES}; got {device!r}")
    name = device.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                f"device={device!r} was requested but no CUDA device is available "
                f"(torch {torch.__version__}, torch.version.cuda={torch.version.cuda}); "
                "use device='cpu' or device='auto'"
            )
        return torch.device(name)
    raise ConfigError(f"unknown device {device!r}; expected one of {DEVICE_NAMES}")


def triton_interpret() -> bool:
    """True when ``TRITON_INTERPRET=1`` is set: Triton kernels then run on the CPU (slowly)."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on", "yes")


def triton_available() -> bool:
    """True when Triton is importable and can run a kernel here.

    That is: CUDA is present, or ``TRITON_INTERPRET=1`` makes Triton run kernels on the CPU.
    Triton is not imported by this check.
    """
    if importlib.util.find_spec("triton") is None:
        return False
    return torch.cuda.is_available() or triton_interpret()
