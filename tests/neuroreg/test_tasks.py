"""The generated shapes task and the CIFAR-10 binary reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neurotwin.neuroreg import NeuroregError
from neurotwin.neuroreg.tasks import CIFAR_FILES, CIFAR_RECORD, SHAPES, read_cifar10, shapes_dataset


def test_shapes_are_balanced_reproducible_and_vary() -> None:
    images, labels = shapes_dataset(40, (36, 64), seed=3)
    assert images.shape == (40, 36, 64) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=len(SHAPES)).tolist() == [4] * 10
    again, _ = shapes_dataset(40, (36, 64), seed=3)
    np.testing.assert_array_equal(images, again)
    assert images.std(axis=(1, 2)).min() > 5  # texture and a shape in every image


def _write_cifar(folder: Path, per_file: int = 3) -> np.ndarray:
    """Write the six batches; return the first record's RGB planes (3, 32, 32)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    first = None
    for name in CIFAR_FILES["train"] + CIFAR_FILES["test"]:
        records = rng.integers(0, 256, (per_file, CIFAR_RECORD), dtype=np.uint8)
        records[:, 0] = rng.integers(0, 10, per_file)
        if first is None:
            records[0, 0] = 7
            records[0, 1:1025] = 255  # a pure red image
            records[0, 1025:] = 0
            first = records[0]
        records.tofile(folder / name)
    assert first is not None
    return first


def test_cifar_reader_on_synthetic_binary_batches(tmp_path: Path) -> None:
    _write_cifar(tmp_path / "cifar-10-batches-bin")
    images, labels = read_cifar10(tmp_path, "train", hw=(36, 64))
    assert images.shape == (15, 36, 64) and labels.shape == (15,)
    assert labels[0] == 7
    # pure red has luminance 0.2125 (skimage's rgb2gray)
    assert abs(int(images[0].mean()) - round(0.2125 * 255)) <= 1
    test_images, _ = read_cifar10(tmp_path / "cifar-10-batches-bin", "test", hw=(8, 8))
    assert test_images.shape == (3, 8, 8)
    assert read_cifar10(tmp_path, "train", limit=4)[0].shape[0] == 4


def test_cifar_reader_refuses_a_wrong_folder_or_file(tmp_path: Path) -> None:
    with pytest.raises(NeuroregError, match="does not hold CIFAR-10's binary batches"):
        read_cifar10(tmp_path)
    _write_cifar(tmp_path / "c")
    with open(tmp_path / "c" / "test_batch.bin", "ab") as handle:
        handle.write(b"\x00" * 10)
    with pytest.raises(NeuroregError, match=r"test_batch\.bin: .* not a whole number"):
        read_cifar10(tmp_path / "c", "test")
