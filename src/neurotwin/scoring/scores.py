"""What scoring returns: per metric, per phase and per submission, as tables and JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


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
        estimated from repeats, the ceiling of a model that sees only the stimulus, see
        :func:`~neurotwin.scoring.ceilings.estimated_ceiling`), or None.
    ceiling_per_neuron
        Per mouse, the per-neuron ceiling, or None.
    per_class
        Bonus track: the score on each out-of-domain class.
    per_class_ceiling
        Bonus track on simulated data: the exact ceiling on each out-of-domain class.
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
    per_class_ceiling: dict[str, float] = field(default_factory=dict)

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
        if self.per_class_ceiling:
            out["per_class_ceiling"] = {k: _num(v) for k, v in self.per_class_ceiling.items()}
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
            if not np.isfinite(x):
                return f"{'n/a':>8}"
            # a huge value (FEVE of wild predictions) in exponent form, not 70 digits
            return f"{x:8.4f}" if abs(x) < 1e4 else f"{x:8.2e}"

        lines = [
            f"track {self.track} v{self.track_version} (ranked by {self.ranking_metric})",
            f"  {'phase':<6} {'metric':<26} {'raw':>8} {'ceiling':>8} {'fraction':>8}  kind",
        ]
        notes = list(self.notes)
        for phase, ps in self.phases.items():
            for name, ms in ps.metrics.items():
                raw = fmt(ms.value)
                kind = KIND_LABELS.get(ms.ceiling_kind or "-", ms.ceiling_kind)
                lines.append(
                    f"  {phase:<6} {name:<26} {raw} {fmt(ms.ceiling)} {fmt(ms.normalized)}  {kind}"
                )
                if ms.ceiling_stimulus_only is not None:
                    lines.append(
                        f"  {'':<6}   {'images-only model':<24} {'':>8} "
                        f"{fmt(ms.ceiling_stimulus_only)} {fmt(ms.normalized_stimulus_only)}  "
                        "exact (images only)"
                    )
                if len(ms.per_mouse) > 1:
                    lines += [f"  {'':<6}   {m:<24} {fmt(v)}" for m, v in ms.per_mouse.items()]
                for c, v in ms.per_class.items():
                    top = ms.per_class_ceiling.get(c)
                    bound = "" if top is None else f" {fmt(top)} {fmt(_fraction(v, top))}"
                    lines.append(f"  {'':<6}   class {c:<18} {fmt(v)}{bound}")
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


#: How the table labels each kind of ceiling.
KIND_LABELS = {"estimate": "estimate (stimulus-only model)", "-": "-"}

#: How the table labels each data-only value of a phase.
EXTRA_LABELS = {
    "oracle_correlation": "leave-one-out oracle, from repeats; not a ceiling",
    "explainable_variance": "fraction of explainable variance, from repeats",
}
