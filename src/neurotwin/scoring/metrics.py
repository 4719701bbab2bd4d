"""The benchmark's metrics, vectorised over neurons."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from neurotwin.stats import EPS, correlation

#: Video trials: the first frames every model may get wrong while it warms up are not scored.
SKIP_FRAMES = 50
#: Video trials: frames from this index on are not scored (trials are about 300 frames).
STOP_FRAME = 300
#: Only neurons whose fraction of explainable variance reaches this enter the FEVE mean.
FEV_THRESHOLD = 0.15


def mean_over_neurons(values: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Average per-neuron values, optionally over the neurons selected by ``mask``.

    Parameters
    ----------
    values
        One value per neuron.
    mask
        Boolean selection of neurons; all when None.

    Returns
    -------
    float
        The mean, NaN when no neuron is selected.
    """
    values = np.asarray(values, dtype=np.float64)
    if mask is not None:
        values = values[np.asarray(mask, dtype=bool)]
    return float(values.mean()) if values.size else float("nan")


# ---------------------------------------------------------------------- grouping by stimulus
def _groups(stimulus_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return each trial's group index and each group's size."""
    _, inverse, counts = np.unique(
        np.asarray(stimulus_ids), return_inverse=True, return_counts=True
    )
    return inverse.ravel().astype(np.int64), counts.astype(np.int64)


def _group_sums(x: np.ndarray, inverse: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum the rows of ``x`` per group (every group non-empty), vectorised."""
    order = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[order], np.arange(n_groups))
    return np.add.reduceat(x[order], starts, axis=0)


def group_means(x: np.ndarray, stimulus_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average trials over the repeats of each stimulus.

    Parameters
    ----------
    x
        ``(n_trials, ...)``.
    stimulus_ids
        ``(n_trials,)`` the stimulus (image or video) shown in each trial.

    Returns
    -------
    means : numpy.ndarray
        ``(n_stimuli, ...)`` float64, stimuli in sorted id order.
    counts : numpy.ndarray
        Repeats of each stimulus.
    """
    x = np.asarray(x, dtype=np.float64)
    inverse, counts = _groups(stimulus_ids)
    sums = _group_sums(x, inverse, len(counts))
    return sums / counts.reshape((-1,) + (1,) * (x.ndim - 1)), counts


# ---------------------------------------------------------------------- static (2022)
def single_trial_correlation(prediction: np.ndarray, responses: np.ndarray) -> np.ndarray:
    """Per-neuron correlation between prediction and response over all trials.

    Parameters
    ----------
    prediction, responses
        ``(n_trials, n_neurons)``.

    Returns
    -------
    numpy.ndarray
        ``(n_neurons,)``; NaN counts as 0.
    """
    return correlation(prediction, responses, axis=0)


def correlation_to_average(
    prediction: np.ndarray, responses: np.ndarray, stimulus_ids: np.ndarray
) -> np.ndarray:
    """Per-neuron correlation, over stimuli, of the repeat-averaged prediction and response.

    Parameters
    ----------
    prediction, responses
        ``(n_trials, n_neurons)``.
    stimulus_ids
        ``(n_trials,)`` ``frame_image_id`` of each trial.

    Returns
    -------
    numpy.ndarray
        ``(n_neurons,)``; NaN counts as 0.
    """
    pred_mean, _ = group_means(prediction, stimulus_ids)
    resp_mean, _ = group_means(responses, stimulus_ids)
    return correlation(pred_mean, resp_mean, axis=0)


def _variances(
    responses: np.ndarray, stimulus_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the total variance, the noise variance and the groups' inverse index.

    The noise variance averages the repeat variance (ddof 1) of the stimuli shown at least
    twice: a single repeat has no variance estimate and is left out of that mean (it still
    counts in the total variance). With no repeated stimulus at all it is NaN.
    """
    r = np.asarray(responses, dtype=np.float64)
    inverse, counts = _groups(stimulus_ids)
    with np.errstate(invalid="ignore", divide="ignore"):
        total_var = np.var(r, axis=0, ddof=1) if len(r) > 1 else np.full(r.shape[1:], np.nan)
        means = _group_sums(r, inverse, len(counts)) / counts[:, None]
        sq = _group_sums((r - means[inverse]) ** 2, inverse, len(counts))
        repeated = counts >= 2
        if repeated.any():
            noise_var = np.mean(sq[repeated] / (counts[repeated, None] - 1), axis=0)
        else:
            noise_var = np.full(r.shape[1:], np.nan)
    return total_var, noise_var, inverse


def explainable_variance(responses: np.ndarray, stimulus_ids: np.ndarray) -> np.ndarray:
    """Per-neuron fraction of explainable variance, ``FEV = (total - noise) / total``.

    Parameters
    ----------
    responses
        ``(n_trials, n_neurons)``.
    stimulus_ids
        ``(n_trials,)`` the image of each trial.

    Returns
    -------
    numpy.ndarray
        ``(n_neurons,)``; NaN for a constant neuron (zero total variance) or when no stimulus
        is repeated.
    """
    total_var, noise_var, _ = _variances(responses, stimulus_ids)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total_var - noise_var) / total_var


