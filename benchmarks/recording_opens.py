"""How many times one ``neurotwin demo`` run opens its recording. Prints JSON.

Counts the calls of ``open_recording`` that open a recording from its path (a call given an
open recording returns it as it is and opens nothing), and the calls of ``open_source`` (every
read of a folder's or zip's listing: opening, validating). Runs the demo on the ``tiny``
preset for one epoch in a temporary folder, so it takes seconds.

    python benchmarks/recording_opens.py [--preset tiny] [--epochs 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from typing import Any

from neurotwin.data import recording as recording_module
from neurotwin.data import source as source_module


def count_opens(preset: str, epochs: int) -> dict[str, Any]:
    """Run the demo once and count the recording opens.

    Parameters
    ----------
    preset
        Simulator preset of the demo.
    epochs
        Training epochs.

    Returns
    -------
    dict
        ``open_recording`` (recordings opened from a path) and ``open_source`` (listings read).
    """
    counts = {"open_recording": 0, "open_source": 0}
    recording_for = recording_module.recording_for
    open_source = source_module.open_source

    def counted_recording_for(source: Any) -> Any:
        counts["open_recording"] += 1
        return recording_for(source)

    def counted_open_source(path: Any) -> Any:
        counts["open_source"] += 1
        return open_source(path)

    recording_module.recording_for = counted_recording_for
    recording_module.open_source = counted_open_source
    source_module.open_source = counted_open_source
    from neurotwin.data import validate as validate_module

    validate_module.open_source = counted_open_source
    validate_module.recording_for = counted_recording_for
    from neurotwin.demo import run_demo

    with tempfile.TemporaryDirectory() as out:
        run_demo(out, preset=preset, epochs=epochs, budget=None, progress=False, log=lambda _: None)
    return {"preset": preset, "epochs": epochs, **counts}


def main() -> None:
    """Parse the arguments, run the demo, print the counts as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(count_opens(args.preset, args.epochs), indent=2))


if __name__ == "__main__":
    main()
