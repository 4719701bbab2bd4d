"""One simulated mouse of the video (2023) release: trials, behaviour and responses.

On top of the static model, every neuron filters its spatial outputs in time (a biphasic
kernel; direction-selective cells combine the quadrature pair with two kernels of different
delay, which orients the filter in space-time), adapts divisively to its own recent drive,
and behaviour, eye position and the shared gain vary frame by frame.
"""

from __future__ import annotations

import numpy as np

from neurotwin.simulate.behavior import simulate_behavior
from neurotwin.simulate.config import VideoConfig
from neurotwin.simulate.neurons import (
    ResponseModel,
    behavior_log_gain,
    make_population,
    shift_frames,
)
from neurotwin.simulate.noise import sample_responses, shared_gain
from neurotwin.simulate.stimuli import rng_for
from neurotwin.simulate.videos import CLASSES, OOD_CLASSES, make_video

STREAM_PLAN = 30
STREAM_BEHAVIOR = 31
STREAM_GAIN = 32
STREAM_NOISE = 33
#: Calibration videos use stimulus ids from here on.
CALIBRATION_BASE = 10**9
CALIBRATION_VIDEOS = 4
#: Temporal kernel length (frames), adaptation and behaviour time constants (frames).
KERNEL_FRAMES = 12
ADAPTATION_FRAMES = 30.0
BEHAVIOR_TIMESCALE = 90.0
GAIN_TIMESCALE = 15.0
SACCADE_RATE = 1 / 60