def feve(
    prediction: np.ndarray,
    responses: np.ndarray,
    stimulus_ids: np.ndarray,
    fev_threshold: float = FEV_THRESHOLD,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron fraction of explainable variance explained.

    ``FEVE = 1 - (pred_var - noise_var) / (total_var - noise_var)`` with ``pred_var`` the
    mean squared error over trials (spec/metrics.md).

    Parameters
    ----------
    prediction, responses
        ``(n_trials, n_neurons)``, in the standardised unit.
    stimulus_ids
        ``(n_trials,)`` the image of each trial.
    fev_threshold
        Neurons with ``FEV >= fev_threshold`` are the ones that count.

    Returns
    -------
    feve : numpy.ndarray
        ``(n_neurons,)``, NaN where undefined.
    selected : numpy.ndarray
        Boolean ``(n_neurons,)``: the neurons that enter the mean (``FEV >= threshold``).
    """
    p = np.asarray(prediction, dtype=np.float64)
    r = np.asarray(responses, dtype=np.float64)
    if p.shape != r.shape:
        raise ValueError(f"shapes differ: {p.shape} and {r.shape}")
    total_var, noise_var, _ = _variances(r, stimulus_ids)
    pred_var = np.mean((r - p) ** 2, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        fev = (total_var - noise_var) / total_var
        values = 1.0 - (pred_var - noise_var) / (total_var - noise_var)
        selected = fev >= fev_threshold
    return values, selected


def oracle_correlation(responses: np.ndarray, stimulus_ids: np.ndarray) -> np.ndarray:
    """Per-neuron leave-one-out oracle correlation: the ceiling that repeats give.

    Each trial's response is paired with the mean of the other repeats of its stimulus;
    the pairs of all trials whose stimulus is repeated are pooled into one correlation.

    Parameters
    ----------
    responses
        ``(n_trials, n_neurons)``.
    stimulus_ids
        ``(n_trials,)``.

    Returns
    -------
    numpy.ndarray
        ``(n_neurons,)``; 0 when no stimulus is repeated.
    """
    r = np.asarray(responses, dtype=np.float64)
    inverse, counts = _groups(stimulus_ids)
    keep = counts[inverse] >= 2
    if not keep.any():
        return np.zeros(r.shape[1:], dtype=np.float64)
    sums = _group_sums(r, inverse, len(counts))
    others = (sums[inverse[keep]] - r[keep]) / (counts[inverse[keep]] - 1)[:, None]
    return correlation(r[keep], others, axis=0)


# ---------------------------------------------------------------------- video (2023)
def scored_frames(lengths: np.ndarray | int) -> np.ndarray:
    """Return the number of scored frames of trials of the given true lengths.

    Parameters
    ----------
    lengths
        True trial lengths (index of the first NaN frame).

    Returns
    -------
    numpy.ndarray
        ``max(0, min(length, 300) - 50)``, int64.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.maximum(np.minimum(lengths, STOP_FRAME) - SKIP_FRAMES, 0)


def stack_scored_frames(array: np.ndarray) -> np.ndarray:
    """Concatenate the scored frames of NaN-padded video trials.

    Parameters
    ----------
    array
        ``(trials, n, T)`` NaN-padded values (release layout: frames last).

    Returns
    -------
    numpy.ndarray
        ``(frames, n)`` float64: frames :data:`SKIP_FRAMES` to :data:`STOP_FRAME` (exclusive)
        of every trial, those holding a NaN (padding past a trial's end) dropped.
    """
    window = np.asarray(array[:, :, SKIP_FRAMES:STOP_FRAME], dtype=np.float64)
    frames = window.transpose(0, 2, 1).reshape(-1, window.shape[1])
    return frames[~np.isnan(frames).any(axis=1)]


#: Values (neurons x frames) of one block of neurons in the video metrics' work: each
#: neuron's arithmetic is the same whichever block holds it, and blocks of 512 KiB as
#: float64 stay in the CPU cache and reuse freed memory instead of new pages of the kernel
#: (a full-size trial, 8,000 neurons x 250 frames, is 16 MB as float64).
BLOCK_VALUES = 1 << 16


def neuron_blocks(n_neurons: int, frames: int) -> list[slice]:
    """Split ``n_neurons`` rows of ``frames`` values into blocks of about :data:`BLOCK_VALUES`.

    Parameters
    ----------
    n_neurons
        Rows (neurons).
    frames
        Values per row.

    Returns
    -------
    list of slice
        Consecutive slices covering ``range(n_neurons)`` (none when it is empty).
    """
    rows = max(1, BLOCK_VALUES // max(frames, 1))
    return [slice(i, min(i + rows, n_neurons)) for i in range(0, n_neurons, rows)]


class PooledCorrelation:
    """Per-neuron correlation over the frames of trials that arrive one at a time.

    Each trial's frames are centred on the trial's own means and its sums of squares and
    products are merged into the running ones (Chan, Golub and LeVeque 1979, the pairwise
    update of means and centred sums), so the result is the formula of :func:`correlation`
    on all frames concatenated, without holding them: memory is a few ``(n_neurons,)``
    vectors whatever the number of trials, and trials may come in any order. A trial is
    worked through by blocks of neurons (:func:`neuron_blocks`; each neuron's arithmetic is
    that of the whole trial at once).

    Parameters
    ----------
    n_neurons
        Neurons (rows of every trial).
    eps
        Added to each standard deviation, as in :func:`correlation`.
    """

    def __init__(self, n_neurons: int, eps: float = EPS) -> None:
        self.eps = eps
        self.n = 0
        self.mean_x, self.mean_y = np.zeros(n_neurons), np.zeros(n_neurons)
        self.sxx, self.syy, self.sxy = np.zeros(n_neurons), np.zeros(n_neurons), np.zeros(n_neurons)

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        """Pool one trial: ``x`` and ``y`` are ``(n_neurons, frames)``."""
        frames = x.shape[1]
        if frames == 0:
            return
        n = self.n + frames
        weight = self.n * frames / n
        blocks = neuron_blocks(x.shape[0], frames)
        work = np.empty((2, blocks[0].stop - blocks[0].start if blocks else 0, frames))
        for b in blocks:
            xc, yc = work[0, : b.stop - b.start], work[1, : b.stop - b.start]
            np.copyto(xc, x[b])  # float64 copies, centred in place
            np.copyto(yc, y[b])
            mx, my = xc.mean(axis=1), yc.mean(axis=1)
            xc -= mx[:, None]
            yc -= my[:, None]
            dx, dy = mx - self.mean_x[b], my - self.mean_y[b]
            self.sxx[b] += np.einsum("ij,ij->i", xc, xc) + dx * dx * weight
            self.syy[b] += np.einsum("ij,ij->i", yc, yc) + dy * dy * weight
            self.sxy[b] += np.einsum("ij,ij->i", xc, yc) + dx * dy * weight
            self.mean_x[b] += dx * (frames / n)
            self.mean_y[b] += dy * (frames / n)
        self.n = n

    def result(self) -> np.ndarray:
        """Return the per-neuron correlation so far (0 without frames; NaN counts as 0)."""
        if self.n == 0:
            return np.zeros(len(self.sxx))
        n, eps = self.n, self.eps
        with np.errstate(invalid="ignore"):
            corr = (self.sxy / n) / ((np.sqrt(self.sxx / n) + eps) * (np.sqrt(self.syy / n) + eps))
        return np.nan_to_num(corr, nan=0.0)


class VideoAccumulator(Protocol):
    """A video metric of one tier, fed one predicted trial at a time (any order).

    ``add(k, prediction)`` takes the truth's trial ``k``: ``(n_neurons, F)`` predictions of
    its scored frames in the truth's neuron order (at least ``n_frames[k]`` of them);
    ``result()`` returns the per-neuron values once every trial was added.
    """

    def add(self, k: int, prediction: np.ndarray) -> None:
        """Take the prediction of trial ``k``."""

    def result(self) -> np.ndarray:
        """Return the per-neuron values."""


class VideoCorrelation:
    """:func:`video_correlation` of one tier, fed trial by trial (a :class:`VideoAccumulator`).

    Parameters
    ----------
    responses
        ``(n_trials, n_neurons, F)`` scored frames of the truth.
    n_frames
        ``(n_trials,)`` scored frames per trial.
    """

    def __init__(self, responses: np.ndarray, n_frames: np.ndarray) -> None:
        self.responses = responses
        self.frames = np.clip(np.asarray(n_frames, dtype=np.int64), 0, responses.shape[2])
        self.pooled = PooledCorrelation(responses.shape[1])

    def add(self, k: int, prediction: np.ndarray) -> None:
        """Pool trial ``k``'s scored frames."""
        f = int(self.frames[k])
        self.pooled.add(prediction[:, :f], self.responses[k, :, :f])

    def result(self) -> np.ndarray:
        """Return the per-neuron correlation over every scored frame added."""
        return self.pooled.result()


class VideoCorrelationToAverage:
    """:func:`video_correlation_to_average` of one tier, fed trial by trial.

    Keeps one running sum of the predictions per repeated video (``(n_neurons, frames)``
    float64, the frames all its repeats share) until its last repeat arrives, then only that
    video's per-neuron correlation; other trials are not needed. Fed in the truth's trial
    order (or any order that keeps a video's repeats close), few sums are open at once.

    Parameters
    ----------
    responses
        ``(n_trials, n_neurons, F)`` scored frames of the truth.
    n_frames
        ``(n_trials,)`` scored frames per trial.
    stimulus_ids
        ``(n_trials,)`` the video shown in each trial.
    """

    def __init__(self, responses: np.ndarray, n_frames: np.ndarray, stimulus_ids: np.ndarray):
        self.responses = responses
        self.videos = _repeated_videos(stimulus_ids, n_frames)
        self.video_of = {int(k): g for g, (trials, _) in enumerate(self.videos) for k in trials}
        self.sums: dict[int, np.ndarray] = {}
        self.seen: dict[int, int] = {}
        self.done: dict[int, np.ndarray] = {}

    def add(self, k: int, prediction: np.ndarray) -> None:
        """Add trial ``k`` to its video's sum (trials of videos shown once are not needed)."""
        g = self.video_of.get(int(k))
        if g is None:
            return
        trials, frames = self.videos[g]
        if g in self.sums:
            self.sums[g] += prediction[:, :frames]
        else:
            self.sums[g] = np.array(prediction[:, :frames], dtype=np.float64)
        self.seen[g] = self.seen.get(g, 0) + 1
        if self.seen[g] == len(trials):  # every repeat is in: correlate, drop the sum
            total = self.sums.pop(g)
            self.done[g] = np.concatenate(
                [
                    correlation(
                        total[b] / len(trials),
                        self.responses[trials, b, :frames].mean(axis=0, dtype=np.float64),
                        axis=1,
                    )
                    for b in neuron_blocks(*total.shape)
                ]
                or [np.zeros(0)]
            )

    def result(self) -> np.ndarray:
        """Return the per-neuron mean over videos (NaN for every neuron without repeats)."""
        if not self.videos:
            return np.full(self.responses.shape[1], np.nan)
        if len(self.done) < len(self.videos):
            raise ValueError("not every repeat of every repeated video was added")
        return np.mean([self.done[g] for g in range(len(self.videos))], axis=0)


def feed_trials(accumulator: VideoAccumulator, prediction: np.ndarray) -> np.ndarray:
    """Add every trial of ``(n_trials, n_neurons, F)`` predictions; return the result."""
    for k in range(prediction.shape[0]):
        accumulator.add(k, prediction[k])
    return accumulator.result()


def video_correlation(
    prediction: np.ndarray, responses: np.ndarray, n_frames: np.ndarray
) -> np.ndarray:
    """Per-neuron single-trial correlation of one recording's video trials.

    Parameters
    ----------
    prediction, responses
        ``(n_trials, n_neurons, F)``: the scored frames of each trial (frames 50 up to the
        trial's end or frame 300), starting at index 0; anything past ``n_frames`` is ignored.
    n_frames
        ``(n_trials,)`` scored frames per trial (:func:`scored_frames`).

    Returns
    -------
    numpy.ndarray
        ``(n_neurons,)``: correlation over all scored frames of all trials concatenated; NaN
        counts as 0.
    """
    if prediction.shape != responses.shape:
        raise ValueError(f"shapes differ: {prediction.shape} and {responses.shape}")
    return feed_trials(VideoCorrelation(responses, n_frames), prediction)


def _repeated_videos(
    stimulus_ids: np.ndarray, n_frames: np.ndarray
) -> list[tuple[np.ndarray, int]]:
    """Trials of every video shown at least twice, with the frames all repeats share."""
    ids = np.asarray(stimulus_ids)
    out = []
    inverse, counts = _groups(ids)
    for g in np.flatnonzero(counts >= 2):
        trials = np.flatnonzero(inverse == g)
        out.append((trials, int(np.min(np.asarray(n_frames)[trials]))))
    return out


def video_correlation_to_average(
    prediction: np.ndarray,
    responses: np.ndarray,
    n_frames: np.ndarray,
    stimulus_ids: np.ndarray,
) -> np.ndarray:
    """Per-neuron correlation to average over the repeated videos of one recording.

    Responses and predictions are averaged over the repeats of each video (on the frames all
    its repeats have), correlated per neuron over time, then averaged over videos.

    Parameters
    ----------
    prediction, responses
        ``(n_trials, n_neurons, F)`` scored frames, as for :func:`video_correlation`.
    n_frames
        ``(n_trials,)`` scored frames per trial.
    stimulus_ids
        ``(n_trials,)`` the video shown in each trial.

    Returns
    -------
    numpy.ndarray
        ``(n_neurons,)``; NaN for every neuron when no video is repeated.
    """
    accumulator = VideoCorrelationToAverage(responses, n_frames, stimulus_ids)
    return feed_trials(accumulator, prediction)


def video_oracle_correlation(
    responses: np.ndarray, n_frames: np.ndarray, stimulus_ids: np.ndarray
) -> np.ndarray:
    """Per-neuron leave-one-out oracle correlation of one recording's repeated videos.

    Each repeat's scored frames are paired with the mean of the other repeats of the same
    video, frame by frame, and all pairs are pooled into one correlation per neuron.

    Parameters
    ----------
    responses
        ``(n_trials, n_neurons, F)`` scored frames.
    n_frames
        ``(n_trials,)`` scored frames per trial.
    stimulus_ids
        ``(n_trials,)`` the video shown in each trial.

    Returns
    -------
    numpy.ndarray
        ``(n_neurons,)``; 0 when no video is repeated.
    """
    videos = _repeated_videos(stimulus_ids, n_frames)
    if not videos:
        return np.zeros(responses.shape[1])
    # by blocks of neurons, each repeat against the mean of the other repeats
    out = []
    for b in neuron_blocks(responses.shape[1], responses.shape[2]):
        pooled = PooledCorrelation(b.stop - b.start)
        for group, frames in videos:
            total = responses[group, b, :frames].sum(axis=0, dtype=np.float64)
            for k in group:
                own = responses[k, b, :frames]
                others = np.subtract(total, own, dtype=np.float64)
                others /= len(group) - 1
                pooled.add(own, others)
        out.append(pooled.result())
    return np.concatenate(out) if out else np.zeros(0)
