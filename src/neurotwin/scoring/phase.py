"""Score one phase of a track: every metric, its ceiling (exact or estimated) and notes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from neurotwin.scoring import metrics as m
from neurotwin.scoring.ceilings import (
    MIN_REPEATED_STIMULI,
    estimated_ceiling_sd,
    has_repeats,
    repeated_stimuli,
)
from neurotwin.scoring.measures import get_measure
from neurotwin.scoring.metrics import VideoAccumulator
from neurotwin.scoring.scores import MetricScore, PhaseScore
from neurotwin.scoring.tracks import FEVE, SINGLE_TRIAL, Track
from neurotwin.scoring.truth import TierTruth, Truth

#: Ceiling kinds: the simulator's noiseless rates, or an estimate from repeats.
EXACT, ESTIMATE = "exact", "estimate"
ESTIMATE_NOTE = (
    "the 'estimate' ceiling of single_trial_correlation is that of a model that sees only "
    "the stimulus: sqrt(1 - noise variance / total variance) per neuron, the noise variance "
    "estimated from repeats, so it includes what behaviour drives and a model that uses "
    "behaviour can exceed it (docs/concepts.md)"
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


def score_phase(
    track: Track, truth: Truth, phase: str, aligned: Mapping[str, np.ndarray]
) -> PhaseScore:
    """Score one phase: every metric of the track, its ceiling, and data-only values.

    Parameters
    ----------
    track
        The track.
    truth
        Its ground truth.
    phase
        ``"live"`` or ``"final"``.
    aligned
        Per mouse, the predictions aligned to the truth of the phase's tier.

    Returns
    -------
    PhaseScore
        Every metric (ranking metric first) and the phase's data-only values.
    """
    tier = track.tier(phase)
    tiers = {mouse.name: mouse.tiers[tier] for mouse in truth.mice}
    scores: dict[str, MetricScore] = {}
    exact_ceiling = get_measure("exact", "ceiling")
    only_ceiling = get_measure("exact_stimulus_only", "ceiling")
    oracle_of = get_measure("oracle_correlation", "data")
    repeat = {k: oracle_of(t) for k, t in tiers.items()}
    oracle: dict[str, np.ndarray] | None = {k: v for k, v in repeat.items() if v is not None}
    if len(oracle or {}) < len(repeat):
        oracle = None
    estimate_of = get_measure("estimate", "ceiling")
    single = track.format.metric(SINGLE_TRIAL)
    estimate = {k: estimate_of(t, single) for k, t in tiers.items()}
    estimated = None if any(v is None for v in estimate.values()) else estimate
    estimate_note = ESTIMATE_NOTE
    static = [t for t in tiers.values() if t.n_frames is None]
    if estimated is not None and static:
        fewest = min(repeated_stimuli(t) for t in static)
        if fewest < MIN_REPEATED_STIMULI:
            estimated = None
            estimate_note = (
                f"no estimated ceiling: too few repeated stimuli ({fewest}) for a reliable "
                f"estimate; need at least {MIN_REPEATED_STIMULI} (docs/concepts.md)"
            )
        else:
            sds = [estimated_ceiling_sd(t) for t in static]
            sd = float(np.sqrt(np.mean(np.square([x for x in sds if x is not None]))))
            estimate_note = ESTIMATE_NOTE.replace(
                "(docs/concepts.md)",
                f"(bootstrap SD over stimuli {sd:.4f}; docs/concepts.md)",
            )
    exact = truth.has_rates
    has_repeats_all = all(v is not None for v in estimate.values())
    stimulus_only = track.inputs == ("stimulus",) and all(
        t.rates_stimulus_only is not None for t in tiers.values()
    )
    per_metric = _metric_values(track, tiers, aligned)
    for name in track.metrics:
        if name == FEVE:
            feve = get_measure(FEVE, "metric")
            per, sel, ceil, ceil_only = {}, {}, {}, {}
            for k, t in tiers.items():
                per[k], sel[k] = feve(aligned[k], t)
                if exact:
                    ceil[k] = exact_ceiling(t, feve)
                if stimulus_only:
                    ceil_only[k] = only_ceiling(t, feve)
            score = _attach_ceiling(_combine(name, per, sel), ceil or None, EXACT)
            if ceil_only:
                score.ceiling_stimulus_only = _mean_ceiling(score, ceil_only)
            if score.ceiling is not None and score.ceiling > 1:
                score.note = FEVE_NOTE
            scores[name] = _explain(score, tiers)
            continue
        metric = track.format.metric(name)
        score = _combine(name, per_metric[name])
        if exact:
            score = _attach_ceiling(
                score, {k: exact_ceiling(t, metric) for k, t in tiers.items()}, EXACT
            )
        elif name == SINGLE_TRIAL and has_repeats_all:
            if estimated is not None:
                score = _attach_ceiling(
                    score, {k: v for k, v in estimated.items() if v is not None}, ESTIMATE
                )
            score.note = estimate_note
        if stimulus_only:
            only = {k: only_ceiling(t, metric) for k, t in tiers.items()}
            score.ceiling_stimulus_only = _mean_ceiling(score, only)
        if track.per_class and name == SINGLE_TRIAL:
            score.per_class = {
                c: m.mean_over_neurons(np.concatenate(list(per.values())))
                for c, per in per_metric[_CLASS].items()
            }
            if exact:  # the noiseless rates scored as a prediction, class by class
                score.per_class_ceiling = {
                    c: m.mean_over_neurons(
                        np.concatenate(
                            [
                                metric(np.asarray(tiers[k].rates)[idx], sub)
                                for k, (sub, idx) in per.items()
                            ]
                        )
                    )
                    for c, per in _class_tiers(tiers).items()
                }
        scores[name] = _explain(score, tiers)
    extras: dict[str, float] = {}
    if oracle is not None:
        extras["oracle_correlation"] = m.mean_over_neurons(np.concatenate(list(oracle.values())))
    fev_of = get_measure("explainable_variance", "data")
    fev = [fev_of(t) for t in tiers.values()]
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


#: Key of :func:`_metric_values`'s per-class values of the single-trial metric.
_CLASS = "per_class"


def _class_tiers(
    tiers: Mapping[str, TierTruth],
) -> dict[str, dict[str, tuple[TierTruth, np.ndarray]]]:
    """Per out-of-domain class, per mouse: the class's trials as a tier and their indices."""
    classes = sorted(
        {c for t in tiers.values() if t.ood_class is not None for c in t.ood_class.tolist()}
    )
    out: dict[str, dict[str, tuple[TierTruth, np.ndarray]]] = {}
    for c in classes:
        out[c] = {}
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
            out[c][k] = (sub, idx)
    return out