def temporal_kernels(tau: np.ndarray, frames: int = KERNEL_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """Biphasic temporal kernels: a fast one and a delayed one, per neuron.

    Parameters
    ----------
    tau
        Time constant per neuron, frames.
    frames
        Kernel length.

    Returns
    -------
    fast, slow : numpy.ndarray
        ``(frames, n)`` kernels, each with unit L1 norm of its positive lobe.
    """
    t = np.arange(frames, dtype=np.float64)[:, None] + 0.5

    def gamma(order: int) -> np.ndarray:
        k = (t / tau) ** order * np.exp(-t / tau)
        return k / k.sum(0, keepdims=True)

    fast = gamma(2) - 0.4 * gamma(4)
    slow = gamma(3) - 0.4 * gamma(5)
    return fast.astype(np.float32), slow.astype(np.float32)


def causal_filter(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Filter ``(T, n)`` signals causally with per-neuron kernels ``(K, n)``."""
    out = np.zeros_like(x)
    for k in range(min(len(kernel), len(x))):
        out[k:] += kernel[k] * x[: len(x) - k]
    return out


def plan_trials(config: VideoConfig, mouse: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Decide tier, stimulus, class, length and presentation order of every trial.

    Repeated stimuli (oracle, test and bonus tiers) are shared by all mice; training videos
    differ between mice.

    Parameters
    ----------
    config
        The release config.
    mouse
        Mouse index.
    rng
        Random generator.

    Returns
    -------
    dict
        ``tiers``, ``stimulus_id``, ``ood_class``, ``lengths`` and ``trial_idx``, one entry
        per trial in file order.
    """
    tiers: list[str] = []
    ids: list[int] = []
    classes: list[str] = []
    next_shared = 0

    def add(tier: str, cls: str, count: int, repeats: int, first: int) -> None:
        for s in range(count):
            for _ in range(repeats):
                tiers.append(tier)
                ids.append(first + s)
                classes.append(cls)

    shared_block = 10**6
    add("oracle", "natural", config.oracle_videos, config.oracle_repeats, next_shared)
    next_shared += config.oracle_videos
    for tier in ("live_test_main", "final_test_main"):
        add(tier, "natural", config.test_videos, config.test_repeats, next_shared)
        next_shared += config.test_videos
    for b, tier in enumerate(("live_test_bonus", "final_test_bonus")):
        for c, cls in enumerate(OOD_CLASSES):
            first = shared_block * (1 + c) + b * config.bonus_per_class
            add(tier, cls, config.bonus_per_class, config.bonus_repeats, first)
    add("train", "natural", config.train, 1, shared_block * 10 + mouse * config.train)
    id_arr = np.array(ids)
    cls_arr = np.array(classes)
    # a stimulus always has the same length (drawn from its id), so repeats line up
    lengths = np.array(
        [
            int(rng_for(0, STREAM_PLAN, i).integers(config.min_frames, config.max_frames + 1))
            for i in id_arr
        ]
    )
    order = rng.permutation(len(id_arr))
    return {
        "tiers": np.array(tiers)[order],
        "stimulus_id": id_arr[order],
        "ood_class": cls_arr[order],
        "lengths": lengths[order],
        "trial_idx": rng.permutation(len(id_arr)),
    }


class VideoMouse:
    """Everything about one simulated mouse that a video recording is written from.

    Parameters
    ----------
    config
        The release config.
    seed
        The simulation seed.
    mouse
        Mouse index.
    """

    def __init__(self, config: VideoConfig, seed: int, mouse: int) -> None:
        self.config = config
        self.seed = seed
        self.mouse = mouse
        self.grid = (config.height, config.width)
        self.population = make_population(
            seed, mouse, config.neurons, self.grid, config.cells,
            config.direction_selective_fraction,
        )  # fmt: skip
        self.model = ResponseModel(self.population, self.grid)
        self.fast, self.slow = temporal_kernels(self.population.temporal_tau)
        calibration = [
            self._drive(make_video(seed, CALIBRATION_BASE + k, "natural", 90, *self.grid), None)
            for k in range(CALIBRATION_VIDEOS)
        ]
        self.model.calibrate(np.concatenate([d[KERNEL_FRAMES:] for d in calibration]))
        self.plan = plan_trials(config, mouse, rng_for(seed, STREAM_PLAN, mouse, 1))
        lengths = self.plan["lengths"]
        # behaviour runs through the trials in presentation order
        presented = np.argsort(self.plan["trial_idx"])
        starts = np.zeros(len(lengths), dtype=np.int64)
        starts[presented] = np.concatenate([[0], np.cumsum(lengths[presented])[:-1]])
        self.starts = starts
        total = int(lengths.sum())
        self.behavior = simulate_behavior(
            rng_for(seed, STREAM_BEHAVIOR, mouse), total, BEHAVIOR_TIMESCALE, SACCADE_RATE,
            config.cells.eye_shift,
        )  # fmt: skip
        self.shared_gain = shared_gain(
            rng_for(seed, STREAM_GAIN, mouse), total, config.cells.shared_gain_sd, GAIN_TIMESCALE
        )

    @property
    def n_trials(self) -> int:
        """Number of trials."""
        return len(self.plan["tiers"])

    def frames_of(self, trial: int) -> slice:
        """Return the slice of the behaviour sequence that belongs to a trial."""
        start = int(self.starts[trial])
        return slice(start, start + int(self.plan["lengths"][trial]))

    def video(self, trial: int) -> np.ndarray:
        """Render the stimulus of a trial, ``(height, width, T)`` float32 0..255."""
        p = self.plan
        return make_video(
            self.seed, int(p["stimulus_id"][trial]), str(p["ood_class"][trial]),
            int(p["lengths"][trial]), *self.grid,
        )  # fmt: skip

    def _drive(self, video: np.ndarray, shifts: np.ndarray | None) -> np.ndarray:
        frames = np.ascontiguousarray(video.transpose(2, 0, 1))
        if shifts is not None:
            frames = shift_frames(frames, shifts)
        even, odd, rms = self.model.linear(frames)
        ds = self.population.direction_selective.astype(np.float32)
        e1, o1 = causal_filter(even, self.fast), causal_filter(odd, self.fast)
        e2, o2 = causal_filter(even, self.slow), causal_filter(odd, self.slow)
        a = e1 + ds * o2
        b = o1 - ds * e2
        smooth = np.abs(self.fast)
        rms = causal_filter(rms, smooth / smooth.sum(0, keepdims=True))
        return self.model.drive(a, b, rms)

    def rates(
        self,
        video: np.ndarray,
        trial: int,
        *,
        use_behavior: bool = True,
        use_eye_position: bool = True,
    ) -> np.ndarray:
        """Compute the expected responses of one trial.

        Parameters
        ----------
        video
            ``(height, width, T)`` stimulus.
        trial
            File index of the trial (its behaviour and eye position apply).
        use_behavior
            Apply the behavioural gain (False: the gain at average behaviour).
        use_eye_position
            Shift receptive fields by the eye position (False: eye at rest).

        Returns
        -------
        numpy.ndarray
            ``(n, T)`` float32.
        """
        frames = self.frames_of(trial)
        shifts = self.behavior.eye_shift[frames] if use_eye_position else None
        drive = self._drive(video, shifts)
        drive = self._adapt(drive)
        b = self.behavior
        gain = behavior_log_gain(self.population, b.running_z[frames], b.pupil_z[frames])
        return self.model.rate(drive, gain if use_behavior else None).T

    def _adapt(self, drive: np.ndarray) -> np.ndarray:
        strength = self.config.adaptation
        if strength == 0:
            return drive
        relative = drive / self.population.reference
        state = np.ones(drive.shape[1]) * 0.5
        out = np.empty_like(drive)
        rate = 1.0 / ADAPTATION_FRAMES
        for t in range(len(drive)):
            state += rate * (relative[t] - state)
            out[t] = drive[t] / (1.0 + strength * state) * (1.0 + 0.5 * strength)
        return out

    def trial(self, trial: int) -> tuple[np.ndarray, ...]:
        """Generate one trial.

        Parameters
        ----------
        trial
            File index.

        Returns
        -------
        tuple of numpy.ndarray
            ``video`` (H, W, T), ``rates`` (n, T), ``responses`` (n, T), ``behavior``
            (2, T), ``pupil_center`` (2, T), ``behavior_z`` (2, T): z-scored running and
            pupil that set the gain.
        """
        video = self.video(trial)
        rates = self.rates(video, trial)
        frames = self.frames_of(trial)
        pop = self.population
        rng = rng_for(self.seed, STREAM_NOISE, self.mouse, trial)
        gain = self.shared_gain[frames]
        responses = sample_responses(rng, (rates * gain).T, pop.noise * pop.mean_rate).T
        b = self.behavior
        behavior = np.stack([b.pupil[frames], b.running[frames]]).astype(np.float32)
        pupil_center = b.pupil_center[frames].T.astype(np.float32)
        z = np.stack([b.running_z[frames], b.pupil_z[frames]]).astype(np.float32)
        return video, rates, np.ascontiguousarray(responses), behavior, pupil_center, z


__all__ = ["CLASSES", "VideoMouse", "plan_trials", "temporal_kernels"]
