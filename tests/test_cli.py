import argparse
import json

import numpy as np
import pytest

from neurotwin import __version__
from neurotwin.cli import build_parser, main
from tiny import write_static


def _subcommands() -> list[str]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(action.choices)


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"neurotwin {__version__}"


@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: neurotwin {command}") and len(out.splitlines()) > 3


def test_info_prints_tiers_repeats_and_json(static_path, capsys):
    assert main(["info", str(static_path)]) == 0
    out = capsys.readouterr().out
    assert "neurons      7" in out and "test               6" in out
    assert "repeats      test: 3 images x 2..2" in out
    assert main(["info", "--json", str(static_path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["tiers"] == {"train": 12, "validation": 4, "test": 6, "final_test": 6}
    assert info["repeats"]["final_test"]["stimuli"] == 3


def test_validate_exit_codes(tmp_path, capsys):
    path = write_static(tmp_path)
    assert main(["validate", str(path)]) == 0
    assert "0 error(s), 0 warning(s)" in capsys.readouterr().out
    np.save(path / "data/responses/3.npy", np.ones(2, dtype=np.float32))
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "data/responses/3.npy: has shape (2,), expected (7,)" in out


def test_bad_path_is_one_clear_message(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"neurotwin info: error: {tmp_path / 'nothing'}: does not exist"


def test_cache_command_builds_into_the_chosen_folder(static_path, tmp_path, capsys):
    assert main(["cache", str(static_path), "--cache-dir", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c").is_dir()
    built = next((tmp_path / "c").iterdir())
    assert built.name.endswith("4x6-" + built.name.rsplit("-", 1)[1])
    assert str(built) in capsys.readouterr().out


def test_k_fold_without_an_ensemble_is_refused(static_path, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(static_path), "--out", str(out), "--k-fold"]) == 2
    assert "--k-fold needs --ensemble N with N >= 2" in capsys.readouterr().err
    assert not out.exists()


def test_a_single_run_and_an_ensemble_do_not_share_a_folder(static_path, tmp_path, capsys):
    ensemble, single = tmp_path / "ens", tmp_path / "run"
    (ensemble / "member-0").mkdir(parents=True)
    (ensemble / "model.pt").write_bytes(b"the ensemble")
    single.mkdir()
    (single / "checkpoint.pt").write_bytes(b"a run")
    assert main(["train", str(static_path), "--out", str(ensemble)]) == 2
    assert f"{ensemble} holds an ensemble" in capsys.readouterr().err
    assert main(["train", str(static_path), "--out", str(single), "--ensemble", "2"]) == 2
    assert f"{single} holds a single run" in capsys.readouterr().err
    assert (ensemble / "model.pt").read_bytes() == b"the ensemble"
    assert sorted(p.name for p in ensemble.iterdir()) == ["member-0", "model.pt"]
