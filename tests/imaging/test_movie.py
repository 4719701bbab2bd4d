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


@pytest.mark.parametrize("options", [{"compression": "zlib"}, {"contiguous": False}, {}])
def test_tiff_written_a_frame_at_a_time_is_every_frame(tmp_path, movie, options):
    tifffile = pytest.importorskip("tifffile")
    with tifffile.TiffWriter(tmp_path / "pages.tif") as writer:
        for frame in movie:  # tifffile makes each write its own series
            writer.write(frame, **options)
    opened = open_movie(tmp_path / "pages.tif")
    assert opened.shape == movie.shape
    np.testing.assert_array_equal(opened.read(0, 70), movie)


def test_damaged_or_unsupported_tiffs_are_refused(tmp_path, movie):
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(tmp_path / "z.tif", movie, compression="zlib")
    data = (tmp_path / "z.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    _error(r"cut\.tif: damaged or truncated TIFF", tmp_path / "cut.tif")
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((16, 16, 3), "uint8"), photometric="rgb")
    _error(r"rgb\.tif: 3 samples per pixel", tmp_path / "rgb.tif")
    stack = np.zeros((5, 2, 16, 16), "uint16")
    tifffile.imwrite(tmp_path / "tc.tif", stack, imagej=True, metadata={"axes": "TCYX"})
    _error(r"tc\.tif: an image series of shape \(5, 2, 16, 16\)", tmp_path / "tc.tif")


def test_bad_options_headers_folders_and_values_are_one_clear_error(tmp_path, movie):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "g.h5", "w") as handle:
        handle.create_dataset("group/movie", data=movie)
    _error(r"g\.h5: 'group' is a group, not a dataset", tmp_path / "g.h5", dataset="group")
    np.testing.assert_array_equal(
        open_movie(tmp_path / "g.h5", dataset="group/movie").read(0, 2), movie[:2]
    )
    path = write_movie(tmp_path / "m.bin", movie)
    _error(r"m\.bin: frame shape 0 x 10; both must be at least 1", path, frame_shape=(0, 10))
    np.save(tmp_path / "h.npy", movie)
    data = bytearray((tmp_path / "h.npy").read_bytes())
    data[data.index(b"}")] = ord("(")  # a damaged header: numpy raises a tokenizer error
    (tmp_path / "h.npy").write_bytes(bytes(data))
    _error(r"h\.npy: not a readable \.npy array", tmp_path / "h.npy")
    (tmp_path / "dir.npy").mkdir()
    _error(r"dir\.npy: a folder, not a \.npy file", tmp_path / "dir.npy")
    huge = movie.astype(np.float64)
    huge[3, 4, 5] = 1e300
    with pytest.raises(MovieError, match=r"frame 3, row 4, column 5 holds 1e\+300, beyond float32"):
        open_movie(huge).read(0, 10)


def test_an_hdf5_movie_under_a_folder_with_a_colon_is_identified_by_its_file(tmp_path):
    h5py = pytest.importorskip("h5py")
    folder = tmp_path / "t10:00"
    folder.mkdir()
    rng = np.random.default_rng(2)
    with h5py.File(folder / "m.h5", "w") as handle:
        handle.create_dataset("movie", data=rng.normal(10, 1, (80, 16, 16)).astype(np.float32))
    movie = open_movie(folder / "m.h5")
    assert movie.file == str(folder / "m.h5")
    result = denoise_movie(movie, block=(8, 8), settings=None)
    source = result.info["source"]
    assert source["bytes"] == (folder / "m.h5").stat().st_size and "digest" not in source
    assert source["path"].endswith("t10:00/m.h5:movie")


def test_options_that_do_not_apply_are_checked(tmp_path, movie):
    path = write_movie(tmp_path / "m.npy", movie)
    _error(r"m\.npy: a dataset name is for HDF5 and zarr files, not \.npy", path, dataset="x")
    _error(r"m\.npy: frames of 12 x 10 pixels, not the 10 x 12 given", path, frame_shape=(10, 12))
    assert open_movie(path, frame_shape=(12, 10)).shape == movie.shape
