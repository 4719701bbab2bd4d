"""Lazy package exports: ``import neurotwin.data`` stays cheap until a name is used.

Commands that need no torch or scikit-image (``neurotwin tracks``, ``info``, ``--help``)
then start in a fraction of a second instead of importing every sub-module first.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return a package's ``__getattr__`` and ``__dir__`` that import its names on first use.

    Parameters
    ----------
    package
        The package's ``__name__``.
    exports
        Each exported name and the module (absolute name) that defines it.

    Returns
    -------
    tuple of callables
        ``(__getattr__, __dir__)`` to assign at the package's top level (PEP 562).
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
