"""Progress bars: tqdm, switched off per call or by tqdm's own environment settings."""

from __future__ import annotations

from typing import Any

from tqdm import tqdm


def progress_bar(enabled: bool, **options: Any) -> tqdm:
    """Return a tqdm progress bar.

    Parameters
    ----------
    enabled
        False hides the bar. True shows it unless tqdm's environment settings say otherwise
        (``TQDM_DISABLE=1`` hides every bar, e.g. in logs and rendered notebooks).
    **options
        Passed to :class:`tqdm.tqdm` (``total``, ``desc``, ``unit``, ``leave``...).

    Returns
    -------
    tqdm.tqdm
        The bar; use it as a context manager or call ``close()``.
    """
    if not enabled:
        options["disable"] = True
    return tqdm(**options)
