"""glibc keeps freed memory for reuse once the trainer asked it to (no page faults on reuse)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from neurotwin.errors import NeurotwinError
from neurotwin.train import TrainConfig

PROBE = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np
    from neurotwin.train.allocator import keep_freed_memory

    applied = keep_freed_memory() if sys.argv[1] == "keep" else None
    def faults_of_a_fresh_64_mib_block():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        block = np.ones(64 * 2**20 // 8)  # touches every page
        del block
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    faults_of_a_fresh_64_mib_block()
    print(json.dumps({"applied": applied, "again": keep_freed_memory() if applied else None,
                      "faults": faults_of_a_fresh_64_mib_block()}))
    """
)


def _probe(mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_blocks_are_reused_without_page_faults() -> None:
    kept, default = _probe("keep"), _probe("default")
    assert kept["applied"] is True and kept["again"] is True
    huge_pages = 64 * 2**20 // 2**21  # the fewest faults of a fresh block (2 MiB pages)
    assert default["faults"] >= huge_pages  # glibc unmapped the block and faulted it in anew
    assert kept["faults"] <= huge_pages // 4  # the same block came back from the heap


def test_the_setting_is_a_boolean() -> None:
    assert TrainConfig().keep_freed_memory is True
    with pytest.raises(NeurotwinError, match="keep_freed_memory"):
        TrainConfig(keep_freed_memory="yes")  # type: ignore[arg-type]
