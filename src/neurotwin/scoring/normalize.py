"""The response normalisation the scorer assumes: THE one place that defines it.

Ground truth and predictions are compared in the standardised unit of the SENSORIUM
kits (``spec/formats.md``): responses are divided by a per-neuron scale and never
centred. The data loaders follow the same rule; they should call :func:`response_scale`
rather than re-implement it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from neurotwin.data.recording import Recording

#: A neuron whose std is at most this fraction of the mean std across neurons is divided
#: by this fraction of the mean std instead (so silent neurons are not blown up).
STD_FLOOR_FRACTION = 0.01


def per_neuron_std(mean: np.ndarray | None, std: np.ndarray) -> np.ndarray:
    """Reduce a response std that carries a time axis to one value per neuron.

    Some 2023 releases ship the response statistics per frame, ``(n_neurons, T)``. The
    per-neuron std over all frames follows from the law of total variance, treating the
    frames as equally weighted groups: ``var = mean_t(std_t**2) + var_t(mean_t)``
    (population variance over frames). Frames whose statistics are NaN (padding) are
    ignored. When ``mean`` is missing or has no time axis, the second term is 0.

    Parameters
    ----------
    mean
        The matching response mean, ``(n_neurons, T)`` or ``(n_neurons,)``, or None.
    std
        The response std, ``(n_neurons,)`` (returned as is) or ``(n_neurons, T)``.

    Returns
    -------
    numpy.ndarray
        ``(n_neurons,)`` float64.
    """
    std = np.asarray(std, dtype=np.float64)
    if std.ndim == 1:
        return std
    if std.ndim != 2:
        raise ValueError(f"response std has shape {std.shape}, expected (n,) or (n, T)")
    within = np.nanmean(std**2, axis=1)
    between = np.zeros_like(within)
    if mean is not None:
        mean = np.asarray(mean, dtype=np.float64)
        if mean.shape == std.shape:
            between = np.nanvar(mean, axis=1)
    return np.sqrt(within + between)


def floor_std(std: np.ndarray) -> np.ndarray:
    """Apply the 1%-of-mean floor to per-neuron stds (along the first axis).

    Parameters
    ----------
    std
        ``(n_neurons,)``, or ``(n_neurons, T)`` for the per-frame variant, where the floor
        is computed per frame.

    Returns
    -------
    numpy.ndarray
        The std with every value at most ``0.01 * mean(std)`` replaced by that threshold.
    """
    std = np.asarray(std, dtype=np.float64)
    threshold = STD_FLOOR_FRACTION * np.nanmean(std, axis=0, keepdims=True)
    return np.where(std > threshold, std, np.broadcast_to(threshold, std.shape))


def response_scale(
    source: Recording | Mapping[str, np.ndarray], *, per_frame: bool = False
) -> np.ndarray:
    """Return what each neuron's responses are divided by to reach the standardised unit.

    The rule of the SENSORIUM kits: the per-neuron ``std`` of ``meta/statistics/responses/all``;
    a neuron whose std is at most 1% of the mean std across neurons is divided by
    ``0.01 * mean(std)`` instead; no mean subtraction.

    Parameters
    ----------
    source
        A recording, or its response statistics (a mapping with ``std`` and optionally
        ``mean``).
    per_frame
        Compatibility with the official 2023 scorer: keep a std with a time axis per frame,
        ``(n_neurons, T)``. By default (the project's benchmark) a time axis is reduced to
        one std per neuron with :func:`per_neuron_std`.

    Returns
    -------
    numpy.ndarray
        ``(n_neurons,)`` float64, or ``(n_neurons, T)`` when ``per_frame`` and the statistics
        carry a time axis.
    """
    stats = source.statistics("responses") if isinstance(source, Recording) else source
    if "std" not in stats:
        raise ValueError("response statistics need a 'std'")
    std = np.asarray(stats["std"], dtype=np.float64)
    if std.ndim == 2 and not per_frame:
        std = per_neuron_std(stats.get("mean"), std)
    return floor_std(std)


def standardize(responses: np.ndarray, scale: np.ndarray, *, video: bool = False) -> np.ndarray:
    """Divide responses by a scale from :func:`response_scale`.

    Parameters
    ----------
    responses
        Static ``(..., n_neurons)``; video ``(..., n_neurons, T)``.
    scale
        ``(n_neurons,)`` or, per frame (video only), ``(n_neurons, T')``; a per-frame scale
        is cut or NaN-padded to the responses' ``T``.
    video
        Whether neurons sit on the second-to-last axis, time on the last.

    Returns
    -------
    numpy.ndarray
        float32 standardised responses.
    """
    responses = np.asarray(responses)
    scale = np.asarray(scale, dtype=np.float64)
    if scale.ndim == 1:
        divisor = scale[:, None] if video else scale
    else:
        if not video:
            raise ValueError("a per-frame scale applies to video responses only")
        t = responses.shape[-1]
        if scale.shape[1] < t:
            scale = np.pad(scale, ((0, 0), (0, t - scale.shape[1])), constant_values=np.nan)
        divisor = scale[:, :t]
    return np.asarray(responses / divisor, dtype=np.float32)
