"""A lock on a run folder, so that two training runs never write into the same one.

The lock is a file, ``{out}/.lock``, created exclusively and holding who took it (process
id, host, start time). A second run on the folder is refused with that information; a lock
whose process is gone (same host) is stale and taken over.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from neurotwin.errors import NeurotwinError

LOCK = ".lock"


class RunFolderBusy(NeurotwinError):
    """Another live process holds the run folder's lock."""


class RunLock:
    """Hold ``{out}/.lock`` while a run writes into ``out`` (a context manager).

    Parameters
    ----------
    out
        The run folder; created when missing.

    Raises
    ------
    RunFolderBusy
        On entry, when a live process holds the lock.
    NeurotwinError
        On entry, when ``out`` exists and is not a folder.
    """

    def __init__(self, out: str | os.PathLike[str]) -> None:
        self.out = Path(out)
        self.path = self.out / LOCK
        self.held = False

    def __enter__(self) -> RunLock:
        check_run_folder(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                holder = _read(self.path)
                if _stale(holder):
                    self.path.unlink(missing_ok=True)  # its process is gone: take over
                    continue
                raise RunFolderBusy(
                    f"{self.out} is in use by another training run ({_describe(holder)}); "
                    f"wait for it to finish, or delete {self.path} if that run is gone"
                ) from None
            with os.fdopen(fd, "w") as handle:
                json.dump(record, handle)
            self.held = True
            return self
        raise RunFolderBusy(f"{self.out}: could not take the lock {self.path}")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def check_run_folder(out: str | os.PathLike[str]) -> None:
    """Refuse a run folder that exists but is not a folder.

    Parameters
    ----------
    out
        The run folder.

    Raises
    ------
    NeurotwinError
        When ``out`` (or one of its parents) is a file.
    """
    path = Path(out)
    for candidate in (path, *path.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise NeurotwinError(
                    f"{candidate} is a file; the run folder must be a folder (give --out a "
                    "new or existing folder)"
                )
            return


def check_run_kind(out: str | os.PathLike[str], ensemble: bool) -> None:
    """Refuse to train a single run into an ensemble's folder, or an ensemble into a run's.

    Both write ``out/model.pt``, so either would replace the other's model.

    Parameters
    ----------
    out
        The run folder.
    ensemble
        Whether an ensemble is to be trained there.

    Raises
    ------
    NeurotwinError
        When ``out`` holds an ensemble (``ensemble.json`` or ``member-*/``) and a single run
        is asked for, or a single run (``checkpoint.pt``) and an ensemble is asked for.
    """
    path = Path(out)
    if not path.is_dir():
        return
    if ensemble and (path / "checkpoint.pt").exists():
        raise NeurotwinError(
            f"{path} holds a single run (checkpoint.pt); an ensemble there would replace its "
            "model.pt: give --out another folder"
        )
    members = [p for p in path.glob("member-*") if p.is_dir()]
    if not ensemble and ((path / "ensemble.json").exists() or members):
        raise NeurotwinError(
            f"{path} holds an ensemble (ensemble.json, member-*/); a single run there would "
            "replace its model.pt: give --out another folder, or add --ensemble N to resume it"
        )


def _read(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _stale(holder: dict[str, Any]) -> bool:
    """Whether the lock's process is gone (only knowable for a lock of this host)."""
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return False
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "its lock file is unreadable"
    return f"pid {holder.get('pid')} on host {holder.get('host')}, started {holder.get('started')}"
