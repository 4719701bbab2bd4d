"""Typed configurations of the simulated mouse, one per release, with named presets.

Every number that shapes a simulated recording lives in :class:`StaticConfig` or
:class:`VideoConfig`; a preset is a complete config and explicit overrides replace single
fields. Configs round-trip through JSON (``simulation.json`` in the truth folder), so a
recording can be regenerated exactly from its seed and config.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, TypeVar

from neurotwin.errors import NeurotwinError

#: Names accepted by ``preset``.
PRESETS = ("tiny", "demo", "benchmark")
#: Competition tracks a simulated release can be cut for (behaviour given or withheld).
TRACKS = ("behavior", "stimulus_only")


@dataclass(frozen=True)
class NeuronConfig:
    """Parameters of the in-silico population shared by both releases.

    Attributes
    ----------
    complex_fraction
        Fraction of complex cells (quadrature energy); the rest are simple cells
        (rectified linear Gabor).
    noise_level
        Size of one calcium event relative to a neuron's mean rate (median over neurons;
        each neuron's value scatters log-normally around it). Responses are a compound
        Poisson-gamma draw whose mean is the true rate, so the variance given the rate is
        about ``noise_level * 1.5 * rate``: larger means noisier and lowers the ceiling.
    shared_gain_sd
        Standard deviation of the shared multiplicative gain (mean 1) that fluctuates
        across trials (static) or frames (video) and is common to all neurons.
    running_gain
        Mean log-gain per unit of z-scored running speed (each neuron draws its own).
    pupil_gain
        Mean log-gain per unit of z-scored pupil dilation (each neuron draws its own).
    eye_shift
        Receptive-field shift, in pixels of the 36 x 64 model grid, per standard deviation
        of pupil-centre displacement.
    scatter
        Scatter of receptive-field centres around the retinotopic map, as a fraction of the
        stimulus width.
    """

    complex_fraction: float = 0.5
    noise_level: float = 3.0
    shared_gain_sd: float = 0.2
    running_gain: float = 0.25
    pupil_gain: float = 0.15
    eye_shift: float = 1.0
    scatter: float = 0.04


@dataclass(frozen=True)
class StaticConfig:
    """A static (SENSORIUM 2022) simulated recording.

    Attributes
    ----------
    neurons
        Neurons per mouse.
    train
        Training trials (each a different image).
    validation
        Validation trials (each a different image).
    test_images
        Images of each test tier (``test`` and ``final_test``).
    test_repeats
        Repeats of every test image.
    height, width
        Stimulus size on disk (SENSORIUM: 144 x 256).
    model_height, model_width
        Resolution at which receptive fields act (SENSORIUM models work at 36 x 64).
    chunk
        Trials generated and written per chunk (bounds memory).
    cells
        Parameters of the population.
    """

    neurons: int = 50
    train: int = 200
    validation: int = 40
    test_images: int = 10
    test_repeats: int = 4
    height: int = 144
    width: int = 256
    model_height: int = 36
    model_width: int = 64
    chunk: int = 256
    cells: NeuronConfig = NeuronConfig()


@dataclass(frozen=True)
class VideoConfig:
    """A video (SENSORIUM 2023) simulated recording.

    Attributes
    ----------
    neurons
        Neurons per mouse.
    train
        Training trials (each a different natural video).
    oracle_videos, oracle_repeats
        The ``oracle`` tier: this many natural videos, each shown this many times.
    test_videos, test_repeats
        Each main test tier (``live_test_main``, ``final_test_main``): natural videos and
        repeats of each.
    bonus_per_class, bonus_repeats
        Each bonus tier: stimuli per out-of-domain class and repeats of each.
    min_frames, max_frames
        Trial lengths are drawn between these; every array is NaN-padded to ``max_frames``.
    height, width
        Video frame size (SENSORIUM 2023: 36 x 64).
    fps
        Frames per second.
    adaptation
        Strength of the slow divisive adaptation of every neuron to its own recent drive.
    direction_selective_fraction
        Fraction of cells whose spatio-temporal filter is direction selective.
    chunk
        Trials generated and written per chunk (bounds memory).
    cells
        Parameters of the population.
    """

    neurons: int = 40
    train: int = 12
    oracle_videos: int = 2
    oracle_repeats: int = 3
    test_videos: int = 2
    test_repeats: int = 2
    bonus_per_class: int = 1
    bonus_repeats: int = 1
    min_frames: int = 90
    max_frames: int = 100
    height: int = 36
    width: int = 64
    fps: int = 30
    adaptation: float = 0.5
    direction_selective_fraction: float = 0.3
    chunk: int = 8
    cells: NeuronConfig = NeuronConfig()


_STATIC_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {},
    "demo": {"neurons": 500, "train": 4000, "validation": 500, "test_images": 100,
             "test_repeats": 10},
    "benchmark": {"neurons": 8000, "train": 4000, "validation": 500, "test_images": 100,
                  "test_repeats": 10},
}  # fmt: skip

_VIDEO_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {},
    "demo": {"neurons": 300, "train": 120, "oracle_videos": 6, "oracle_repeats": 5,
             "test_videos": 5, "test_repeats": 5, "bonus_per_class": 2, "bonus_repeats": 3,
             "min_frames": 300, "max_frames": 320},
    "benchmark": {"neurons": 2000, "train": 160, "oracle_videos": 8, "oracle_repeats": 6,
                  "test_videos": 6, "test_repeats": 6, "bonus_per_class": 2,
                  "bonus_repeats": 3, "min_frames": 300, "max_frames": 320},
}  # fmt: skip

Config = TypeVar("Config", StaticConfig, VideoConfig)


@dataclass(frozen=True)
class SimulatedRelease:
    """One kind of simulated release: its config, presets, names and withheld tiers.

    Attributes
    ----------
    kind
        ``"static"`` or ``"video"``.
    year
        The SENSORIUM release it imitates (``"2022"``, ``"2023"``).
    config
        Its config class.
    presets
        Each preset's fields that differ from the config's defaults.
    folder_prefix, stimulus_tag
        Recording names read ``{folder_prefix}{animal}-{session}-{scan}-{stimulus_tag}-{hex}``
        as the releases' do.
    held_out
        Tiers whose responses a competition release withholds.
    """

    kind: str
    year: str
    config: type[StaticConfig] | type[VideoConfig]
    presets: dict[str, dict[str, Any]]
    folder_prefix: str
    stimulus_tag: str
    held_out: tuple[str, ...]


#: The two simulated releases by kind.
RELEASES: dict[str, SimulatedRelease] = {
    "static": SimulatedRelease(
        "static", "2022", StaticConfig, _STATIC_PRESETS, "static", "GrayImageNet",
        ("test", "final_test"),
    ),
    "video": SimulatedRelease(
        "video", "2023", VideoConfig, _VIDEO_PRESETS, "dynamic", "Video",
        ("live_test_main", "live_test_bonus", "final_test_main", "final_test_bonus"),
    ),
}  # fmt: skip


def release_of(kind: str) -> SimulatedRelease:
    """Return the simulated release of ``kind``.

    Raises
    ------
    NeurotwinError
        For a kind other than ``"static"`` and ``"video"``.
    """
    if kind not in RELEASES:
        raise NeurotwinError(f"kind must be 'static' or 'video', got {kind!r}")
    return RELEASES[kind]


def make_config(kind: str, preset: str = "tiny", **overrides: Any) -> StaticConfig | VideoConfig:
    """Build the config of one release from a preset and explicit overrides.

    Parameters
    ----------
    kind
        ``"static"`` or ``"video"``.
    preset
        One of :data:`PRESETS`.
    **overrides
        Fields of the release config (``neurons=100``) or of :class:`NeuronConfig`
        (``noise_level=0.5``); None values are ignored.

    Returns
    -------
    StaticConfig or VideoConfig
        The config.

    Raises
    ------
    NeurotwinError
        For an unknown kind, preset or option, or a value out of range.
    """
    release = release_of(kind)
    if preset not in PRESETS:
        raise NeurotwinError(f"preset must be one of {', '.join(PRESETS)}; got {preset!r}")
    cls = release.config
    values = dict(release.presets[preset])
    cell_names = {f.name for f in fields(NeuronConfig)}
    top_names = {f.name for f in fields(cls)} - {"cells"}
    cell_values: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        if key in top_names:
            values[key] = value
        elif key in cell_names:
            cell_values[key] = value
        else:
            known = ", ".join(sorted(top_names | cell_names))
            raise NeurotwinError(f"unknown {kind} simulation option {key!r}; known: {known}")
    config = cls(**values, cells=NeuronConfig(**cell_values))
    validate(config)
    return config


def validate(config: StaticConfig | VideoConfig) -> None:
    """Check that every count and level of a config makes sense.

    Parameters
    ----------
    config
        The config to check.

    Raises
    ------
    NeurotwinError
        Naming the first offending option and what was expected.
    """
    positive = ["neurons", "train", "chunk", "height", "width"]
    if isinstance(config, StaticConfig):
        positive += ["validation", "test_images", "test_repeats", "model_height", "model_width"]
        if config.height % config.model_height or config.width % config.model_width:
            raise NeurotwinError(
                f"height x width ({config.height} x {config.width}) must be multiples of "
                f"model_height x model_width ({config.model_height} x {config.model_width})"
            )
    else:
        positive += ["oracle_videos", "oracle_repeats", "test_videos", "test_repeats",
                     "bonus_per_class", "bonus_repeats", "min_frames", "fps"]  # fmt: skip
        if config.max_frames < config.min_frames:
            raise NeurotwinError(
                f"max_frames ({config.max_frames}) must be at least min_frames "
                f"({config.min_frames})"
            )
        if not 0 <= config.direction_selective_fraction <= 1:
            raise NeurotwinError("direction_selective_fraction must lie in 0..1")
        if config.adaptation < 0:
            raise NeurotwinError(f"adaptation must be >= 0, got {config.adaptation}")
    for name in positive:
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise NeurotwinError(f"option {name!r} must be a positive integer, got {value!r}")
    cells = config.cells
    for section in (config, cells):
        for field in fields(section):
            value = getattr(section, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise NeurotwinError(f"option {field.name!r} must be a finite number, got {value}")
    if not 0 <= cells.complex_fraction <= 1:
        raise NeurotwinError(f"complex_fraction must lie in 0..1, got {cells.complex_fraction}")
    for name in ("noise_level", "shared_gain_sd", "eye_shift", "scatter"):
        if getattr(cells, name) < 0:
            raise NeurotwinError(f"option {name!r} must be >= 0, got {getattr(cells, name)}")
    if cells.noise_level == 0:
        raise NeurotwinError("noise_level must be > 0 (responses are event counts)")


def config_to_dict(config: StaticConfig | VideoConfig) -> dict[str, Any]:
    """Return a JSON-serialisable dict of a config (with a ``kind`` key).

    Parameters
    ----------
    config
        The config.

    Returns
    -------
    dict
        Plain values, the population parameters under ``cells``.
    """
    out = asdict(config)
    out["kind"] = "static" if isinstance(config, StaticConfig) else "video"
    return out


def config_from_dict(data: dict[str, Any]) -> StaticConfig | VideoConfig:
    """Rebuild a config written by :func:`config_to_dict`.

    Parameters
    ----------
    data
        The dict (e.g. ``simulation.json["config"]``).

    Returns
    -------
    StaticConfig or VideoConfig
        The config.
    """
    data = dict(data)
    kind = data.pop("kind")
    cells = NeuronConfig(**data.pop("cells"))
    return release_of(kind).config(**data, cells=cells)


def with_overrides(config: Config, **changes: Any) -> Config:
    """Return a copy of a config with some fields replaced (and validated).

    Parameters
    ----------
    config
        The config.
    **changes
        Release fields to replace.

    Returns
    -------
    StaticConfig or VideoConfig
        The new config.
    """
    new = replace(config, **changes)
    validate(new)
    return new


__all__ = [
    "PRESETS",
    "RELEASES",
    "SimulatedRelease",
    "NeuronConfig",
    "StaticConfig",
    "VideoConfig",
    "config_from_dict",
    "config_to_dict",
    "make_config",
    "release_of",
    "validate",
    "with_overrides",
]
