"""Alignment of parsed predictions to the ground truth by id.

Reading never trusts the order of rows or neurons: :func:`align_static` and
:func:`align_video` align them to the ground truth by trial and unit id and report every
problem found (up to a limit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurotwin.scoring.errors import ProblemList, quote
from neurotwin.scoring.predictions import StaticPredictions, VideoPredictions
from neurotwin.scoring.truth import MouseTruth, TierTruth, Truth
from neurotwin.scoring.video_parquet import VideoIndex


# ---------------------------------------------------------------------- alignment
def _neuron_order(
    submitted: np.ndarray, truth_ids: np.ndarray, where: str, problems: ProblemList
) -> np.ndarray | None:
    """Return the positions of the truth's neurons in the submitted order, or None."""
    submitted = np.asarray(submitted, dtype=np.int64)
    truth_ids = np.asarray(truth_ids, dtype=np.int64)
    unknown = np.setdiff1d(submitted, truth_ids)
    absent = np.setdiff1d(truth_ids, submitted)
    if unknown.size:
        problems.add(
            where,
            f"{unknown.size} unknown neuron id(s) (e.g. {unknown[:5].tolist()}) not in the "
            "ground truth",
        )
    if absent.size:
        problems.add(where, f"{absent.size} neuron id(s) missing (e.g. {absent[:5].tolist()})")
    if unknown.size or absent.size:
        return None
    order = np.argsort(submitted, kind="stable")
    return order[np.searchsorted(submitted[order], truth_ids)]


def _file_key(text: str) -> str | None:
    """Return the file index a trial id names (``11``, ``'11'``, ``'11.npy'``), or None."""
    stem = text[:-4] if text.endswith(".npy") else text
    return str(int(stem)) if stem.isascii() and stem.isdigit() else None


def _trial_keys(
    submitted: np.ndarray, truth: TierTruth, where: str, problems: ProblemList
) -> tuple[list[str], str]:
    """Translate submitted trial ids to the truth's ``trial_idx`` values.

    Two conventions exist: ``meta/trials/trial_idx`` values (neurotwin, the 2022 kit) and
    the trial's file index, as a number or a file name ``N.npy`` (the 2023 kit). The
    convention that every submitted id fits is used; when both fit, ``trial_idx``; when
    neither fits, the one more ids fit, and a problem says how many fit each.

    Returns
    -------
    tuple
        The ids as ``trial_idx`` values (unmatched ids unchanged) and the convention used.
    """
    ids = [str(t).strip() for t in submitted.tolist()]
    by_trial = set(truth.trial_ids.tolist())
    if truth.file_indices is None:
        return ids, "trial_idx"
    by_file = {
        str(int(f)): t
        for f, t in zip(truth.file_indices.tolist(), truth.trial_ids.tolist(), strict=True)
    }
    keys = [_file_key(t) for t in ids]
    n_trial = sum(t in by_trial for t in ids)
    n_file = sum(k is not None and k in by_file for k in keys)
    named = any(t.endswith(".npy") for t in ids)
    if n_trial == len(ids) and not named:
        return ids, "trial_idx"
    if n_file == len(ids) or (n_file > n_trial) or named:
        if n_file < len(ids):
            problems.add(
                where,
                f"trial_indices fit neither convention: {n_file} of {len(ids)} are file "
                f"indices of this tier's trials (the 2023 kit's 'N.npy' / N), {n_trial} are "
                "its meta/trials/trial_idx values",
            )
        out = [
            by_file[k] if k is not None and k in by_file else t
            for t, k in zip(ids, keys, strict=True)
        ]
        return out, "file_index"
    if n_trial < len(ids):
        problems.add(
            where,
            f"trial_indices fit neither convention: {n_trial} of {len(ids)} are "
            f"meta/trials/trial_idx values of this tier, {n_file} are file indices of its "
            "trials (the 2023 kit's 'N.npy' / N)",
        )
    return ids, "trial_idx"


