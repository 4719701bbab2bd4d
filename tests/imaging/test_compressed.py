import json

import numpy as np
import pytest

from movies import low_rank_movie as _low_rank
from neurotwin.imaging import denoise as denoise_module
from neurotwin.imaging.compressed import load_compressed, save_compressed
from neurotwin.imaging.denoise import denoise_movie
from neurotwin.imaging.errors import CompressedError
from neurotwin.imaging.factorize import FitSettings
from neurotwin.imaging.movie import write_movie

SVD = FitSettings(method="svd")


@pytest.fixture(scope="module")
def movie_file(tmp_path_factory):
    _, noisy = _low_rank(frames=200)
    return write_movie(tmp_path_factory.mktemp("m") / "movie.npy", noisy)


def test_round_trip_and_frame_ranges(tmp_path, movie_file):
    result = denoise_movie(movie_file, tmp_path / "out", block=(16, 16), settings=SVD)
    loaded = load_compressed(tmp_path / "out")
    assert loaded.shape == (200, 32, 32)
    np.testing.assert_array_equal(loaded.ranks, result.ranks)
    full = loaded.reconstruct()
    np.testing.assert_allclose(loaded.reconstruct(37, 41), full[37:41], rtol=1e-6, atol=1e-4)
    in_memory = denoise_movie(movie_file, block=(16, 16), settings=SVD).reconstruct()
    np.testing.assert_allclose(full, in_memory, rtol=1e-5, atol=1e-3)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["format"] == "neurotwin-pmd" and manifest["ranks"] == result.ranks.tolist()
    assert manifest["compression_ratio"] == pytest.approx(result.compression_ratio)
    t, h, w = result.shape
    stored = sum((b.pixels + t) * k for b, k in zip(result.blocks, result.ranks, strict=True))
    assert result.compression_ratio == pytest.approx(t * h * w / stored)
    # save_compressed writes the same folder again from memory
    save_compressed(loaded, tmp_path / "copy")
    np.testing.assert_array_equal(load_compressed(tmp_path / "copy").reconstruct(0, 3), full[:3])


def test_a_different_result_is_refused_and_a_foreign_folder_is_kept(tmp_path, movie_file):
    out = tmp_path / "out"
    denoise_movie(movie_file, out, block=(16, 16), settings=SVD)
    denoise_movie(movie_file, out, block=(16, 16), settings=SVD)  # same result: replaced
    with pytest.raises(CompressedError, match=r"out: holds a different result .*block"):
        denoise_movie(movie_file, out, block=(8, 8), settings=SVD)
    denoise_movie(movie_file, out, block=(8, 8), settings=SVD, overwrite=True)
    assert load_compressed(out).info["block_size"] == [8, 8]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(CompressedError, match=r"mine: a non-empty folder that holds no"):
        denoise_movie(movie_file, foreign, block=(16, 16), settings=SVD, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_an_interrupted_run_leaves_no_result(tmp_path, movie_file, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(denoise_module, "_regress", interrupted)
    with pytest.raises(KeyboardInterrupt):
        denoise_movie(movie_file, tmp_path / "out", block=(16, 16), settings=SVD)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(CompressedError, match=r"no manifest\.json: not a finished"):
        load_compressed(tmp_path / "out")


def test_truncated_or_foreign_results_are_refused(tmp_path, movie_file):
    out = tmp_path / "out"
    denoise_movie(movie_file, out, block=(16, 16), settings=SVD)
    data = (out / "temporal.npy").read_bytes()
    (out / "temporal.npy").write_bytes(data[:-8])
    with pytest.raises(CompressedError, match=r"temporal\.npy: missing or truncated"):
        load_compressed(out)
    (out / "manifest.json").write_text(json.dumps({"format": "other", "version": 1}))
    with pytest.raises(CompressedError, match="format 'other'"):
        load_compressed(out)


def test_a_different_array_in_the_same_folder_is_refused(tmp_path):
    _, noisy = _low_rank(frames=100)
    denoise_movie(noisy, tmp_path / "out", block=(16, 16), settings=SVD)
    denoise_movie(noisy.copy(), tmp_path / "out", block=(16, 16), settings=SVD)  # same data
    with pytest.raises(CompressedError, match="differs in source"):
        denoise_movie(noisy[::-1].copy(), tmp_path / "out", block=(16, 16), settings=SVD)
