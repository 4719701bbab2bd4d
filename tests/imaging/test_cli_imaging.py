import json

import numpy as np

from neurotwin.cli import main
from neurotwin.imaging import load_compressed


def test_simulate_movie_then_denoise_with_report(tmp_path, capsys):
    out = tmp_path / "sim"
    args = ["simulate", "movie", "--out", str(out), "--frames", "120", "--height", "32"]
    assert main([*args, "--width", "24", "--neurons", "6", "--format", "bin"]) == 0
    truth = np.load(out / "movie.truth" / "signal.npy")
    assert truth.shape == (120, 32, 24)
    capsys.readouterr()
    result = tmp_path / "den"
    argv = ["denoise", str(out / "movie.bin"), "--frame-shape", "32", "24", "--out", str(result)]
    assert main([*argv, "--method", "svd", "--block", "16", "12", "--quiet", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["compression_ratio"] == load_compressed(result).compression_ratio
    page = (result / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "http" not in page.split("<body>")[1]
    assert "corr denoised" in page  # the truth beside the movie was found
    # a different result in the same folder is refused with one line, exit status 2
    assert main([*argv, "--method", "svd", "--block", "8", "8", "--quiet"]) == 2
    assert "holds a different result" in capsys.readouterr().err


def test_denoise_bad_movie_is_one_line(tmp_path, capsys):
    (tmp_path / "m.tif").write_bytes(b"nope")
    assert main(["denoise", str(tmp_path / "m.tif"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("neurotwin denoise: error:") and "m.tif: not a readable TIFF" in err
    assert len(err.splitlines()) == 1


def test_what_the_parsers_import_needs_no_torch_or_scipy():
    # cli/imaging.py imports only these at module level; the library loads when a command runs
    import subprocess
    import sys

    script = (
        "import sys; import neurotwin.imaging; from neurotwin.imaging.config import "
        "METHODS, SUFFIXES, FitSettings, MovieConfig; import neurotwin.imaging.errors; "
        "print('HEAVY', [x for x in ('torch', 'scipy') if x in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=True).stdout  # fmt: skip
    assert "HEAVY []" in out
    import neurotwin.imaging

    assert neurotwin.imaging.denoise_movie.__module__ == "neurotwin.imaging.denoise"


def test_truth_that_is_not_npy_and_existing_output_are_one_line(tmp_path, capsys):
    out = tmp_path / "sim"
    args = ["simulate", "movie", "--out", str(out), "--frames", "100", "--height", "16"]
    args += ["--width", "16", "--neurons", "3"]
    assert main(args) == 0
    assert main(args) == 2
    assert capsys.readouterr().err.strip().endswith("movie.npy exists; add --overwrite")
    (tmp_path / "t.tif").write_bytes(b"x")
    argv = ["denoise", str(out / "movie.npy"), "--out", str(tmp_path / "d"), "--quiet"]
    assert main([*argv, "--truth", str(tmp_path / "t.tif")]) == 2
    err = capsys.readouterr().err.strip()
    assert "t.tif: the truth must be a .npy file" in err and len(err.splitlines()) == 1
