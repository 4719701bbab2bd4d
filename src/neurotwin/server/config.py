"""A competition's configuration: ``competition.json`` in the competition folder.

The file names the tracks (each with its hidden ground truth per phase, the submissions a
team may make per day and the largest upload), the dates of the live and final phases, and
optionally the database URL (SQLite in the folder by default). Example::

    {
      "title": "Demo competition",
      "phases": {"live": {"start": "2026-01-01T00:00:00Z", "end": "2026-06-01T00:00:00Z"},
                 "final": {"start": "2026-06-01T00:00:00Z", "end": "2026-06-15T00:00:00Z"}},
      "tracks": {"sensorium": {"truth": "truth/sensorium.npz",
                               "submissions_per_day": 5, "max_upload_mb": 200}}
    }

``truth`` is one file holding both scored tiers (what ``neurotwin make-truth`` writes) or
``{"live": FILE, "final": FILE}``. Paths are relative to the folder. The truth files must
sit outside anything the server serves; the server never serves them.

Optional settings (see :class:`Settings`): ``require_verified_email``, ``rate_limits``
(``{"login": [COUNT, SECONDS], ...}``), ``abandoned_upload_hours``, ``smtp`` and
``check_in_process_mb``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from neurotwin.scoring.tracks import PHASES, get_track, list_tracks
from neurotwin.server.errors import CompetitionError

CONFIG_NAME = "competition.json"
#: The environment variable that overrides the database URL of every command.
DATABASE_ENV = "NEUROTWIN_DATABASE_URL"


@dataclass(frozen=True)
class Phase:
    """One phase's dates, as naive UTC datetimes.

    Attributes
    ----------
    name
        ``"live"`` or ``"final"``.
    start, end
        The phase is open for ``start <= now < end``.
    """

    name: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class TrackConfig:
    """One track of the competition.

    Attributes
    ----------
    track
        The track identifier (see ``neurotwin tracks``).
    truth
        Per phase, the hidden ground-truth file.
    submissions_per_day
        How many submissions a team may make per UTC day (failed scorings do not count).
    max_upload_bytes
        The largest upload accepted.
    """

    track: str
    truth: dict[str, Path]
    submissions_per_day: int
    max_upload_bytes: int


#: Default rate limits: per action, at most COUNT per SECONDS, per IP address and per account.
RATE_LIMITS: dict[str, tuple[int, float]] = {
    "login": (10, 60.0),
    "register": (10, 3600.0),
    "upload": (30, 60.0),
    "mail": (5, 3600.0),
}


@dataclass(frozen=True)
class Settings:
    """The optional settings of a competition.

    Attributes
    ----------
    require_verified_email
        Only accounts whose e-mail address is verified may upload.
    rate_limits
        Per action (``login``, ``register``, ``upload``, ``mail``: verification and
        password-reset messages), ``(count, seconds)``: at most ``count`` attempts in any
        ``seconds``, counted per client IP address and per account.
    abandoned_upload_hours
        An open upload that received no byte for this many hours is deleted by
        ``neurotwin serve cleanup`` and by the worker.
    smtp
        ``{"host", "port", "from", "starttls", "user", "password_env"}`` to send e-mail;
        None writes each message to ``outbox/`` in the competition folder instead.
    check_in_process_mb
        Uploads up to this many MiB are checked inside the web process; larger ones in a
        child process (whose out-of-memory death cannot take the application down).
    """

    require_verified_email: bool = False
    rate_limits: dict[str, tuple[int, float]] = field(default_factory=lambda: dict(RATE_LIMITS))
    abandoned_upload_hours: float = 24.0
    smtp: dict[str, Any] | None = None
    check_in_process_mb: float = 32.0


def _settings(data: dict[str, Any], where: str) -> Settings:
    verified = data.get("require_verified_email", False)
    if not isinstance(verified, bool):
        raise CompetitionError(f"{where}: require_verified_email must be true or false")
    limits = dict(RATE_LIMITS)
    given = data.get("rate_limits", {})
    if not isinstance(given, dict):
        raise CompetitionError(f"{where}: rate_limits must be an object")
    for action, spec in given.items():
        if action not in RATE_LIMITS:
            raise CompetitionError(
                f"{where}: rate_limits.{action}: unknown action; actions: {', '.join(RATE_LIMITS)}"
            )
        if not isinstance(spec, list) or len(spec) != 2:
            raise CompetitionError(f"{where}: rate_limits.{action}: expected [COUNT, SECONDS]")
        limits[action] = (
            _positive_int(spec[0], f"{where}: rate_limits.{action}[0]"),
            float(_positive_int(spec[1], f"{where}: rate_limits.{action}[1]")),
        )
    hours = data.get("abandoned_upload_hours", 24.0)
    if not isinstance(hours, int | float) or isinstance(hours, bool) or hours <= 0:
        raise CompetitionError(f"{where}: abandoned_upload_hours must be a positive number")
    smtp = data.get("smtp")
    if smtp is not None and (not isinstance(smtp, dict) or "host" not in smtp):
        raise CompetitionError(f"{where}: smtp must be an object with at least 'host'")
    in_process = data.get("check_in_process_mb", 32.0)
    if not isinstance(in_process, int | float) or isinstance(in_process, bool) or in_process < 0:
        raise CompetitionError(f"{where}: check_in_process_mb must be a number >= 0")
    return Settings(verified, limits, float(hours), smtp, float(in_process))


@dataclass(frozen=True)
class Competition:
    """A competition: its folder and configuration.

    Attributes
    ----------
    folder
        The competition folder (``competition.json``, database, uploads).
    title
        Shown on every page.
    phases
        By name (``live``, ``final``), the dates.
    tracks
        By track identifier, the track's settings.
    database_url
        The SQLAlchemy URL of the database.
    settings
        The optional settings (accounts, rate limits, clean-up, e-mail).
    """

    folder: Path
    title: str
    phases: dict[str, Phase]
    tracks: dict[str, TrackConfig]
    database_url: str
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    settings: Settings = field(default_factory=Settings, compare=False)

    @property
    def uploads_dir(self) -> Path:
        """Where submitted files are kept: ``uploads/`` inside the folder."""
        return self.folder / "uploads"

    def track(self, identifier: str) -> TrackConfig:
        """Return a track's settings; raise CompetitionError for a track not in the competition."""
        if identifier not in self.tracks:
            raise CompetitionError(
                f"track {identifier!r} is not part of this competition; "
                f"tracks: {', '.join(self.tracks)}"
            )
        return self.tracks[identifier]

    def open_phase(self, now: datetime) -> str | None:
        """Return the phase open at ``now`` (naive UTC), or None before, between or after."""
        for phase in PHASES:
            p = self.phases[phase]
            if p.start <= now < p.end:
                return phase
        return None


