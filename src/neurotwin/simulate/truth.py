"""The ground-truth folder of a simulated recording, kept beside (never inside) it.

``{dest}/{recording_name}.truth/`` holds the noiseless rates and the full noisy responses of
every trial (including those a competition release withholds), the tiers and trial ids,
the neurons' parameters, the behaviour that drove their gains, and ``simulation.json``.
It is written under a temporary name and renamed into place when complete.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin import atomic

#: Suffix of the truth folder next to a recording.
TRUTH_SUFFIX = ".truth"


def truth_path(dest: str | os.PathLike[str], recording_name: str) -> Path:
    """Return where the truth of a recording lives.

    Parameters
    ----------
    dest
        The folder holding the recording.
    recording_name
        The recording's folder name (without ``.zip``).

    Returns
    -------
    pathlib.Path
        ``dest/recording_name.truth``.
    """
    return Path(dest) / f"{recording_name}{TRUTH_SUFFIX}"


class TruthWriter:
    """Write a truth folder under a temporary name; :meth:`close` renames it into place.

    Parameters
    ----------
    path
        The final folder (``*.truth``).
    overwrite
        Replace an existing folder.
    """

    def __init__(self, path: Path, overwrite: bool = False) -> None:
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists (pass overwrite=True to replace it)")
        self.path = path
        self.tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)
        self._maps: dict[str, np.memmap] = {}

    def open_array(self, name: str, shape: tuple[int, ...], fill: float = np.nan) -> np.memmap:
        """Create a float32 ``name.npy`` memory-mapped for writing in chunks.

        Parameters
        ----------
        name
            File stem.
        shape
            Full shape.
        fill
            Initial value (NaN pads video frames that no trial reaches).

        Returns
        -------
        numpy.memmap
            The writable array.
        """
        array = np.lib.format.open_memmap(
            self.tmp / f"{name}.npy", mode="w+", dtype=np.float32, shape=shape
        )
        array[...] = fill
        self._maps[name] = array
        return array

    def save(self, name: str, array: np.ndarray) -> None:
        """Write a small array as ``name.npy``.

        Parameters
        ----------
        name
            File stem.
        array
            The array (no pickled objects).
        """
        np.save(self.tmp / f"{name}.npy", np.asarray(array), allow_pickle=False)

    def save_npz(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        """Write several arrays as ``name.npz``.

        Parameters
        ----------
        name
            File stem.
        arrays
            Arrays by key.
        """
        payload: dict[str, Any] = {k: np.asarray(v) for k, v in arrays.items()}
        np.savez(self.tmp / f"{name}.npz", **payload)

    def save_json(self, name: str, data: dict[str, Any]) -> None:
        """Write ``name.json`` (indented).

        Parameters
        ----------
        name
            File stem.
        data
            JSON-serialisable content.
        """
        (self.tmp / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")

    def array(self, name: str) -> np.memmap:
        """Return an array opened with :meth:`open_array`.

        Parameters
        ----------
        name
            File stem.

        Returns
        -------
        numpy.memmap
            The array.
        """
        return self._maps[name]

    def close(self) -> Path:
        """Flush the memory maps and move the folder into place.

        Returns
        -------
        pathlib.Path
            The finished truth folder.
        """
        for array in self._maps.values():
            array.flush()
        self._maps.clear()
        return atomic.publish(self.tmp, self.path)

    def abort(self) -> None:
        """Discard the temporary folder."""
        self._maps.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)


def load_simulation(truth_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``simulation.json`` of a truth folder.

    Parameters
    ----------
    truth_dir
        The truth folder.

    Returns
    -------
    dict
        Its content (config, seed, noise level, ceilings...).
    """
    path = Path(truth_dir) / "simulation.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {truth_dir} a simulated truth folder?")
    data: dict[str, Any] = json.loads(path.read_text())
    return data
