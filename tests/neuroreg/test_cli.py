"""``neurotwin neuroreg``: stimuli, a control target, a tiny training run, and refused input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neurotwin.cli import main

TINY = ["--n-train", "40", "--n-test", "20", "--epochs", "1", "--n-adversarial", "4"]


def test_stimuli_target_and_train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stimuli, target = str(tmp_path / "s.npy"), str(tmp_path / "t.npz")
    assert main(["neuroreg", "stimuli", "--out", stimuli, "--n", "8", "--size", "12", "20"]) == 0
    assert np.load(stimuli).shape == (8, 12, 20)
    assert (
        main(["neuroreg", "target", "--stimuli", stimuli, "--out", target, "--source", "pixel"])
        == 0
    )
    out = tmp_path / "r.json"
    args = ["neuroreg", "train", "--size", "12", "20", *TINY, "--out", str(out)]
    capsys.readouterr()
    assert main([*args, "--target", target, "--stimuli", stimuli, "--shuffle"]) == 0
    result = json.loads(out.read_text())
    assert set(result["noise"]) == {"gaussian", "uniform", "salt_pepper"}
    assert 0 <= result["clean_accuracy"] <= 1 and len(result["layer_weights"]) == 4
    # a target made from other stimuli, other-size stimuli, bad settings: one-line errors
    other = str(tmp_path / "o.npy")
    np.save(other, np.load(stimuli)[::-1])
    capsys.readouterr()
    assert main([*args, "--target", target, "--stimuli", other]) == 2
    assert "made from other stimuli" in capsys.readouterr().err
    assert (
        main(["neuroreg", "target", "--stimuli", other, "--out", target, "--source", "pixel"]) == 2
    )
    assert "other stimuli than asked" in capsys.readouterr().err
    assert main(["neuroreg", "train", "--size", "12", "24", *TINY, "--target", target,
                 "--stimuli", stimuli]) == 2  # fmt: skip
    assert "must have one size" in capsys.readouterr().err
    assert main([*args, "--alpha", "-1"]) == 2
    assert "alpha must be a finite number >= 0" in capsys.readouterr().err
    assert main([*args, "--alpha", "nan"]) == 2
    assert main([*args, "--task", "cifar10", "--cifar", str(tmp_path)]) == 2
    assert "does not hold CIFAR-10's binary batches" in capsys.readouterr().err
