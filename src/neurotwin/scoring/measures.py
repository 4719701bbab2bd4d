"""Metrics and ceilings as named objects: what each computes, which way is better, its source.

Each :class:`Measure` has a name (as reports and the format's metric tables spell it), a
one-line description, the function that computes it per neuron, the direction that is
better, and the paper that defines it. Three roles:

- ``"metric"``: ``function(prediction, tier)`` scores a prediction aligned to a tier's
  ground truth (:class:`~neurotwin.scoring.truth.TierTruth`); FEVE also returns the neurons
  its mean runs over (``selects_neurons``);
- ``"ceiling"``: ``function(tier, metric)`` gives what no model beats on that metric, or
  None where the tier cannot tell;
- ``"data"``: ``function(tier)`` describes the data only (the oracle correlation is one:
  it is not a ceiling, see docs/concepts.md).

Each submission format's metric table (:mod:`neurotwin.scoring.formats`) maps a track's
reported metric to one of these by name, and the phase scorer takes ceilings from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from neurotwin.errors import NeurotwinError
from neurotwin.scoring import ceilings as c
from neurotwin.scoring import metrics as m
from neurotwin.scoring.tracks import CITATION_2022, CITATION_2023

if TYPE_CHECKING:
    from neurotwin.scoring.truth import TierTruth

Role = Literal["metric", "ceiling", "data"]

CITATION_FEVE = (
    "Cadena S. A. et al. (2019). Deep convolutional models improve predictions of macaque V1 "
    "responses to natural images. PLoS Comput Biol 15(4): e1006897"
)
CITATION_NEUROTWIN = "neurotwin, docs/concepts.md (Ceilings)"


@dataclass(frozen=True)
class Measure:
    """One named metric, ceiling or value of the data.

    Attributes
    ----------
    name
        The name reports, JSON and metric tables use.
    role
        ``"metric"``, ``"ceiling"`` or ``"data"`` (see the module's notes for the
        function's signature in each role).
    description
        One line: what it computes.
    function
        Computes it per neuron (``(n_neurons,)`` float64).
    direction
        ``"higher"`` or ``"lower"``: which values are better.
    citation
        Where it is defined.
    selects_neurons
        A metric that returns ``(values, selected)``: its mean runs over the selected
        neurons only (FEVE).
    accumulator
        Video metrics: ``accumulator(tier)`` returns a
        :class:`~neurotwin.scoring.metrics.VideoAccumulator` that computes the metric from
        trials fed one at a time (``function`` feeds it every trial of an array), so a
        submission streamed from its file is scored by the same code.
    """

    name: str
    role: Role
    description: str
    function: Callable[..., Any]
    direction: Literal["higher", "lower"] = "higher"
    citation: str = ""
    selects_neurons: bool = False
    accumulator: Callable[[TierTruth], m.VideoAccumulator] | None = None

    def __call__(self, *args: Any) -> Any:
        """Compute the measure (see :attr:`function`)."""
        return self.function(*args)


#: Every measure by name (fill it with :func:`register_measure`).
MEASURES: dict[str, Measure] = {}


def register_measure(measure: Measure) -> Measure:
    """Add a measure to :data:`MEASURES`; a name is registered once.

    Parameters
    ----------
    measure
        The measure.

    Returns
    -------
    Measure
        ``measure``.

    Raises
    ------
    ValueError
        When the name is taken.
    """
    if measure.name in MEASURES:
        raise ValueError(f"measure {measure.name!r} is registered already")
    MEASURES[measure.name] = measure
    return measure


def get_measure(name: str, role: Role | None = None) -> Measure:
    """Return the measure ``name`` (of ``role`` when given).

    Raises
    ------
    NeurotwinError
        An unknown name, listing the known ones.
    """
    measure = MEASURES.get(name)
    if measure is None or (role is not None and measure.role != role):
        known = ", ".join(list_measures(role))
        raise NeurotwinError(f"unknown {role or 'measure'} {name!r}; known: {known}")
    return measure


def list_measures(role: Role | None = None) -> list[str]:
    """Return the names of every measure (of ``role`` when given), in registration order."""
    return [k for k, v in MEASURES.items() if role is None or v.role == role]


def _frames(t: TierTruth) -> np.ndarray:
    assert t.n_frames is not None
    return t.n_frames


def _metric(
    name: str,
    description: str,
    citation: str,
    function: Callable[..., Any],
    accumulator: Callable[[TierTruth], m.VideoAccumulator] | None = None,
) -> None:
    register_measure(
        Measure(name, "metric", description, function, citation=citation, accumulator=accumulator)
    )


_metric(
    "single_trial_correlation",
    "Pearson correlation over single trials between prediction and response, per neuron",
    CITATION_2022,
    lambda p, t: m.single_trial_correlation(p, t.responses),
)
_metric(
    "correlation_to_average",
    "correlation between prediction and the response averaged over repeats of each image",
    CITATION_2022,
    lambda p, t: m.correlation_to_average(p, t.responses, t.stimulus_ids),
)
_metric(
    "video_correlation",
    "correlation over every scored frame of every trial (frames 50-300), per neuron",
    CITATION_2023,
    lambda p, t: m.video_correlation(p, t.responses, _frames(t)),
    lambda t: m.VideoCorrelation(t.responses, _frames(t)),
)
_metric(
    "video_correlation_to_average",
    "correlation over scored frames with the response averaged over repeats of each video",
    CITATION_2023,
    lambda p, t: m.video_correlation_to_average(p, t.responses, _frames(t), t.stimulus_ids),
    lambda t: m.VideoCorrelationToAverage(t.responses, _frames(t), t.stimulus_ids),
)
register_measure(
    Measure(
        "feve",
        "metric",
        "fraction of explainable variance explained, over neurons with FEV >= 0.15",
        lambda p, t: m.feve(p, t.responses, t.stimulus_ids),
        citation=f"{CITATION_FEVE}; {CITATION_2022}",
        selects_neurons=True,
    )
)


def _exact(rates: Callable[[TierTruth], np.ndarray | None]) -> Callable[..., Any]:
    def ceiling(t: TierTruth, metric: Measure) -> np.ndarray | None:
        value = rates(t)
        if value is None:
            return None
        out = metric(np.asarray(value), t)
        return out[0] if metric.selects_neurons else out

    return ceiling


register_measure(
    Measure(
        "exact",
        "ceiling",
        "the metric with the simulator's noiseless rates as the prediction (simulated data)",
        _exact(lambda t: t.rates),
        citation=CITATION_NEUROTWIN,
    )
)
register_measure(
    Measure(
        "exact_stimulus_only",
        "ceiling",
        "the metric with the noiseless rates of a stimulus-only mouse (behaviour at its mean)",
        _exact(lambda t: t.rates_stimulus_only),
        citation=CITATION_NEUROTWIN,
    )
)
register_measure(
    Measure(
        "estimate",
        "ceiling",
        "sqrt(1 - noise variance / total variance) from repeats: a stimulus-only model's "
        "single-trial correlation ceiling",
        lambda t, metric: c.estimated_ceiling(t),
        citation=CITATION_NEUROTWIN,
    )
)
register_measure(
    Measure(
        "oracle_correlation",
        "data",
        "correlation of each trial with the mean of the other repeats (leave-one-out)",
        c.repeat_ceiling,
        citation=CITATION_2022,
    )
)
register_measure(
    Measure(
        "explainable_variance",
        "data",
        "fraction of each neuron's variance that is stimulus-driven, from repeats (static)",
        c.tier_explainable_variance,
        citation=CITATION_FEVE,
    )
)
