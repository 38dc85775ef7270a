"""Import ``agentmem.kernels`` from wherever its folder is.

The numerical kernels live in the repository's top-level ``kernels/`` folder, shipped inside the
wheel as ``agentmem/kernels/`` (pyproject's package-dir mapping). That folder deliberately has no
``__init__.py``: with one, any Python started in a source checkout (``python -m pytest``,
``python -c ...``, a user's script) would import it as the top-level module ``kernels`` and shadow
Hugging Face's ``kernels`` package, which transformers imports. A folder without ``__init__.py`` is
only a namespace portion, and Python prefers a regular package of the same name anywhere on
``sys.path``.

The package's own module body (docstring, public names) is ``kernels/_package.py``; this module
loads it as ``agentmem.kernels`` with the folder as its ``__path__``, in an installed wheel and in a
checkout alike (setuptools' editable finder cannot resolve a namespace subpackage mapped to another
folder). Importing this module registers it; ``agentmem/__init__.py`` imports it first.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

__all__ = ["load_kernels"]

_NAME = "agentmem.kernels"
_BODY = "_package.py"


def _kernels_folder() -> Path:
    package = Path(__file__).resolve().parent
    installed = package / "kernels"
    if (installed / _BODY).is_file():
        return installed
    checkout = package.parent / "kernels"
    if (package.parent / "pyproject.toml").is_file() and (checkout / _BODY).is_file():
        return checkout
    raise ImportError(f"{_NAME} is missing: neither {installed} nor {checkout} holds {_BODY}")


def load_kernels() -> None:
    """Register ``agentmem.kernels`` in :data:`sys.modules` (idempotent)."""
    if _NAME in sys.modules:
        return
    folder = _kernels_folder()
    spec = importlib.util.spec_from_file_location(
        _NAME, folder / _BODY, submodule_search_locations=[str(folder)]
    )
    if spec is None or spec.loader is None:  # pragma: no cover - spec_from_file_location on a .py file
        raise ImportError(f"cannot load {_NAME} from {folder}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_NAME]
        raise
    sys.modules["agentmem"].__dict__["kernels"] = module


load_kernels()
