"""One simulated mouse of the static (2022) release: its trials, behaviour and responses."""

from __future__ import annotations

import numpy as np

from neurotwin.simulate.behavior import Behavior, simulate_behavior
from neurotwin.simulate.config import StaticConfig
from neurotwin.simulate.neurons import (
    ResponseModel,
    behavior_log_gain,
    make_population,
    shift_frames,
)
from neurotwin.simulate.noise import sample_responses, shared_gain
from neurotwin.simulate.stimuli import downsample, natural_image, rng_for

STREAM_PLAN = 20
STREAM_BEHAVIOR = 21
STREAM_GAIN = 22
STREAM_NOISE = 23
#: Stimulus ids at and above this are reserved for calibration images.
CALIBRATION_BASE = 10**9
CALIBRATION_IMAGES = 96
#: Correlation time of behaviour and of the shared gain, in trials (~1 trial per 0.5 s).
BEHAVIOR_TIMESCALE = 40.0
GAIN_TIMESCALE = 20.0
SACCADE_RATE = 0.08


def plan_trials(
    config: StaticConfig, mouse: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Decide the tier, image and presentation order of every trial of one mouse.

    Test images are shared by all mice (ids ``0..2*test_images-1``); training and
    validation images differ between mice.

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
        ``tiers`` (str), ``image_ids`` (int) and ``trial_idx`` (presentation order, int),
        one entry per trial in file order.
    """
    t, r = config.test_images, config.test_repeats
    own = config.train + config.validation
    first_own = 2 * t + mouse * own
    tiers = np.concatenate(
        [
            np.repeat("train", config.train),
            np.repeat("validation", config.validation),
            np.repeat("test", t * r),
            np.repeat("final_test", t * r),
        ]
    )
    ids = np.concatenate(
        [
            first_own + np.arange(own),
            np.repeat(np.arange(t), r),
            np.repeat(np.arange(t, 2 * t), r),
        ]
    )
    order = rng.permutation(len(tiers))
    tiers, ids = tiers[order], ids[order]
    return {"tiers": tiers, "image_ids": ids, "trial_idx": rng.permutation(len(tiers))}


class StaticMouse:
    """Everything about one simulated mouse that a recording is written from.

    Parameters
    ----------
    config
        The release config.
    seed
        The simulation seed.
    mouse
        Mouse index.
    """

    def __init__(self, config: StaticConfig, seed: int, mouse: int) -> None:
        self.config = config
        self.seed = seed
        self.mouse = mouse
        self.grid = (config.model_height, config.model_width)
        self.population = make_population(seed, mouse, config.neurons, self.grid, config.cells)
        self.model = ResponseModel(self.population, self.grid)
        calibration = self.images(CALIBRATION_BASE + np.arange(CALIBRATION_IMAGES))
        self.model.calibrate(self.model.drive(*self.model.linear(self._model_frames(calibration))))
        self.plan = plan_trials(config, mouse, rng_for(seed, STREAM_PLAN, mouse))
        n = len(self.plan["tiers"])
        presented = simulate_behavior(
            rng_for(seed, STREAM_BEHAVIOR, mouse), n, BEHAVIOR_TIMESCALE, SACCADE_RATE,
            config.cells.eye_shift,
        )  # fmt: skip
        order = self.plan["trial_idx"]
        self.behavior = Behavior(**{k: v[order] for k, v in vars(presented).items()})
        gain = shared_gain(
            rng_for(seed, STREAM_GAIN, mouse), n, config.cells.shared_gain_sd, GAIN_TIMESCALE
        )
        self.shared_gain = gain[order]

    @property
    def n_trials(self) -> int:
        """Number of trials."""
        return len(self.plan["tiers"])

    def images(self, image_ids: np.ndarray) -> np.ndarray:
        """Render images by id, ``(B, 1, height, width)`` float32 0..255."""
        c = self.config
        return np.stack([natural_image(self.seed, int(i), c.height, c.width) for i in image_ids])[
            :, None
        ]

    def _model_frames(self, images: np.ndarray) -> np.ndarray:
        return downsample(images[:, 0], *self.grid)

    def behavior_arrays(self, trials: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """On-disk ``behavior`` ``(B, 3)`` and ``pupil_center`` ``(B, 2)`` of some trials."""
        b = self.behavior
        behavior = np.column_stack(
            [b.pupil[trials], b.pupil_derivative[trials], b.running[trials]]
        ).astype(np.float32)
        return behavior, b.pupil_center[trials].astype(np.float32)

    def log_gain(self, trials: np.ndarray) -> np.ndarray:
        """Behavioural log-gain ``(B, n)`` of some trials."""
        b = self.behavior
        return behavior_log_gain(self.population, b.running_z[trials], b.pupil_z[trials])

    def rates(
        self,
        images: np.ndarray,
        trials: np.ndarray,
        *,
        use_behavior: bool = True,
        use_eye_position: bool = True,
    ) -> np.ndarray:
        """Compute the expected responses to images shown on some trials.

        Parameters
        ----------
        images
            ``(B, 1, height, width)`` values 0..255.
        trials
            File indices of the trials (their behaviour and eye position apply).
        use_behavior
            Apply the behavioural gain (False: the gain at average behaviour).
        use_eye_position
            Shift receptive fields by the eye position (False: eye at rest).

        Returns
        -------
        numpy.ndarray
            ``(B, n)`` float32.
        """
        frames = self._model_frames(images)
        if use_eye_position:
            frames = shift_frames(frames, self.behavior.eye_shift[trials])
        drive = self.model.drive(*self.model.linear(frames))
        return self.model.rate(drive, self.log_gain(trials) if use_behavior else None)

    def responses(self, rates: np.ndarray, trials: np.ndarray, chunk_id: int) -> np.ndarray:
        """Noisy responses of some trials given their expected rates.

        Parameters
        ----------
        rates
            ``(B, n)`` from :meth:`rates`.
        trials
            File indices of the trials.
        chunk_id
            Identifies the random stream (one per chunk).

        Returns
        -------
        numpy.ndarray
            ``(B, n)`` float32, >= 0.
        """
        pop = self.population
        rng = rng_for(self.seed, STREAM_NOISE, self.mouse, chunk_id)
        return sample_responses(
            rng, rates * self.shared_gain[trials, None], pop.noise * pop.mean_rate
        )