def _date(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise CompetitionError(f"{where}: expected an ISO date such as 2026-01-01T00:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CompetitionError(f"{where}: {value!r} is not an ISO date ({exc})") from exc
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


def _positive_int(value: Any, where: str) -> int:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise CompetitionError(f"{where}: expected a positive number, got {value!r}")
    return int(value)


def _track(folder: Path, name: str, data: Any, where: str) -> TrackConfig:
    if name not in list_tracks():
        raise CompetitionError(f"{where}: unknown track {name!r}; tracks: {list_tracks()}")
    if not isinstance(data, dict):
        raise CompetitionError(f"{where}: expected an object with truth, limits")
    truth_spec = data.get("truth")
    if isinstance(truth_spec, str):
        truth_spec = dict.fromkeys(PHASES, truth_spec)
    if not isinstance(truth_spec, dict) or set(truth_spec) != set(PHASES):
        raise CompetitionError(f"{where}.truth: expected a file or {{'live': FILE, 'final': FILE}}")
    truth = {}
    for phase, rel in truth_spec.items():
        path = (folder / str(rel)).resolve()
        if not path.is_file():
            raise CompetitionError(f"{where}.truth.{phase}: {path} does not exist")
        truth[phase] = path
    get_track(name)
    return TrackConfig(
        track=name,
        truth=truth,
        submissions_per_day=_positive_int(
            data.get("submissions_per_day", 5), f"{where}.submissions_per_day"
        ),
        max_upload_bytes=int(
            _positive_int(data.get("max_upload_mb", 1024), f"{where}.max_upload_mb") * 2**20
        ),
    )


def load_competition(
    folder: str | os.PathLike[str], database_url: str | None = None
) -> Competition:
    """Read a competition folder's ``competition.json``.

    Parameters
    ----------
    folder
        The competition folder.
    database_url
        Overrides the file's ``database`` and ``$NEUROTWIN_DATABASE_URL``.

    Returns
    -------
    Competition
        The checked configuration.

    Raises
    ------
    CompetitionError
        Naming the file and the field for a missing folder, bad JSON, an unknown track, a
        missing truth file, dates out of order or a non-positive limit.
    """
    folder = Path(folder).resolve()
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise CompetitionError(f"{path} does not exist; create one with `neurotwin serve init`")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CompetitionError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise CompetitionError(f"{path}: expected a JSON object")
    phases_data = data.get("phases")
    if not isinstance(phases_data, dict) or set(phases_data) != set(PHASES):
        raise CompetitionError(f"{path}: 'phases' must hold 'live' and 'final' with start and end")
    phases = {}
    for name in PHASES:
        p = phases_data[name]
        where = f"{path}: phases.{name}"
        if not isinstance(p, dict):
            raise CompetitionError(f"{where}: expected {{'start': DATE, 'end': DATE}}")
        phases[name] = Phase(
            name, _date(p.get("start"), f"{where}.start"), _date(p.get("end"), f"{where}.end")
        )
        if phases[name].end <= phases[name].start:
            raise CompetitionError(f"{where}: end is not after start")
    if phases["final"].start < phases["live"].end:
        raise CompetitionError(f"{path}: phases.final starts before phases.live ends")
    tracks_data = data.get("tracks")
    if not isinstance(tracks_data, dict) or not tracks_data:
        raise CompetitionError(f"{path}: 'tracks' must name at least one track")
    tracks = {
        name: _track(folder, name, spec, f"{path}: tracks.{name}")
        for name, spec in tracks_data.items()
    }
    url = database_url or os.environ.get(DATABASE_ENV) or data.get("database")
    if not url:
        url = f"sqlite:///{folder / 'competition.sqlite'}"
    return Competition(
        folder=folder,
        title=str(data.get("title", folder.name)),
        phases=phases,
        tracks=tracks,
        database_url=str(url),
        extra={k: v for k, v in data.items() if k not in ("title", "phases", "tracks", "database")},
        settings=_settings(data, str(path)),
    )
