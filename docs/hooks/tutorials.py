"""Run the tutorials and keep their executed notebooks for the documentation site.

The tutorials are plain Python files with notebook cells (``tutorials/*.py``, jupytext's
percent format). :func:`run_tutorial` executes one in a fresh Jupyter kernel, in a working
folder of its own, and writes the executed notebook, figures included, to
``docs/tutorials/<name>.ipynb`` (git-ignored), where the site's notebook plugin renders it.

The test suite runs every tutorial through :func:`run_tutorial` at the reduced size
(``NEUROTWIN_QUICK=1``). The MkDocs hook :func:`on_pre_build` then reuses a notebook whose
fingerprint (the tutorial's text, the package's source and the size) still matches, and runs
the tutorial again otherwise, so ``mkdocs build`` never shows a stale or failed tutorial:
an error in a cell fails the build.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TUTORIALS = REPO / "tutorials"
OUTPUT = REPO / "docs" / "tutorials"
PACKAGE = REPO / "src" / "neurotwin"
#: The one setting that shrinks every tutorial to its test size.
QUICK_VARIABLE = "NEUROTWIN_QUICK"
#: Most seconds one cell may run before the run is declared failed.
CELL_TIMEOUT = 1800


def tutorial_sources() -> list[Path]:
    """Return the tutorial files in reading order (their names start with a number)."""
    return sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))


def quick_from_environment() -> bool:
    """Return whether ``NEUROTWIN_QUICK=1`` asks for the reduced size."""
    return os.environ.get(QUICK_VARIABLE) == "1"


def fingerprint(source: Path, quick: bool) -> str:
    """Return a hash of everything an executed tutorial depends on in this repository.

    Parameters
    ----------
    source
        The tutorial file.
    quick
        Whether it runs at the reduced size.

    Returns
    -------
    str
        SHA-256 of the tutorial's text, every file of the package and the size.
    """
    digest = hashlib.sha256(f"quick={quick}\n".encode())
    digest.update(source.read_bytes())
    for path in sorted(PACKAGE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(PACKAGE)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def notebook_path(source: Path, output: Path = OUTPUT) -> Path:
    """Return where the executed notebook of a tutorial is written."""
    return output / f"{source.stem}.ipynb"


def run_tutorial(
    source: Path, quick: bool, workdir: Path | None = None, output: Path = OUTPUT
) -> Any:
    """Execute one tutorial in a fresh kernel and write the executed notebook.

    Parameters
    ----------
    source
        The tutorial file (``tutorials/NN_name.py``).
    quick
        Run at the reduced size (``NEUROTWIN_QUICK=1`` in the kernel's environment).
    workdir
        The kernel's working folder, where the tutorial writes its data; a temporary
        folder, removed afterwards, when None. The loaders' cache goes to
        ``workdir/cache`` so that nothing is written to the user's home.
    output
        Folder of the executed notebook.

    Returns
    -------
    nbformat.NotebookNode
        The executed notebook, with ``metadata["neurotwin"]`` holding its fingerprint, size
        and run time.

    Raises
    ------
    nbclient.exceptions.CellExecutionError
        When a cell fails; the message shows the cell and its traceback.
    """
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    with tempfile.TemporaryDirectory(prefix=f"{source.stem}-") as scratch:
        folder = Path(workdir) if workdir is not None else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            QUICK_VARIABLE: "1" if quick else "0",
            "NEUROTWIN_CACHE_DIR": str(folder / "cache"),
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "TQDM_DISABLE": "1",
        }
        client = NotebookClient(
            notebook,
            timeout=CELL_TIMEOUT,
            kernel_name="python3",
            resources={"metadata": {"path": str(folder)}},
        )
        start = time.perf_counter()
        client.execute(env=env)
        seconds = time.perf_counter() - start
    notebook.metadata["neurotwin"] = {
        "fingerprint": fingerprint(source, quick),
        "quick": quick,
        "seconds": round(seconds, 1),
    }
    output.mkdir(parents=True, exist_ok=True)
    target = notebook_path(source, output)
    partial = target.with_suffix(".ipynb.tmp")
    nbformat.write(notebook, partial)
    os.replace(partial, target)
    return notebook


def is_current(source: Path, quick: bool, output: Path = OUTPUT) -> bool:
    """Return whether the executed notebook of ``source`` matches its fingerprint."""
    import nbformat

    target = notebook_path(source, output)
    if not target.is_file():
        return False
    meta = nbformat.read(target, as_version=4).metadata.get("neurotwin", {})
    return bool(meta.get("fingerprint") == fingerprint(source, quick))


def on_pre_build(config: Any, **kwargs: Any) -> None:
    """MkDocs hook: execute every tutorial whose notebook is missing or stale."""
    quick = quick_from_environment()
    sources = tutorial_sources()
    if not sources:
        raise RuntimeError(f"no tutorials found in {TUTORIALS}")
    names = {notebook_path(s).name for s in sources}
    for leftover in OUTPUT.glob("*.ipynb"):
        if leftover.name not in names:  # a renamed or deleted tutorial
            leftover.unlink()
    for source in sources:
        if not is_current(source, quick):
            run_tutorial(source, quick)
