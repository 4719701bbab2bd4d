"""Score a submission against a track's ground truth: raw values, ceilings and fractions."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.data.problems import Problem
from neurotwin.scoring import metrics as m
from neurotwin.scoring.ceilings import repeat_ceiling, tier_explainable_variance
from neurotwin.scoring.errors import ProblemList, SubmissionError, TruthError
from neurotwin.scoring.submission import (
    StaticPredictions,
    VideoPredictions,
    align_static,
    align_video,
    max_upload_bytes,
    open_upload,
    read_static_csv,
    read_video_parquet,
)
from neurotwin.scoring.tracks import FEVE, PHASES, SINGLE_TRIAL, TO_AVERAGE, Track, get_track
from neurotwin.scoring.truth import TierTruth, Truth, load_truth, make_truth


@dataclass
class MetricScore:
    """One metric on one phase.

    Attributes
    ----------
    name
        The metric.
    value
        The raw score: mean over neurons (pooled over mice for video).
    per_neuron
        Per mouse, the per-neuron values.
    per_mouse
        Per mouse, the mean over its neurons.
    ceiling
        The mean ceiling over the same neurons, or None when no ceiling is known.
    ceiling_kind
        ``"exact"`` (simulator rates) or ``"oracle"`` (repeats), or None.
    ceiling_per_neuron
        Per mouse, the per-neuron ceiling, or None.
    per_class
        Bonus track: the score on each out-of-domain class.
    selected
        FEVE: per mouse, the neurons that enter the mean (``FEV >= 0.15``).
    """

    name: str
    value: float
    per_neuron: dict[str, np.ndarray]
    per_mouse: dict[str, float]
    ceiling: float | None = None
    ceiling_kind: str | None = None
    ceiling_per_neuron: dict[str, np.ndarray] | None = None
    per_class: dict[str, float] = field(default_factory=dict)
    selected: dict[str, np.ndarray] | None = None

    @property
    def normalized(self) -> float | None:
        """The raw score as a fraction of its ceiling (ratio of the means), or None."""
        if self.ceiling is None or not np.isfinite(self.ceiling) or self.ceiling == 0:
            return None
        return self.value / self.ceiling

    def to_dict(self, per_neuron: bool = False) -> dict[str, Any]:
        """Describe the score as JSON-ready data (per-neuron lists on request)."""
        out: dict[str, Any] = {
            "value": _num(self.value),
            "ceiling": _num(self.ceiling),
            "ceiling_kind": self.ceiling_kind,
            "normalized": _num(self.normalized),
            "per_mouse": {k: _num(v) for k, v in self.per_mouse.items()},
        }
        if self.per_class:
            out["per_class"] = {k: _num(v) for k, v in self.per_class.items()}
        if per_neuron:
            out["per_neuron"] = {k: [_num(x) for x in v] for k, v in self.per_neuron.items()}
        return out


@dataclass
class PhaseScore:
    """Every metric of one phase (live or final).

    Attributes
    ----------
    phase
        ``"live"`` or ``"final"``.
    tier
        The recording tier scored.
    metrics
        By metric name, ranking metric first.
    extras
        Data-only bounds: mean oracle correlation and explainable variance.
    """

    phase: str
    tier: str
    metrics: dict[str, MetricScore]
    extras: dict[str, float] = field(default_factory=dict)


@dataclass
class ScoreReport:
    """A submission's scores on a track.

    Attributes
    ----------
    track
        The track identifier.
    track_version
        Its version.
    ranking_metric
        The metric leaderboards sort by.
    phases
        By phase, the scores of the phases the submission holds.
    """

    track: str
    track_version: str
    ranking_metric: str
    phases: dict[str, PhaseScore]

    def table(self) -> str:
        """Return the scores as a text table: raw, ceiling and fraction of each metric."""

        def fmt(x: float | None) -> str:
            return f"{'-':>8}" if x is None else f"{x:8.4f}"

        lines = [
            f"track {self.track} v{self.track_version} (ranked by {self.ranking_metric})",
            f"  {'phase':<6} {'metric':<26} {'raw':>8} {'ceiling':>8} {'fraction':>8}  kind",
        ]
        for phase, ps in self.phases.items():
            for name, ms in ps.metrics.items():
                lines.append(
                    f"  {phase:<6} {name:<26} {fmt(ms.value)} {fmt(ms.ceiling)} "
                    f"{fmt(ms.normalized)}  {ms.ceiling_kind or '-'}"
                )
                if len(ms.per_mouse) > 1:
                    lines += [f"  {'':<6}   {m:<24} {fmt(v)}" for m, v in ms.per_mouse.items()]
                lines += [f"  {'':<6}   class {c:<18} {fmt(v)}" for c, v in ms.per_class.items()]
            lines += [f"  {phase:<6} {n:<26} {fmt(v)}  (data bound)" for n, v in ps.extras.items()]
        return "\n".join(lines)

    def to_dict(self, per_neuron: bool = False) -> dict[str, Any]:
        """Describe the report as JSON-ready data."""
        return {
            "track": self.track,
            "track_version": self.track_version,
            "ranking_metric": self.ranking_metric,
            "phases": {
                p: {
                    "tier": s.tier,
                    "metrics": {k: v.to_dict(per_neuron) for k, v in s.metrics.items()},
                    "data_bounds": {k: _num(v) for k, v in s.extras.items()},
                }
                for p, s in self.phases.items()
            },
        }


def _num(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


# ---------------------------------------------------------------------- the metrics per track
def _combine(
    name: str,
    per_neuron: dict[str, np.ndarray],
    selected: dict[str, np.ndarray] | None = None,
) -> MetricScore:
    """Pool per-neuron values over mice into one mean, and one mean per mouse."""
    sel = selected or {k: np.ones(len(v), bool) for k, v in per_neuron.items()}
    pooled = np.concatenate([v[sel[k]] for k, v in per_neuron.items()])
    return MetricScore(
        name=name,
        value=m.mean_over_neurons(pooled),
        per_neuron=per_neuron,
        per_mouse={k: m.mean_over_neurons(v, sel[k]) for k, v in per_neuron.items()},
        selected=selected,
    )


def _attach_ceiling(
    score: MetricScore, ceiling: dict[str, np.ndarray] | None, kind: str
) -> MetricScore:
    if ceiling is None:
        return score
    sel = score.selected or {k: np.ones(len(v), bool) for k, v in ceiling.items()}
    score.ceiling = m.mean_over_neurons(np.concatenate([v[sel[k]] for k, v in ceiling.items()]))
    score.ceiling_kind = kind
    score.ceiling_per_neuron = ceiling
    return score


Metric = Callable[[np.ndarray, TierTruth], np.ndarray]


def _static_metric(name: str) -> Metric:
    if name == SINGLE_TRIAL:
        return lambda p, t: m.single_trial_correlation(p, t.responses)
    if name == TO_AVERAGE:
        return lambda p, t: m.correlation_to_average(p, t.responses, t.stimulus_ids)
    raise KeyError(name)


def _video_metric(name: str) -> Metric:
    if name == SINGLE_TRIAL:
        return lambda p, t: m.video_correlation(p, t.responses, _frames(t))
    if name == TO_AVERAGE:
        return lambda p, t: m.video_correlation_to_average(
            p, t.responses, _frames(t), t.stimulus_ids
        )
    raise KeyError(name)


def _frames(t: TierTruth) -> np.ndarray:
    assert t.n_frames is not None
    return t.n_frames


def _score_phase(
    track: Track, truth: Truth, phase: str, aligned: Mapping[str, np.ndarray]
) -> PhaseScore:
    tier = track.tier(phase)
    tiers = {mouse.name: mouse.tiers[tier] for mouse in truth.mice}
    scores: dict[str, MetricScore] = {}
    repeat = {k: repeat_ceiling(t) for k, t in tiers.items()}
    oracle: dict[str, np.ndarray] | None = {k: v for k, v in repeat.items() if v is not None}
    if len(oracle or {}) < len(repeat):
        oracle = None
    exact = truth.has_rates
    for name in track.metrics:
        if name == FEVE:
            per, sel, ceil = {}, {}, {}
            for k, t in tiers.items():
                per[k], sel[k] = m.feve(aligned[k], t.responses, t.stimulus_ids)
                if exact:
                    assert t.rates is not None
                    ceil[k] = m.feve(t.rates, t.responses, t.stimulus_ids)[0]
            scores[name] = _attach_ceiling(_combine(name, per, sel), ceil or None, "exact")
            continue
        metric = _static_metric(name) if track.kind == "static" else _video_metric(name)
        per = {k: metric(aligned[k], t) for k, t in tiers.items()}
        score = _combine(name, per)
        if exact:
            rates = {k: t.rates for k, t in tiers.items()}
            score = _attach_ceiling(
                score, {k: metric(np.asarray(rates[k]), t) for k, t in tiers.items()}, "exact"
            )
        elif name == SINGLE_TRIAL:
            score = _attach_ceiling(score, oracle, "oracle")
        if track.per_class and name == SINGLE_TRIAL:
            score.per_class = _per_class(aligned, tiers, metric)
        scores[name] = score
    extras: dict[str, float] = {}
    if oracle is not None:
        extras["oracle_correlation"] = m.mean_over_neurons(np.concatenate(list(oracle.values())))
    fev = [tier_explainable_variance(t) for t in tiers.values()]
    if fev and all(f is not None for f in fev):
        values = np.concatenate([f for f in fev if f is not None])
        extras["explainable_variance"] = m.mean_over_neurons(values, np.isfinite(values))
    return PhaseScore(phase=phase, tier=tier, metrics=scores, extras=extras)


def _per_class(
    aligned: Mapping[str, np.ndarray], tiers: Mapping[str, TierTruth], metric: Metric
) -> dict[str, float]:
    """Score the trials of each out-of-domain class separately, pooled over mice."""
    classes = sorted(
        {c for t in tiers.values() if t.ood_class is not None for c in t.ood_class.tolist()}
    )
    out = {}
    for c in classes:
        per = []
        for k, t in tiers.items():
            if t.ood_class is None or not (t.ood_class == c).any():
                continue
            idx = np.flatnonzero(t.ood_class == c)
            sub = TierTruth(
                trial_ids=t.trial_ids[idx],
                stimulus_ids=t.stimulus_ids[idx],
                responses=t.responses[idx],
                n_frames=None if t.n_frames is None else t.n_frames[idx],
            )
            per.append(metric(aligned[k][idx], sub))
        out[c] = m.mean_over_neurons(np.concatenate(per))
    return out


# ---------------------------------------------------------------------- entry point
TruthSource = Truth | str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
SubmissionSource = str | os.PathLike[str] | Mapping[str, StaticPredictions | VideoPredictions]


def resolve_truth(track: Track, truth: TruthSource, *, per_frame: bool = False) -> Truth:
    """Return the ground truth of ``track`` from a file, recording folder(s) or object.

    Parameters
    ----------
    track
        The track.
    truth
        A :class:`Truth`, a ground-truth file, a recording folder or zip whose scored tiers
        hold their responses, or a list of recordings (video tracks: one per mouse).
    per_frame
        Video recordings: the per-frame normalisation of the 2023 compatibility mode.

    Returns
    -------
    Truth
        The ground truth, checked to be of ``track`` and its version.
    """
    if isinstance(truth, Truth):
        resolved = truth
    elif (
        isinstance(truth, str | os.PathLike)
        and Path(truth).is_file()
        and (str(truth).endswith(".npz"))
    ):
        resolved = load_truth(truth)
    else:
        paths = [truth] if isinstance(truth, str | os.PathLike) else list(truth)
        resolved = make_truth(track, paths, per_frame=per_frame)
    if resolved.track != track.identifier:
        raise TruthError(
            [
                Problem(
                    str(truth), f"is ground truth of track {resolved.track}, not {track.identifier}"
                )
            ]
        )
    if resolved.track_version != track.version:
        raise TruthError(
            [
                Problem(
                    str(truth),
                    f"was cut for {track.identifier} version {resolved.track_version}; "
                    f"this neurotwin scores version {track.version}: cut it again",
                )
            ]
        )
    return resolved


def score(
    track: str | Track,
    truth: TruthSource,
    submission: SubmissionSource,
    *,
    per_frame: bool = False,
    max_problems: int = 100,
) -> ScoreReport:
    """Score a submission on a track.

    Parameters
    ----------
    track
        The track or its identifier.
    truth
        See :func:`resolve_truth`.
    submission
        A submission file (its name tells the phase), a folder or zip holding the track's
        files, or ``{phase: predictions}`` already in memory.
    per_frame
        See :func:`resolve_truth`.
    max_problems
        How many problems of a bad submission are listed.

    Returns
    -------
    ScoreReport
        The scores of every phase the submission holds.

    Raises
    ------
    SubmissionError
        Listing every problem of the submission (up to ``max_problems``).
    TruthError
        When the ground truth is unusable or of another track.
    """
    track = get_track(track)
    truth = resolve_truth(track, truth, per_frame=per_frame)
    problems = ProblemList(max_problems)
    parsed: dict[str, tuple[str, StaticPredictions | VideoPredictions]] = {}
    if isinstance(submission, Mapping):
        parsed = {p: (f"{p} predictions", v) for p, v in submission.items()}
    else:
        files = open_upload(submission, track, max_upload_bytes(truth, track))
        for phase, (name, data) in files.items():
            try:
                if track.kind == "static":
                    parsed[phase] = (name, read_static_csv(data, name))
                else:
                    parsed[phase] = (name, read_video_parquet(data, name))
            except SubmissionError as exc:
                for p in exc.problems:
                    problems.add(p.where, p.message)
    aligned: dict[str, Mapping[str, np.ndarray]] = {}
    for phase in PHASES:
        if phase not in parsed:
            continue
        name, pred = parsed[phase]
        tier = track.tier(phase)
        if track.kind == "static":
            if not isinstance(pred, StaticPredictions):
                problems.add(name, f"track {track.identifier} takes 2022 CSV predictions")
                continue
            mouse = truth.mice[0]
            values = align_static(pred, mouse, tier, name, problems)
            if values is not None:
                aligned[phase] = {mouse.name: values}
        else:
            if not isinstance(pred, VideoPredictions):
                problems.add(name, f"track {track.identifier} takes 2023 parquet predictions")
                continue
            per_mouse = align_video(pred, truth, tier, name, problems)
            if per_mouse is not None:
                aligned[phase] = per_mouse
    problems.raise_if_any(SubmissionError)
    return ScoreReport(
        track=track.identifier,
        track_version=track.version,
        ranking_metric=track.ranking_metric,
        phases={p: _score_phase(track, truth, p, a) for p, a in aligned.items()},
    )
