"""A checked submission, aligned to its ground truth, and its file (scored later, elsewhere).

A competition server checks an upload while the request is open
(:func:`~neurotwin.scoring.scorer.check_submission`), saves the result with
:meth:`AlignedSubmission.save`, and a worker process loads it with
:meth:`AlignedSubmission.load` and scores it
(:func:`~neurotwin.scoring.scorer.score_aligned`): the upload is parsed once, and the
worker gets exactly the arrays that were checked.

The file (``neurotwin-aligned`` version 1) is an uncompressed ``.npz`` read without
pickle: a JSON ``header`` (format, version, track, track version, notes, the mice of each
phase in order) and one array per phase and mouse, ``{phase}.{k}`` for the k-th mouse.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin import atomic
from neurotwin.errors import NeurotwinError, quote_untrusted

#: Format name and version written into every aligned-submission file.
FORMAT = "neurotwin-aligned"
FORMAT_VERSION = 1


class AlignedFileError(NeurotwinError):
    """An aligned-submission file cannot be read (damaged, of another format or version)."""


@dataclass
class AlignedSubmission:
    """A checked submission: per phase and mouse, predictions in the ground truth's order.

    Attributes
    ----------
    track
        The track identifier.
    track_version
        The version of the track it was checked against.
    phases
        By phase, by mouse, the predictions aligned to the truth's trials and neurons:
        static ``(n_trials, n_neurons)``; video ``(n_trials, n_neurons, frames)``.
    notes
        Phases that will not be scored and why.
    """

    track: str
    track_version: str
    phases: dict[str, Mapping[str, np.ndarray]]
    notes: list[str] = field(default_factory=list)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the checked submission to one file, atomically.

        Parameters
        ----------
        path
            The file (``.npz`` by convention).

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        header = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "track": self.track,
            "track_version": self.track_version,
            "notes": list(self.notes),
            "phases": {phase: list(mice) for phase, mice in self.phases.items()},
        }
        arrays: dict[str, np.ndarray] = {"header": np.array(json.dumps(header))}
        for phase, mice in self.phases.items():
            for k, values in enumerate(mice.values()):
                arrays[f"{phase}.{k}"] = np.asarray(values)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:  # a handle: np.savez would append .npz to a name
                np.savez(handle, allow_pickle=False, **arrays)

        return atomic.atomic_write(path, write)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AlignedSubmission:
        """Read a file written by :meth:`save`.

        Parameters
        ----------
        path
            The file.

        Returns
        -------
        AlignedSubmission
            The same track, version, notes and arrays (dtype and shape kept).

        Raises
        ------
        AlignedFileError
            When the file is missing, damaged, of another format or of a newer version.
        """
        where = str(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                header = _header(data, where)
                phases: dict[str, Mapping[str, np.ndarray]] = {}
                for phase, mice in header["phases"].items():
                    phases[phase] = {
                        str(mouse): _array(data, f"{phase}.{k}", where)
                        for k, mouse in enumerate(mice)
                    }
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise AlignedFileError(f"{where}: cannot read it ({exc})") from exc
        return cls(header["track"], header["track_version"], phases, list(header["notes"]))


def _header(data: Any, where: str) -> dict[str, Any]:
    if "header" not in data.files:
        raise AlignedFileError(f"{where}: not a {FORMAT} file (no header)")
    try:
        header = json.loads(str(data["header"]))
    except ValueError as exc:
        raise AlignedFileError(f"{where}: its header is not JSON ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise AlignedFileError(f"{where}: not a {FORMAT} file")
    version = header.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise AlignedFileError(
            f"{where}: {FORMAT} version {quote_untrusted(version)}; this neurotwin reads "
            f"version {FORMAT_VERSION} and older: upgrade neurotwin"
        )
    phases = header.get("phases")
    if not isinstance(phases, dict) or not all(isinstance(m, list) for m in phases.values()):
        raise AlignedFileError(f"{where}: its header lists no phases")
    for key in ("track", "track_version"):
        if not isinstance(header.get(key), str):
            raise AlignedFileError(f"{where}: its header has no {key}")
    if not isinstance(header.get("notes"), list):
        raise AlignedFileError(f"{where}: its header has no notes")
    return header


def _array(data: Any, key: str, where: str) -> np.ndarray:
    if key not in data.files:
        raise AlignedFileError(f"{where}: misses the array {key!r}")
    array: np.ndarray = data[key]
    if not np.issubdtype(array.dtype, np.floating):
        raise AlignedFileError(f"{where}: array {key!r} is {array.dtype}, not floating point")
    return array
