"""Every tutorial runs, at its reduced size, and shows its figures.

Each run also writes the executed notebook that the documentation site renders
(``docs/tutorials/``), so that ``mkdocs build`` right after the tests does not run them again.
"""

import importlib.util
from pathlib import Path

import pytest

HOOK = Path(__file__).resolve().parents[1] / "docs" / "hooks" / "tutorials.py"
spec = importlib.util.spec_from_file_location("tutorials_hook", HOOK)
assert spec is not None and spec.loader is not None
tutorials = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tutorials)

SOURCES = tutorials.tutorial_sources()


def test_the_tutorials_are_there():
    assert len(SOURCES) >= 6
    for source in SOURCES:
        text = source.read_text()
        assert text.startswith("# %% [markdown]\n# # "), f"{source.name}: starts with its title"
        assert tutorials.QUICK_VARIABLE in text, f"{source.name}: honours the test size"


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_tutorial_runs_and_shows_its_figures(source, tmp_path):
    notebook = tutorials.run_tutorial(source, quick=True, workdir=tmp_path)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert figures, f"{source.name} shows no figure"
    assert tutorials.is_current(source, quick=True)
    assert not tutorials.is_current(source, quick=False)
