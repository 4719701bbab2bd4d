"""Write recordings in the exact SENSORIUM layout, as a folder or a zip, trial by trial.

The simulator and the tests use this; reading what it wrote gives back the same arrays,
dtypes and file names. Output appears atomically: everything is written under a temporary
name beside the destination and renamed into place by :meth:`RecordingWriter.close`, so an
interrupted write never leaves something that looks like a finished recording.
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path
from types import TracebackType
from typing import Literal

import numpy as np

from neurotwin import atomic
from neurotwin.data.layout import LAYOUTS, STATISTIC_NAMES
from neurotwin.data.statistics import StatisticsAccumulator, as_rows
from neurotwin.errors import NeurotwinError


class RecordingWriter:
    """Write one recording, streaming its trials.

    Parameters
    ----------
    dest
        The folder that will hold the recording (``dest/name/`` or ``dest/name.zip``).
    name
        The recording's folder name, e.g. ``static26872-17-20-GrayImageNet-<32 hex>``.
    kind
        ``"static"`` or ``"video"``.
    tiers
        The tier of every trial; it also fixes the number of trials.
    as_zip
        Write ``name.zip`` (holding the ``name/`` folder) instead of a folder.
    pad_frames
        Video only: pad every trial's arrays with NaN along time to this many frames.
    statistics_tier
        Statistics of the trials of this tier are accumulated while writing and written on
        :meth:`close` unless :meth:`write_statistics` supplied them; None to skip.
    overwrite
        Replace an existing recording of the same name.

    Examples
    --------
    >>> with RecordingWriter(tmp, name, "static", tiers=tiers) as w:  # doctest: +SKIP
    ...     for i in range(len(tiers)):
    ...         w.write_trial(i, images=img[i], responses=resp[i])
    ...     w.write_neurons(unit_ids=np.arange(n))
    ...     w.write_trial_info(frame_image_id=ids, trial_idx=order)
    """

    def __init__(
        self,
        dest: str | os.PathLike[str],
        name: str,
        kind: Literal["static", "video"],
        *,
        tiers: np.ndarray | list[str],
        as_zip: bool = False,
        pad_frames: int | None = None,
        statistics_tier: str | None = "train",
        overwrite: bool = False,
    ) -> None:
        if kind not in LAYOUTS:
            raise ValueError(f"kind must be 'static' or 'video', got {kind!r}")
        if pad_frames is not None and not LAYOUTS[kind].has_frames:
            raise ValueError("pad_frames applies to video recordings only")
        self.layout = LAYOUTS[kind]
        self.tiers = np.asarray(tiers).astype(str)
        unknown = sorted(set(self.tiers.tolist()) - set(self.layout.tiers))
        if unknown:
            raise ValueError(
                f"unknown tier(s) {unknown}; a {kind} recording uses {self.layout.tiers}"
            )
        self.name = name
        self.pad_frames = pad_frames
        self.as_zip = as_zip
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        self.path = dest / (f"{name}.zip" if as_zip else name)
        if self.path.exists() and not overwrite:
            raise NeurotwinError(f"{self.path} already exists (pass overwrite=True to replace it)")
        self._tmp = dest / f".{self.path.name}.tmp-{os.getpid()}"
        _remove(self._tmp)
        self._zip: zipfile.ZipFile | None = None
        if as_zip:
            self._zip = zipfile.ZipFile(self._tmp, "w", zipfile.ZIP_STORED, allowZip64=True)
        else:
            self._tmp.mkdir()
        self._written: dict[str, set[int]] = {}
        self._stats_tier = statistics_tier
        self._accumulators: dict[str, StatisticsAccumulator] = {}
        self._explicit_stats: set[str] = set()
        self._has_neurons = False
        self._closed = False

    @property
    def n_trials(self) -> int:
        """Number of trials, fixed by ``tiers``."""
        return len(self.tiers)

    # ------------------------------------------------------------------ writing
    def _save(self, rel: str, array: np.ndarray) -> None:
        if self._zip is not None:
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            self._zip.writestr(f"{self.name}/{rel}", buffer.getvalue())
        else:
            target = self._tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            np.save(target, array, allow_pickle=False)

    def write_trial(self, index: int, **fields: np.ndarray) -> None:
        """Write the arrays of one trial, in their on-disk shapes.

        Parameters
        ----------
        index
            The file index ``i`` of ``data/{field}/{i}.npy``.
        **fields
            ``images`` ``(1, H, W)`` or ``videos`` ``(H, W, T)``, ``responses`` ``(n,)`` or
            ``(n, T)``, and optionally ``behavior`` and ``pupil_center``.
        """
        if not 0 <= index < self.n_trials:
            raise IndexError(f"trial {index} out of range 0..{self.n_trials - 1}")
        for field, array in fields.items():
            if field not in self.layout.fields:
                raise ValueError(f"unknown field {field!r}; expected one of {self.layout.fields}")
            array = np.asarray(array)
            if self.pad_frames is not None:
                array = _pad_time(array, self.pad_frames, field)
            self._save(f"data/{field}/{index}.npy", array)
            self._written.setdefault(field, set()).add(index)
            if self._stats_tier is not None and self.tiers[index] == self._stats_tier:
                acc = self._accumulators.setdefault(
                    field, StatisticsAccumulator(scalar=field == self.layout.stimulus)
                )
                acc.update(as_rows(field, array, self.layout))

    def write_trials(self, start: int, **fields: np.ndarray) -> None:
        """Write consecutive trials from arrays stacked along a first axis.

        Parameters
        ----------
        start
            File index of the first trial.
        **fields
            Stacked arrays, e.g. ``images`` of shape ``(k, 1, H, W)``.
        """
        lengths = {len(a) for a in fields.values()}
        if len(lengths) != 1:
            raise ValueError(
                f"stacked fields differ in length: { {k: len(v) for k, v in fields.items()} }"
            )
        for offset in range(lengths.pop()):
            self.write_trial(start + offset, **{k: v[offset] for k, v in fields.items()})

    def write_neurons(self, unit_ids: np.ndarray, **arrays: np.ndarray) -> None:
        """Write ``meta/neurons/unit_ids.npy`` and any other per-neuron array.

        Parameters
        ----------
        unit_ids
            One integer id per neuron.
        **arrays
            E.g. ``cell_motor_coordinates`` ``(n, 3)``, ``area``, ``layer``, ``animal_ids``.
        """
        self._save("meta/neurons/unit_ids.npy", np.asarray(unit_ids))
        for stem, array in arrays.items():
            self._save(f"meta/neurons/{stem}.npy", np.asarray(array))
        self._has_neurons = True

    def write_trial_info(self, **arrays: np.ndarray) -> None:
        """Write per-trial metadata beside ``meta/trials/tiers.npy``.

        Parameters
        ----------
        **arrays
            E.g. ``trial_idx`` (int, or 32-hex strings), ``frame_image_id``; one row per trial.
        """
        for stem, array in arrays.items():
            array = np.asarray(array)
            if len(array) != self.n_trials:
                raise ValueError(
                    f"trial info {stem!r} has {len(array)} rows, expected {self.n_trials}"
                )
            self._save(f"meta/trials/{stem}.npy", array)

    def write_statistics(
        self,
        field: str,
        stats: dict[str, np.ndarray],
        subsets: tuple[str, ...] = ("all",),
    ) -> None:
        """Write ``meta/statistics/{field}/{subset}/{stat}.npy`` explicitly.

        Parameters
        ----------
        field
            A data field.
        stats
            ``mean``, ``std`` and optionally ``min``, ``max``, ``median``.
        subsets
            Subfolders to write, e.g. ``("all", "stimulus_frame")``.
        """
        for subset in subsets:
            for stat, value in stats.items():
                self._save(f"meta/statistics/{field}/{subset}/{stat}.npy", np.asarray(value))
        self._explicit_stats.add(field)

    # ------------------------------------------------------------------ finishing
    def close(self) -> Path:
        """Check completeness, write the remaining metadata and move the result into place.

        Returns
        -------
        pathlib.Path
            The finished recording (folder or zip).

        Raises
        ------
        NeurotwinError
            When trials or neuron metadata were not written.
        """
        if self._closed:
            return self.path
        for field in (self.layout.stimulus, "responses"):
            if field not in self._written:
                raise NeurotwinError(f"{self.path}: no {field} were written")
        for field, indices in self._written.items():
            if len(indices) != self.n_trials:
                missing = sorted(set(range(self.n_trials)) - indices)[:5]
                raise NeurotwinError(
                    f"{self.path}: data/{field} misses trials {missing} (of {self.n_trials})"
                )
        if not self._has_neurons:
            raise NeurotwinError(f"{self.path}: write_neurons() was not called")
        self._save("meta/trials/tiers.npy", self.tiers)
        for field, acc in self._accumulators.items():
            if field not in self._explicit_stats and acc.count:
                stats = acc.result()
                for stat in STATISTIC_NAMES:
                    self._save(f"meta/statistics/{field}/all/{stat}.npy", stats[stat])
        if self._zip is not None:
            self._zip.close()
        atomic.publish(self._tmp, self.path)
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Discard everything written so far."""
        if self._zip is not None:
            self._zip.close()
        _remove(self._tmp)
        self._closed = True

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _pad_time(array: np.ndarray, n_frames: int, field: str) -> np.ndarray:
    """Pad the last (time) axis with NaN to ``n_frames``."""
    length = array.shape[-1]
    if length > n_frames:
        raise ValueError(f"{field} has {length} frames, more than pad_frames={n_frames}")
    if length == n_frames:
        return array
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{field} must be a float array to be padded with NaN, got {array.dtype}")
    pad = [(0, 0)] * (array.ndim - 1) + [(0, n_frames - length)]
    return np.pad(array, pad, constant_values=np.nan)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
