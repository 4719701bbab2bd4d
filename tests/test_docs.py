"""The documentation's command-line reference hook (docs/hooks/cli_reference.py).

The hook is loaded from its file, as MkDocs loads it; no site is built here.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from neurotwin.cli import COMMAND_MODULES

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_reference", DOCS / "hooks/cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    return _load_hook()


@pytest.fixture(scope="module")
def texts(hook: ModuleType) -> dict[str, str]:
    return dict(hook.help_texts())


def _registered(module: ModuleType) -> list[str]:
    """The sub-commands one module of COMMAND_MODULES adds."""
    parser = argparse.ArgumentParser(prog="neurotwin")
    subparsers = parser.add_subparsers()
    module.register(subparsers)
    return list(subparsers.choices)


def test_every_command_has_its_help(texts: dict[str, str]) -> None:
    names = [name for module in COMMAND_MODULES for name in _registered(module)]
    assert names, "COMMAND_MODULES registers no command"
    for name in names:
        text = texts.get(f"neurotwin {name}")
        assert text is not None, f"no reference for neurotwin {name}"
        assert text.startswith(f"usage: neurotwin {name}")
        assert "-h, --help" in text
    top = {command for command in texts if command.count(" ") == 1}
    assert top == {f"neurotwin {name}" for name in names}


def test_top_level_and_nested_commands(texts: dict[str, str]) -> None:
    first, *_ = texts
    assert first == "neurotwin"
    assert texts["neurotwin"].startswith("usage: neurotwin")
    assert "--version" in texts["neurotwin"]
    for kind in ("static", "video"):  # simulate has sub-commands of its own
        assert texts[f"neurotwin simulate {kind}"].startswith(f"usage: neurotwin simulate {kind}")
    for command, text in texts.items():
        assert "\x1b[" not in text, f"colour codes in the help of {command}"


def test_help_does_not_depend_on_the_terminal(
    hook: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = hook.render_reference()
    monkeypatch.setenv("COLUMNS", "200")
    assert hook.render_reference() == reference
    width = max(len(line) for line in reference.splitlines() if not line.startswith("#"))
    assert width <= hook.COLUMNS + 10  # argparse keeps long tokens whole


def test_marker_is_replaced_on_the_cli_page_only(hook: ModuleType) -> None:
    source = (DOCS / hook.PAGE).read_text()
    assert hook.MARKER in source

    def page(uri: str) -> SimpleNamespace:
        return SimpleNamespace(file=SimpleNamespace(src_uri=uri))

    built = hook.on_page_markdown(source, page(hook.PAGE), None, None)
    assert hook.MARKER not in built
    assert "## `neurotwin train`" in built
    assert "usage: neurotwin train" in built
    other = f"text\n{hook.MARKER}\n"
    assert hook.on_page_markdown(other, page("index.md"), None, None) == other