def _trial_order(
    submitted: np.ndarray,
    truth: TierTruth,
    where_row: object,
    where: str,
    problems: ProblemList,
) -> tuple[np.ndarray, bool]:
    """Return each truth trial's row (-1: none) and whether all are predicted once.

    Extra, duplicated and missing trials are reported; ids may follow either trial-id
    convention (:func:`_trial_keys`).
    """
    assert callable(where_row)
    truth_ids = np.asarray(truth.trial_ids).astype(str)
    keys, convention = _trial_keys(np.asarray(submitted), truth, where, problems)
    raw = [str(t) for t in np.asarray(submitted).tolist()]
    lookup = {t: k for k, t in enumerate(truth_ids.tolist())}
    rows = np.full(len(truth_ids), -1, dtype=np.int64)
    ok = True
    what = "trial_idx value" if convention == "trial_idx" else "file index"
    for r, t in enumerate(keys):
        k = lookup.get(t)
        if k is None:
            problems.add(
                where_row(r),
                f"trial {quote(raw[r])} is not a scored trial of this tier (extra); read as a "
                f"{what}",
            )
            ok = False
        elif rows[k] >= 0:
            problems.add(
                where_row(r),
                f"trial {quote(raw[r])} is duplicated (first predicted at {where_row(rows[k])})",
            )
            ok = False
        else:
            rows[k] = r
    missing = truth_ids[rows < 0]
    if missing.size:
        problems.add(
            where,
            f"{missing.size} trial(s) of the tier are missing (e.g. trial_idx "
            f"{missing[:5].tolist()})",
        )
        ok = False
    return rows, ok


def align_static(
    predictions: StaticPredictions,
    mouse: MouseTruth,
    tier: str,
    name: str,
    problems: ProblemList,
) -> np.ndarray | None:
    """Align a 2022 file to the ground truth of one tier.

    Parameters
    ----------
    predictions
        The parsed file.
    mouse
        The ground truth of the recording.
    tier
        The scored tier the file predicts.
    name
        How messages name the file.
    problems
        Where problems are recorded.

    Returns
    -------
    numpy.ndarray or None
        ``(n_trials, n_neurons)`` in the truth's trial and neuron order; None on problems.
    """
    truth = mouse.tiers[tier]
    neurons = _neuron_order(predictions.neuron_ids, mouse.unit_ids, f"{name} neuron_ids", problems)
    rows, complete = _trial_order(
        predictions.trial_ids,
        truth,
        lambda r: f"{name} line {r + 2}",
        name,
        problems,
    )
    found = np.flatnonzero(rows >= 0)
    wrong = found[predictions.image_ids[rows[found]] != truth.stimulus_ids[found]]
    for k in wrong[: problems.limit]:
        problems.add(
            f"{name} line {rows[k] + 2}",
            f"image_ids is {quote(predictions.image_ids[rows[k]])} but trial "
            f"{str(truth.trial_ids[k])!r} showed image {str(truth.stimulus_ids[k])!r}",
        )
    if neurons is None or not complete or wrong.size:
        return None
    return predictions.values[rows][:, neurons]


@dataclass
class VideoPlan:
    """Where one mouse's aligned predictions are in a 2023 file.

    Attributes
    ----------
    rows
        ``(n_trials,)`` the file row predicting each of the truth's trials, in its order.
    neurons
        ``(n_neurons,)`` the position in those rows of each of the truth's neurons.
    n_frames
        ``(n_trials,)`` the scored frames taken from each row.
    """

    rows: np.ndarray
    neurons: np.ndarray
    n_frames: np.ndarray
    #: Whether ``neurons`` is the identity: rows are then read in place, not copied.
    in_order: bool = field(init=False)

    def __post_init__(self) -> None:
        self.in_order = bool(np.array_equal(self.neurons, np.arange(len(self.neurons))))

    def take(self, k: int, row: np.ndarray) -> np.ndarray:
        """Return trial ``k``'s ``(n_neurons, n_frames[k])`` predictions from its row.

        A view of ``row`` when its neurons are in the truth's order, else a copy.
        """
        frames = int(self.n_frames[k])
        if self.in_order and row.shape[0] == len(self.neurons):
            return row[:, :frames]
        return row[self.neurons, :frames]


def video_index(predictions: VideoPredictions) -> VideoIndex:
    """Return the index (everything but the values) of predictions held in memory."""
    frames = [np.shape(v)[1] if np.ndim(v) == 2 else 0 for v in predictions.values]
    return VideoIndex(
        mice=predictions.mice,
        trial_ids=predictions.trial_ids,
        neuron_ids=predictions.neuron_ids,
        frames=np.asarray(frames, dtype=np.int64),
    )


