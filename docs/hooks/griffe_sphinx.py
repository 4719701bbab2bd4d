"""Griffe extension: read neurotwin's docstring conventions the way Sphinx would.

Registered in ``mkdocs.yml`` under the python handler's ``extensions``. Once the package is
loaded, it walks every object and:

- rewrites the Sphinx roles of docstrings (``:func:`fit```, ``:class:`~a.b.C```), which
  Markdown would print literally, into *optional* autorefs cross-references when griffe can
  resolve the name from the docstring's scope (a link where the target is documented, plain
  code elsewhere, silently), and into plain code otherwise (``torch``, ``numpy`` ...);
- gives a module-level constant documented with ``#:`` comment lines just above it (the
  Sphinx convention the code uses) that text as its docstring.

A name re-exported by a package that also has a submodule of that name (``neurotwin.train``
imports ``fit`` from ``neurotwin.train.fitting``) resolves to the imported object, as at run time.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

#: ``:role:`target``` or ``:role:`~target``` (the tilde shows the last component only).
ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|obj|exc|const):`(~?)([^`]+)`")


def _resolve(obj: griffe.Object, name: str) -> str | None:
    """Return the full path ``name`` designates from ``obj``'s scope, or None."""
    if name.startswith("neurotwin."):
        return name
    head, _, rest = name.partition(".")
    module = obj if obj.is_module else obj.module
    if head in module.imports and not rest:  # an import shadowing a submodule of that name
        return module.imports[head]
    try:
        path = obj.resolve(head)
    except Exception:  # griffe's NameResolutionError, or an alias it cannot follow
        return None
    return f"{path}.{rest}" if rest else path


def _comment_docstring(obj: griffe.Object) -> griffe.Docstring | None:
    """Return the ``#:`` lines just above a module attribute as a docstring, or None."""
    if not obj.is_attribute or not obj.parent or not obj.parent.is_module or obj.lineno is None:
        return None
    lines = obj.module.lines
    text: list[str] = []
    number = obj.lineno - 1  # the assignment's line, 1-based; scan the lines above it
    while number >= 1 and lines[number - 1].strip().startswith("#:"):
        text.insert(0, lines[number - 1].strip()[2:].strip())
        number -= 1
    if not text:
        return None
    model = obj.module.docstring
    return griffe.Docstring(
        " ".join(text),
        lineno=number + 1,
        endlineno=obj.lineno - 1,
        parent=obj,
        parser=model.parser if model else None,
        parser_options=model.parser_options if model else None,
    )


def _rewrite(obj: griffe.Object, text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        short, name = match.group(1) == "~", match.group(2).strip()
        shown = name.rsplit(".", 1)[-1] if short else name
        target = _resolve(obj, name)
        if target is None:
            return f"`{shown}`"
        return f'<autoref identifier="{html.escape(target)}" optional>`{shown}`</autoref>'

    return ROLE.sub(replace, text)


class SphinxConventions(griffe.Extension):
    """Rewrite Sphinx roles and read ``#:`` comments in every object of a loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Walk the package once it is fully loaded and complete its docstrings.

        Parameters
        ----------
        pkg
            The loaded package.
        **kwargs
            Other arguments of the event (unused).
        """
        seen: set[int] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is None:
                obj.docstring = _comment_docstring(obj)
            if obj.docstring is not None and ":" in obj.docstring.value:
                obj.docstring.value = _rewrite(obj, obj.docstring.value)
            stack.extend(m for m in obj.members.values() if isinstance(m, griffe.Object))
