"""Command-line flags built from a config's fields: help and defaults come from the config."""

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import pytest

from neurotwin.cli import build_parser
from neurotwin.config import add_config_flags, apply_overrides, field_docs, flag_overrides
from neurotwin.simulate.config import NeuronConfig, StaticConfig, VideoConfig, make_config


@dataclass(frozen=True)
class Inner:
    """A section.

    Attributes
    ----------
    depth
        Layers of the section.
    """

    depth: int = 2


@dataclass(frozen=True)
class Example:
    """An example config.

    Attributes
    ----------
    rate : float
        Learning rate of the optimiser. A second sentence the help leaves out.
    height, width
        Size in pixels, e.g. 36 x 64.
    shuffle
        Shuffle each epoch.
    mode
        How to run.
    sizes
        Layer sizes.
    limit
        Seconds allowed (None: no limit).
    """

    rate: float = 0.1
    height: int = 36
    width: int = 64
    shuffle: bool = True
    mode: Literal["fast", "exact"] = "fast"
    sizes: tuple[int, ...] = (1, 2)
    limit: float | None = None
    compile: bool | str = field(default=False, metadata={"help": "Compile the model."})
    inner: Inner = Inner()


def test_field_docs_read_the_attributes_section_and_metadata():
    docs = field_docs(Example)
    assert docs["rate"].startswith("Learning rate of the optimiser.")
    assert docs["height"] == docs["width"] == "Size in pixels, e.g. 36 x 64."
    assert docs["compile"] == "Compile the model."
    assert "inner" not in docs


def _parser() -> tuple[argparse.ArgumentParser, list[str]]:
    parser = argparse.ArgumentParser()
    return parser, add_config_flags(parser, Example)


def test_flags_parse_every_supported_type_and_only_given_ones_override():
    parser, names = _parser()
    assert names == [
        "rate", "height", "width", "shuffle", "mode", "sizes", "limit", "compile", "depth"
    ]  # fmt: skip
    args = parser.parse_args(
        ["--rate", "0.5", "--no-shuffle", "--mode", "exact", "--sizes", "3", "4", "--depth", "5"]
    )
    given = flag_overrides(args, names)
    assert given == {"rate": 0.5, "shuffle": False, "mode": "exact", "sizes": (3, 4), "depth": 5}
    config = apply_overrides(Example(), given)
    assert config.inner.depth == 5 and config.sizes == (3, 4) and config.width == 64
    assert flag_overrides(parser.parse_args(["--compile", "true"]), names) == {"compile": True}
    assert flag_overrides(parser.parse_args(["--compile", "auto"]), names) == {"compile": "auto"}
    with pytest.raises(SystemExit):
        parser.parse_args(["--mode", "slow"])


def test_help_shows_the_first_sentence_and_the_default():
    parser, _ = _parser()
    text = " ".join(parser.format_help().split())
    assert "Learning rate of the optimiser. (default: 0.1)" in text
    assert "A second sentence" not in text
    assert "Size in pixels, e.g. 36 x 64. (default: 36)" in text
    assert "(default: [1, 2])" in text


def test_a_field_no_flag_can_express_is_refused_unless_excluded():
    @dataclass(frozen=True)
    class Odd:
        table: dict[str, int] = dataclasses.field(default_factory=dict)
        n: int = 1

    with pytest.raises(TypeError, match="dict"):
        add_config_flags(argparse.ArgumentParser(), Odd)
    assert add_config_flags(argparse.ArgumentParser(), Odd, exclude=("table",)) == ["n"]


@pytest.mark.parametrize("kind,cls", [("static", StaticConfig), ("video", VideoConfig)])
def test_simulate_flags_mirror_the_simulator_config(kind, cls):
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices["simulate"]  # type: ignore[union-attr]
    kind_parser = sub._subparsers._group_actions[0].choices[kind]
    actions = {a.dest: a for a in kind_parser._actions}
    tiny = make_config(kind, "tiny")
    docs = {**field_docs(cls), **field_docs(NeuronConfig)}
    for config, fields in (
        (tiny, dataclasses.fields(cls)),
        (tiny.cells, dataclasses.fields(NeuronConfig)),
    ):
        for f in fields:
            if f.name == "cells":
                continue
            action = actions[f.name]
            assert action.default is None
            first = docs[f.name].split(". ")[0]
            assert first in action.help
            assert action.help.endswith(f"(tiny preset: {getattr(config, f.name)})")
    args = parser.parse_args(
        ["simulate", kind, "--out", "x", "--neurons", "7", "--noise-level", "0.5"]
    )
    assert flag_overrides(args, args.overrides) == {"neurons": 7, "noise_level": 0.5}


def test_train_flags_mirror_the_training_recipe():
    from neurotwin.train.config import TrainConfig

    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
    actions = {a.dest: a for a in sub._actions}
    defaults, docs = TrainConfig(), field_docs(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("compile", "time_limit"):  # their own flags: tri-state, duration
            continue
        action = actions[f.name]
        assert action.default is None
        assert docs[f.name].split(" (")[0].split(". ")[0] in action.help
        assert action.help.endswith(f"(default: {getattr(defaults, f.name)})")
    args = parser.parse_args(
        ["train", "rec", "--out", "run", "--epochs", "3", "--no-progress", "--ema-decay", "0.9"]
    )
    assert flag_overrides(args, args.recipe_flags) == {
        "max_epochs": 3,
        "progress": False,
        "ema_decay": 0.9,
    }


def test_a_named_recipe_takes_the_flags_given_even_at_their_defaults():
    from neurotwin.cli.train import train_config
    from neurotwin.train.optim import recipe

    parser = build_parser()
    for batch in (8, 128):  # 128 is also TrainConfig's default batch size
        args = parser.parse_args(
            ["train", "rec", "--out", "run", "--model", "video-dwise", "--recipe", "dwise",
             "--batch-size", str(batch)]
        )  # fmt: skip
        config = train_config(args)
        assert config.batch_size == batch
        assert config.lr == recipe("dwise", batch_size=batch).lr == 7.5e-5 * batch
        assert config.cutmix_prob == 0.5 and config.recipe == "given"
