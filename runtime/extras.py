"""Optional dependencies, imported when a feature needs them, with the install command when missing.

The base runtime has no torch and no llama.cpp (pyproject's extras add them); a feature that needs
one says which extra to install instead of failing with a bare "No module named ...".
"""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str, purpose: str, alternative: str = "") -> ModuleType:
    """`import module`, or an ImportError naming `pip install 'still[extra]'` (and `alternative`)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if e.name is not None and e.name.split(".")[0] != module.split(".")[0]:
            raise  # installed, but broken inside: show the real cause
        hint = f"{purpose} needs {module.split('.')[0]}: pip install 'still[{extra}]'"
        raise ImportError(hint + (f", or {alternative}" if alternative else "")) from e
