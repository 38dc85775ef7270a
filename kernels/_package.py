"""Exact, device-agnostic numerical kernels for agentmem.

Each kernel is a pure function with a readable torch reference beside a fast path (chunked
torch on the CPU, Triton on CUDA), and the two are tested equal. Triton is optional
(``pip install 'agentmem[gpu]'``); it is imported only when a Triton path runs.

>>> import torch
>>> from agentmem.kernels import topk
>>> topk(torch.eye(3)[:1], torch.eye(3), 1)[1]
tensor([[0]])
"""

from __future__ import annotations

from agentmem.kernels.device import resolve_device
from agentmem.kernels.topk import topk, topk_reference

__all__ = ["resolve_device", "topk", "topk_reference"]