def plan_video(
    index: VideoIndex, truth: Truth, tier: str, name: str, problems: ProblemList
) -> dict[str, VideoPlan] | None:
    """Align a 2023 file to the ground truth of one tier from its index, mouse by mouse.

    Parameters
    ----------
    index
        The file's rows without their values (:func:`video_index`,
        :func:`~neurotwin.scoring.video_parquet.scan_video_parquet`).
    truth
        The track's ground truth.
    tier
        The scored tier the file predicts.
    name
        How messages name the file.
    problems
        Where problems are recorded.

    Returns
    -------
    dict or None
        Per mouse name, where its predictions are; None when ``problems`` holds any.
    """
    known = {m.name for m in truth.mice}
    submitted = set(index.mice.tolist())
    unknown = sorted(submitted - known)
    if unknown and not (submitted & known):
        problems.add(
            name,
            f"names mice {[quote(u) for u in unknown[:5]]} but the ground truth holds "
            f"{sorted(known)}: "
            "a file of another track or release?",
        )
        return None
    for r in np.flatnonzero(~np.isin(index.mice, list(known)))[: problems.limit]:
        problems.add(f"{name} row {r}", f"mouse {quote(index.mice[r])} is not scored here")
    out: dict[str, VideoPlan] = {}
    for mouse in truth.mice:
        t = mouse.tiers[tier]
        assert t.n_frames is not None and t.lengths is not None
        sel = np.flatnonzero(index.mice == mouse.name)
        if sel.size == 0:
            problems.add(name, f"mouse {mouse.name} has no predictions")
            continue
        neurons = _neuron_order(
            index.neuron_ids.get(mouse.name, np.zeros(0, np.int64)),
            mouse.unit_ids,
            f"{name} neuron_ids of mouse {mouse.name}",
            problems,
        )
        rows, complete = _trial_order(
            index.trial_ids[sel],
            t,
            lambda r, s=sel: f"{name} row {s[r]}",
            f"{name} mouse {mouse.name}",
            problems,
        )
        if t.ood_class is not None and (rows >= 0).any():
            _report_missing_classes(rows, t.ood_class, f"{name} mouse {mouse.name}", problems)
        for k in np.flatnonzero(rows >= 0):
            r = sel[rows[k]]
            frames = int(index.frames[r])
            if frames == 0:
                problems.add(
                    f"{name} row {r}", f"trial {str(t.trial_ids[k])!r} has no predicted frames"
                )
                continue
            need, most = int(t.n_frames[k]), max(int(t.lengths[k]) - 50, int(t.n_frames[k]))
            if not need <= frames <= most:
                expected = f"{need}" if need == most else f"{need}..{most}"
                problems.add(
                    f"{name} row {r}",
                    f"trial {str(t.trial_ids[k])!r} has {frames} frames per neuron, expected "
                    f"{expected} (its {int(t.lengths[k])} frames minus the first 50)",
                )
        if neurons is not None and complete:
            out[mouse.name] = VideoPlan(sel[rows], neurons, np.asarray(t.n_frames, np.int64))
    return None if len(problems) else out


def align_video(
    predictions: VideoPredictions,
    truth: Truth,
    tier: str,
    name: str,
    problems: ProblemList,
) -> dict[str, np.ndarray] | None:
    """Align a 2023 file held in memory to the ground truth of one tier, mouse by mouse.

    Parameters
    ----------
    predictions
        The parsed file.
    truth
        The track's ground truth.
    tier
        The scored tier the file predicts.
    name
        How messages name the file.
    problems
        Where problems are recorded.

    Returns
    -------
    dict or None
        Per mouse name, ``(n_trials, n_neurons, F)`` scored frames in the truth's order
        (NaN past each trial's scored frames); None on problems.
    """
    plans = plan_video(video_index(predictions), truth, tier, name, problems)
    if plans is None:
        return None
    out: dict[str, np.ndarray] = {}
    for mouse in truth.mice:
        plan = plans[mouse.name]
        aligned = np.full(mouse.tiers[tier].responses.shape, np.nan, dtype=np.float32)
        for k, r in enumerate(plan.rows.tolist()):
            aligned[k, :, : plan.n_frames[k]] = plan.take(k, np.asarray(predictions.values[r]))
        out[mouse.name] = aligned
    return out


def _report_missing_classes(
    rows: np.ndarray, ood_class: np.ndarray, where: str, problems: ProblemList
) -> None:
    """Name every stimulus class none of whose trials is predicted (the bonus track)."""
    classes = np.asarray(ood_class).astype(str)
    for c in sorted(set(classes.tolist())):
        of_class = classes == c
        if not (rows[of_class] >= 0).any():
            problems.add(
                where,
                f"no trial of stimulus class {c!r} is predicted (its {int(of_class.sum())} "
                "trial(s) are missing); every class is scored",
            )