class _Subset:
    """Feed an accumulator of a subset of a tier's trials from the whole tier's trials."""

    def __init__(self, accumulator: VideoAccumulator, trials: np.ndarray) -> None:
        self.accumulator = accumulator
        self.position = {int(k): i for i, k in enumerate(trials.tolist())}

    def add(self, k: int, prediction: np.ndarray) -> None:
        i = self.position.get(int(k))
        if i is not None:
            self.accumulator.add(i, prediction)

    def result(self) -> np.ndarray:
        return self.accumulator.result()


def _metric_values(
    track: Track, tiers: Mapping[str, TierTruth], aligned: Mapping[str, np.ndarray]
) -> dict[str, Any]:
    """Per metric (FEVE aside), per mouse, the per-neuron values of the predictions.

    Video metrics are accumulated trial by trial (:class:`~neurotwin.scoring.metrics.
    VideoAccumulator`): from the arrays of ``aligned``, or, when ``aligned`` streams its
    trials from the submission file (a ``feed(sink)`` method, as
    :class:`~neurotwin.scoring.streamed.StreamedVideoPhase` has), straight from the file
    without holding the predictions. With ``track.per_class`` the single-trial metric of
    each out-of-domain class is under ``"per_class"`` (per class, per mouse).
    """
    names = [n for n in track.metrics if n != FEVE]
    measures = {n: track.format.metric(n) for n in names}
    classes = _class_tiers(tiers) if track.per_class else {}
    out: dict[str, Any] = {}
    if not all(measures[n].accumulator is not None for n in names):
        out = {n: {k: measures[n](aligned[k], t) for k, t in tiers.items()} for n in names}
        single = measures[SINGLE_TRIAL]
        out[_CLASS] = {
            c: {k: single(aligned[k][idx], sub) for k, (sub, idx) in per.items()}
            for c, per in classes.items()
        }
        return out
    accumulators: dict[str, dict[str, VideoAccumulator]] = {k: {} for k in tiers}
    for n in names:
        make = measures[n].accumulator
        assert make is not None
        for k, t in tiers.items():
            accumulators[k][n] = make(t)
    single_make = measures[SINGLE_TRIAL].accumulator
    assert single_make is not None
    for c, per in classes.items():
        for k, (sub, idx) in per.items():
            accumulators[k][f"{_CLASS}/{c}"] = _Subset(single_make(sub), idx)

    def sink(mouse: str, k: int, prediction: np.ndarray) -> None:
        for accumulator in accumulators[mouse].values():
            accumulator.add(k, prediction)

    feed = getattr(aligned, "feed", None)
    if callable(feed):
        feed(sink)
    else:
        for mouse in tiers:
            predicted = aligned[mouse]
            for trial in range(predicted.shape[0]):
                sink(mouse, trial, predicted[trial])
    out = {n: {k: accumulators[k][n].result() for k in tiers} for n in names}
    out[_CLASS] = {
        c: {k: accumulators[k][f"{_CLASS}/{c}"].result() for k in per} for c, per in classes.items()
    }
    return out
