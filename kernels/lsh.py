"""Random-hyperplane LSH codes of Think-in-Memory, with a batched torch path.

Think-in-Memory (Liu et al. 2023, eq. 2) hashes a vector ``x`` with a random matrix
``R ∈ R^{d × m}`` into one of ``2m`` buckets::

    F(x) = argmax([x R ; −x R])

i.e. the index of the largest of the ``m`` projections and their negations: bucket ``j < m``
when ``x`` lies closest to hyperplane normal ``r_j``, bucket ``m + j`` when closest to
``−r_j`` (the cross-polytope hash of Andoni et al. 2015 with an unrotated Gaussian ``R``).
:func:`lsh_codes` computes ``H`` such codes at once from a stack of planes ``[H, d, m]``.

Two implementations, tested equal against each other:

* :func:`lsh_codes_reference` — numpy, one readable line per step;
* :func:`lsh_codes_torch` — torch, chunked, runs on CUDA for bulk hashing (``device="cuda"``)
  or on the CPU; same codes as the reference (up to floating-point ties, which have measure
  zero and which the parity tests exclude by margin).

>>> import numpy as np
>>> planes = np.stack([np.eye(2, dtype=np.float32)])  # one hash, m = 2 planes in 2-d
>>> lsh_codes(np.array([[0.9, 0.1], [-0.2, -0.8]], dtype=np.float32), planes).tolist()
[[0], [3]]
"""

from __future__ import annotations

import numpy as np
import torch

from agentmem.errors import ValidationError

__all__ = ["lsh_codes", "lsh_codes_reference", "lsh_codes_torch", "lsh_projections", "random_planes"]

_CHUNK = 65_536


def random_planes(dim: int, n_hashes: int, n_planes: int, *, seed: int = 0) -> np.ndarray:
    """Gaussian hyperplane normals ``[n_hashes, dim, n_planes]`` (float32), reproducible by seed."""
    if dim < 1 or n_hashes < 1 or n_planes < 1:
        raise ValidationError("dim, n_hashes and n_planes must be >= 1")
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_hashes, dim, n_planes), dtype=np.float32)


def _check(x_shape: tuple[int, ...], planes_shape: tuple[int, ...]) -> None:
    if len(planes_shape) != 3:
        raise ValidationError(f"planes must be [n_hashes, dim, n_planes], got shape {planes_shape}")
    if len(x_shape) != 2 or x_shape[1] != planes_shape[1]:
        raise ValidationError(
            f"x must be [n, {planes_shape[1]}] to match the planes, got shape {x_shape}"
        )


def lsh_projections(x: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """The scores ``[x R_h ; −x R_h]`` for every hash ``h``: ``[n, n_hashes, 2 m]`` float32.

    Multi-probe orders a query's buckets by these scores (the home bucket has the largest).
    """
    x = np.asarray(x, dtype=np.float32)
    planes = np.asarray(planes, dtype=np.float32)
    _check(x.shape, planes.shape)
    proj = np.einsum("nd,hdm->nhm", x, planes)
    return np.concatenate([proj, -proj], axis=2)


def lsh_codes_reference(x: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """``F_h(x) = argmax([x R_h ; −x R_h])`` for each row of ``x`` and each hash ``h``.

    Parameters
    ----------
    x : ndarray, shape (n, d)
        Vectors to hash (need not be normalized: the code is scale-invariant).
    planes : ndarray, shape (n_hashes, d, m)
        Hyperplane normals, e.g. from :func:`random_planes`.

    Returns
    -------
    ndarray of int16, shape (n, n_hashes)
        Codes in ``[0, 2m)``.
    """
    return lsh_projections(x, planes).argmax(axis=2).astype(np.int16)


def lsh_codes_torch(
    x: np.ndarray | torch.Tensor, planes: np.ndarray | torch.Tensor, *, device: str | torch.device = "cpu",
    chunk: int = _CHUNK,
) -> np.ndarray:
    """Same codes as :func:`lsh_codes_reference`, computed with torch in chunks of ``chunk`` rows.

    ``argmax([p; −p])`` is evaluated without materialising the concatenation: the largest of
    ``max(p)`` and ``max(−p) = −min(p)`` wins, ties going to the first half as in numpy.
    """
    dev = torch.device(device)
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32) if not isinstance(x, torch.Tensor) else x)
    pt = torch.as_tensor(np.asarray(planes, dtype=np.float32) if not isinstance(planes, torch.Tensor) else planes)
    _check(tuple(xt.shape), tuple(pt.shape))
    h, d, m = pt.shape
    flat = pt.to(dev, torch.float32).permute(1, 0, 2).reshape(d, h * m)
    out = np.empty((xt.shape[0], h), dtype=np.int16)
    for s in range(0, xt.shape[0], chunk):
        xb = xt[s : s + chunk].to(dev, torch.float32, non_blocking=True)
        proj = (xb @ flat).view(-1, h, m)
        hi, hi_idx = proj.max(dim=2)
        lo, lo_idx = proj.min(dim=2)
        code = torch.where(hi >= -lo, hi_idx, lo_idx + m)
        out[s : s + chunk] = code.to(torch.int16).cpu().numpy()
    return out


def lsh_codes(
    x: np.ndarray, planes: np.ndarray, *, device: str | torch.device | None = None
) -> np.ndarray:
    """Hash ``x`` with every hash of ``planes``: the numpy reference, or torch on ``device``.

    ``device=None`` uses the reference for small inputs and torch on the CPU for bulk ones
    (more than 4,096 rows), where torch's threaded matmul wins; pass ``"cuda"`` to hash on
    the GPU (resolve it with :func:`agentmem.kernels.device.resolve_device` first).
    """
    x = np.asarray(x, dtype=np.float32)
    if device is None:
        if x.shape[0] <= 4096:
            return lsh_codes_reference(x, planes)
        device = "cpu"
    return lsh_codes_torch(x, planes, device=device)
