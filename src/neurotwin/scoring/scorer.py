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
from neurotwin.scoring.ceilings import (
    estimated_ceiling,
    has_repeats,
    repeat_ceiling,
    tier_explainable_variance,
)
from neurotwin.scoring.errors import ProblemList, SubmissionError, TruthError
from neurotwin.scoring.submission import (
    ReadLimits,
    StaticPredictions,
    VideoPredictions,
    _check_finite,
    align_static,
    align_video,
    max_upload_bytes,
    open_upload,
    read_static_csv,
    read_video_parquet,
)
from neurotwin.scoring.tracks import FEVE, PHASES, SINGLE_TRIAL, TO_AVERAGE, Track, get_track
from neurotwin.scoring.truth import TRUTH_SUFFIX, TierTruth, Truth, load_truth, make_truth


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
        ``"exact"`` (simulator rates) or ``"estimate"`` (single-trial correlation only:
        estimated from repeats, see :func:`~neurotwin.scoring.ceilings.estimated_ceiling`),
        or None.
    ceiling_per_neuron
        Per mouse, the per-neuron ceiling, or None.
    per_class
        Bonus track: the score on each out-of-domain class.
    selected
        FEVE: per mouse, the neurons that enter the mean (``FEV >= 0.15``).
    ceiling_stimulus_only
        ``sensorium`` (images-only) track on simulated data: the exact ceiling of a model
        that sees only the images (the simulator's rate with behaviour and eye position at
        their means), or None.
    note
        Why the value is undefined or how to read the ceiling, or None.
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
    ceiling_stimulus_only: float | None = None
    note: str | None = None

    @property
    def normalized(self) -> float | None:
        """The raw score as a fraction of its ceiling (ratio of the means), or None."""
        return _fraction(self.value, self.ceiling)

    @property
    def normalized_stimulus_only(self) -> float | None:
        """The raw score as a fraction of the images-only ceiling, or None."""
        return _fraction(self.value, self.ceiling_stimulus_only)

    def to_dict(self, per_neuron: bool = False) -> dict[str, Any]:
        """Describe the score as JSON-ready data (per-neuron lists on request)."""
        out: dict[str, Any] = {
            "value": _num(self.value),
            "ceiling": _num(self.ceiling),
            "ceiling_kind": self.ceiling_kind,
            "normalized": _num(self.normalized),
            "per_mouse": {k: _num(v) for k, v in self.per_mouse.items()},
        }
        if self.ceiling_stimulus_only is not None:
            out["ceiling_stimulus_only"] = _num(self.ceiling_stimulus_only)
            out["normalized_stimulus_only"] = _num(self.normalized_stimulus_only)
        if self.note:
            out["note"] = self.note
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
        Values from the data alone: mean leave-one-out oracle correlation and fraction of
        explainable variance (neither is a ceiling of the metrics).
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
    notes
        Phases not scored and why (no file given, no ground truth), and how to read values.
    """

    track: str
    track_version: str
    ranking_metric: str
    phases: dict[str, PhaseScore]
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        """Return the scores as a text table: raw, ceiling and fraction of each metric."""

        def fmt(x: float | None) -> str:
            if x is None:
                return f"{'-':>8}"
            return f"{x:8.4f}" if np.isfinite(x) else f"{'n/a':>8}"

        lines = [
            f"track {self.track} v{self.track_version} (ranked by {self.ranking_metric})",
            f"  {'phase':<6} {'metric':<26} {'raw':>8} {'ceiling':>8} {'fraction':>8}  kind",
        ]
        notes = list(self.notes)
        for phase, ps in self.phases.items():
            for name, ms in ps.metrics.items():
                raw = fmt(ms.value)
                lines.append(
                    f"  {phase:<6} {name:<26} {raw} {fmt(ms.ceiling)} "
                    f"{fmt(ms.normalized)}  {ms.ceiling_kind or '-'}"
                )
                if ms.ceiling_stimulus_only is not None:
                    lines.append(
                        f"  {'':<6}   {'images-only model':<24} {'':>8} "
                        f"{fmt(ms.ceiling_stimulus_only)} {fmt(ms.normalized_stimulus_only)}  "
                        "exact (images only)"
                    )
                if len(ms.per_mouse) > 1:
                    lines += [f"  {'':<6}   {m:<24} {fmt(v)}" for m, v in ms.per_mouse.items()]
                lines += [f"  {'':<6}   class {c:<18} {fmt(v)}" for c, v in ms.per_class.items()]
                if ms.note and f"{name}: {ms.note}" not in notes:
                    notes.append(f"{name}: {ms.note}")
            lines += [
                f"  {phase:<6} {n:<26} {fmt(v)}  ({EXTRA_LABELS.get(n, 'from the data')})"
                for n, v in ps.extras.items()
            ]
        lines += [f"note: {n}" for n in notes]
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
            "notes": list(self.notes),
        }


def _num(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _fraction(value: float, ceiling: float | None) -> float | None:
    if ceiling is None or not np.isfinite(ceiling) or ceiling <= 0 or not np.isfinite(value):
        return None
    return value / ceiling


#: How the table labels each data-only value of a phase.
EXTRA_LABELS = {
    "oracle_correlation": "leave-one-out oracle, from repeats; not a ceiling",
    "explainable_variance": "fraction of explainable variance, from repeats",
}
#: Ceiling kinds: the simulator's noiseless rates, or an estimate from repeats.
EXACT, ESTIMATE = "exact", "estimate"
ESTIMATE_NOTE = (
    "the 'estimate' ceiling of single_trial_correlation is sqrt(1 - noise variance / total "
    "variance) per neuron, the noise variance estimated from repeats; an estimate, so a "
    "model can exceed it by chance (docs/concepts.md)"
)
FEVE_NOTE = (
    "the exact FEVE ceiling exceeds 1: FEVE subtracts a noise variance estimated from few "
    "repeats, and the noiseless rates' error falls below that estimate by chance"
)


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
    score.ceiling = _mean_ceiling(score, ceiling)
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
    estimate = {k: estimated_ceiling(t) for k, t in tiers.items()}
    estimated = None if any(v is None for v in estimate.values()) else estimate
    exact = truth.has_rates
    stimulus_only = track.inputs == ("stimulus",) and all(
        t.rates_stimulus_only is not None for t in tiers.values()
    )
    for name in track.metrics:
        if name == FEVE:
            per, sel, ceil, ceil_only = {}, {}, {}, {}
            for k, t in tiers.items():
                per[k], sel[k] = m.feve(aligned[k], t.responses, t.stimulus_ids)
                if exact:
                    assert t.rates is not None
                    ceil[k] = m.feve(t.rates, t.responses, t.stimulus_ids)[0]
                if stimulus_only:
                    assert t.rates_stimulus_only is not None
                    ceil_only[k] = m.feve(t.rates_stimulus_only, t.responses, t.stimulus_ids)[0]
            score = _attach_ceiling(_combine(name, per, sel), ceil or None, EXACT)
            if ceil_only:
                score.ceiling_stimulus_only = _mean_ceiling(score, ceil_only)
            if score.ceiling is not None and score.ceiling > 1:
                score.note = FEVE_NOTE
            scores[name] = _explain(score, tiers)
            continue
        metric = _static_metric(name) if track.kind == "static" else _video_metric(name)
        per = {k: metric(aligned[k], t) for k, t in tiers.items()}
        score = _combine(name, per)
        if exact:
            rates = {k: t.rates for k, t in tiers.items()}
            score = _attach_ceiling(
                score, {k: metric(np.asarray(rates[k]), t) for k, t in tiers.items()}, EXACT
            )
        elif name == SINGLE_TRIAL and estimated is not None:
            score = _attach_ceiling(
                score, {k: v for k, v in estimated.items() if v is not None}, ESTIMATE
            )
            score.note = ESTIMATE_NOTE
        if stimulus_only:
            only = {k: metric(np.asarray(t.rates_stimulus_only), t) for k, t in tiers.items()}
            score.ceiling_stimulus_only = _mean_ceiling(score, only)
        if track.per_class and name == SINGLE_TRIAL:
            score.per_class = _per_class(aligned, tiers, metric)
        scores[name] = _explain(score, tiers)
    extras: dict[str, float] = {}
    if oracle is not None:
        extras["oracle_correlation"] = m.mean_over_neurons(np.concatenate(list(oracle.values())))
    fev = [tier_explainable_variance(t) for t in tiers.values()]
    if fev and all(f is not None for f in fev):
        values = np.concatenate([f for f in fev if f is not None])
        if np.isfinite(values).any():
            extras["explainable_variance"] = m.mean_over_neurons(values, np.isfinite(values))
    return PhaseScore(phase=phase, tier=tier, metrics=scores, extras=extras)


def _mean_ceiling(score: MetricScore, ceiling: dict[str, np.ndarray]) -> float:
    """Mean of a per-neuron ceiling over the neurons the score averages."""
    sel = score.selected or {k: np.ones(len(v), bool) for k, v in ceiling.items()}
    return m.mean_over_neurons(np.concatenate([v[sel[k]] for k, v in ceiling.items()]))


def _explain(score: MetricScore, tiers: Mapping[str, TierTruth]) -> MetricScore:
    """Give an undefined (NaN) score or ceiling its reason, or fail loudly without one."""
    if np.isfinite(score.value) and (score.ceiling is None or np.isfinite(score.ceiling)):
        return score
    repeated = any(has_repeats(t) for t in tiers.values())
    if not repeated:
        reason = (
            "undefined: no stimulus of this tier is shown more than once, and this metric "
            "compares averages over repeats"
        )
    elif score.selected is not None and not any(v.any() for v in score.selected.values()):
        reason = (
            f"undefined: no neuron reaches the explainable-variance threshold "
            f"(FEV >= {m.FEV_THRESHOLD}) that FEVE averages over"
        )
    else:
        reason = "undefined: NaN in the per-neuron values (constant responses?)"
    if not np.isfinite(score.value):
        score.value = float("nan")
    if score.ceiling is not None and not np.isfinite(score.ceiling):
        score.ceiling = None
        score.ceiling_kind = None
    score.note = reason
    return score


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
    if isinstance(truth, str | os.PathLike) and Path(truth).name.endswith(TRUTH_SUFFIX):
        truth = _recording_of_truth_folder(Path(truth))
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


def _recording_of_truth_folder(folder: Path) -> Path:
    """Return the recording a simulator's ``{name}.truth/`` folder belongs to."""
    name = folder.name[: -len(TRUTH_SUFFIX)]
    for candidate in (folder.parent / name, folder.parent / f"{name}.zip"):
        if candidate.exists():
            return candidate
    raise TruthError(
        [
            Problem(
                str(folder),
                f"is the simulator's ground truth of recording {name}, which is not beside "
                "it; give the recording (its .truth folder is found beside it) or a "
                "make-truth file",
            )
        ]
    )


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
        The scores of every phase that the submission holds and the ground truth has;
        a phase missing from either is listed in :attr:`ScoreReport.notes`.

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
    notes = list(truth.notes)
    scorable = {p for p in PHASES if all(track.tier(p) in mouse.tiers for mouse in truth.mice)}
    parsed: dict[str, tuple[str, StaticPredictions | VideoPredictions]] = {}
    if isinstance(submission, Mapping):
        parsed = {p: (f"{p} predictions", v) for p, v in submission.items()}
        for name, pred in parsed.values():
            _check_in_memory(name, pred, problems)
    else:
        files = open_upload(submission, track, max_upload_bytes(truth, track))
        for phase, (name, data) in files.items():
            if phase not in scorable:
                continue
            try:
                if track.kind == "static":
                    parsed[phase] = (name, read_static_csv(data, name, problems))
                else:
                    limits = ReadLimits.for_tier(truth, track.tier(phase))
                    parsed[phase] = (name, read_video_parquet(data, name, limits, problems))
            except SubmissionError as exc:
                for p in exc.problems:
                    problems.add(p.where, p.message)
    for phase in PHASES:
        tier = track.tier(phase)
        if phase not in scorable:
            explained = any(f"tier {tier!r}" in n for n in truth.notes)
            if not explained and (phase in parsed or not isinstance(submission, Mapping)):
                notes.append(
                    f"phase {phase} not scored: the ground truth has no tier {tier!r} "
                    "with responses"
                )
            parsed.pop(phase, None)
        elif phase not in parsed:
            what = (
                track.submission_files[phase]
                if not isinstance(submission, Mapping)
                else "predictions"
            )
            notes.append(f"phase {phase} not scored: the submission holds no {what}")
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
    if not aligned:
        raise SubmissionError(
            [
                Problem(
                    str(submission) if not isinstance(submission, Mapping) else "predictions",
                    "nothing to score: " + "; ".join(notes),
                )
            ]
        )
    return ScoreReport(
        track=track.identifier,
        track_version=track.version,
        ranking_metric=track.ranking_metric,
        phases={p: _score_phase(track, truth, p, a) for p, a in aligned.items()},
        notes=notes,
    )


def _check_in_memory(
    name: str, pred: StaticPredictions | VideoPredictions, problems: ProblemList
) -> None:
    """Report NaN or infinite predictions handed over in memory, as float32 sees them."""
    if isinstance(pred, StaticPredictions):
        with np.errstate(over="ignore"):
            values = np.asarray(pred.values, dtype=np.float32)
        if values.ndim == 2:
            _check_finite(values, lambda r: f"{name} row {r}", problems)
        return
    for r, row in enumerate(pred.values):
        with np.errstate(over="ignore"):
            values = np.asarray(row, dtype=np.float32)
        if values.size and not np.isfinite(values).all():
            _check_finite(values[None], lambda _r, w=f"{name} row {r}": w, problems)
