import numpy as np
import pytest

from neurotwin.imaging.denoise import denoise_movie
from neurotwin.imaging.errors import MovieError
from neurotwin.imaging.movie import open_movie, write_movie


@pytest.fixture
def movie():
    rng = np.random.default_rng(0)
    return rng.integers(-300, 3000, size=(70, 12, 10)).astype(np.int16)


@pytest.mark.parametrize("suffix", [".npy", ".tif", ".h5", ".zarr", ".bin"])
def test_every_format_reads_frame_ranges(tmp_path, movie, suffix):
    path = write_movie(tmp_path / f"m{suffix}", movie)
    opened = open_movie(path, frame_shape=(12, 10))
    assert opened.shape == movie.shape
    np.testing.assert_array_equal(opened.read(5, 9), movie[5:9].astype(np.float32))
    assert opened.read(5, 9).dtype == np.float32


def test_arrays_memmaps_and_other_dtypes(tmp_path, movie):
    np.testing.assert_array_equal(
        open_movie(movie.astype(np.uint8)).read(0, 2), movie[:2].astype(np.uint8)
    )
    mm = np.lib.format.open_memmap(tmp_path / "m.npy", "w+", np.float64, movie.shape)
    mm[:] = movie
    mm.flush()
    assert open_movie(np.load(tmp_path / "m.npy", mmap_mode="r")).read(69, 70).shape == (1, 12, 10)


def test_compressed_tiff_pages_are_read(tmp_path, movie):
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(tmp_path / "c.tif", movie, compression="zlib")
    np.testing.assert_array_equal(open_movie(tmp_path / "c.tif").read(3, 6), movie[3:6])


def _error(match, *args, **kwargs):
    with pytest.raises(MovieError, match=match):
        open_movie(*args, **kwargs)


def test_unreadable_truncated_and_wrong_files_name_the_file(tmp_path, movie):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff at all")
    _error(r"bad\.tif: not a readable TIFF", bad)
    (tmp_path / "bad.npy").write_bytes(b"garbage")
    _error(r"bad\.npy: not a readable \.npy", tmp_path / "bad.npy")
    path = write_movie(tmp_path / "data.bin", movie)
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 7)
    _error(r"data\.bin: .* not a whole number of 12 x 10 int16 frames", path, frame_shape=(12, 10))
    _error(r"data\.bin: .*needs its frame shape", path)
    _error(r"nope\.npy: no such file", tmp_path / "nope.npy")
    (tmp_path / "m.avi").write_bytes(b"x")
    _error(r"m\.avi: unknown movie format", tmp_path / "m.avi")
    np.save(tmp_path / "flat.npy", movie[0])
    _error(r"flat\.npy: a movie must be frames x height x width", tmp_path / "flat.npy")


def test_truncated_npy_is_an_error_naming_the_file(tmp_path, movie):
    path = write_movie(tmp_path / "t.npy", movie)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _error(r"t\.npy", path)


def test_nan_constant_pixel_few_frames_and_block_size(tmp_path, movie):
    rng = np.random.default_rng(1)
    good = rng.normal(100, 5, size=(80, 16, 16)).astype(np.float32)
    nan = good.copy()
    nan[40, 3, 4] = np.nan
    write_movie(tmp_path / "nan.npy", nan)
    with pytest.raises(MovieError, match=r"nan\.npy: frame 40 holds NaN .*row 3, column 4"):
        denoise_movie(tmp_path / "nan.npy", block=(8, 8), settings=None)
    const = good.copy()
    const[:, 2, 5] = 7
    write_movie(tmp_path / "const.npy", const)
    with pytest.raises(MovieError, match=r"const\.npy: 1 constant pixel.*row 2, column 5"):
        denoise_movie(tmp_path / "const.npy", block=(8, 8))
    write_movie(tmp_path / "short.npy", good[:20])
    with pytest.raises(MovieError, match=r"short\.npy: 20 frames; .*at least 64"):
        denoise_movie(tmp_path / "short.npy", block=(8, 8))
    write_movie(tmp_path / "ok.npy", good)
    with pytest.raises(MovieError, match=r"ok\.npy: block size 32 x 8 does not fit the 16 x 16"):
        denoise_movie(tmp_path / "ok.npy", block=(32, 8))


def _mapped(path) -> bool:
    with open("/proc/self/maps") as maps:
        return any(str(path) in line for line in maps)


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/maps"), reason="Linux only")
@pytest.mark.parametrize("suffix", [".npy", ".tif", ".bin"])
def test_raw_files_are_read_without_mapping_them(tmp_path, movie, suffix):
    path = write_movie(tmp_path / f"m{suffix}", movie)
    opened = open_movie(path, frame_shape=(12, 10))
    frames = opened.read(0, 70)
    np.testing.assert_array_equal(frames, movie.astype(np.float32))
    assert not _mapped(path)  # a mapped file's pages would count as the process's memory


def test_npy_headers_orders_and_byte_orders(tmp_path, movie):
    big = movie.astype(">f4")
    np.save(tmp_path / "big.npy", big)
    np.testing.assert_array_equal(open_movie(tmp_path / "big.npy").read(2, 5), movie[2:5])
    np.save(tmp_path / "f.npy", np.asfortranarray(movie))
    np.testing.assert_array_equal(open_movie(tmp_path / "f.npy").read(60, 70), movie[60:70])
    for version in [(2, 0), (3, 0)]:
        path = tmp_path / f"v{version[0]}.npy"
        with open(path, "wb") as handle:
            np.lib.format.write_array(handle, movie, version=version)
        np.testing.assert_array_equal(open_movie(path).read(0, 3), movie[:3])


def test_big_endian_tiff_is_read(tmp_path, movie):
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(tmp_path / "be.tif", movie, byteorder=">")
    np.testing.assert_array_equal(open_movie(tmp_path / "be.tif").read(10, 20), movie[10:20])


def test_raw_file_shorter_than_its_header_names_the_file(tmp_path, movie):
    tifffile = pytest.importorskip("tifffile")
    path = tmp_path / "short.tif"
    tifffile.imwrite(path, movie)
    data = path.read_bytes()
    offset = tifffile.TiffFile(path).series[0].dataoffset
    path.write_bytes(data[: offset + 100])
    with pytest.raises(MovieError, match=r"short\.tif"):
        open_movie(path).read(0, 70)
