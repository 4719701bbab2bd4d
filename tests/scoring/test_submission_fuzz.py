"""A generated corpus of damaged submissions: each is scored or refused clearly, never more.

Seeded mutations (truncation, flipped and inserted bytes, spliced tokens that trouble parsers)
of valid 2022 CSV files, 2023 parquet files and zips are fed through the whole reading path
of :func:`neurotwin.scoring.score`. Every one must end in a score or a ``NeurotwinError``.
"""

import io
import warnings
import zipfile

import numpy as np
import pytest

from neurotwin.errors import NeurotwinError
from neurotwin.scoring import make_truth, score
from neurotwin.scoring.submission import (
    StaticPredictions,
    VideoPredictions,
    static_csv_bytes,
    video_parquet_bytes,
)

TOKENS = [
    b"nan", b"inf", b"-1e400", b"1e300", b"1_000", b"\xff\xfe", b"\x00", b'"', b",", b"[", b"]",
    b"\n", b"\r", b"\x1b[2J", b"99999999999999999999999", b"", b"0x10", b"\xd9\xa1", b"[]",
]  # fmt: skip
N_MUTANTS = 150


def _mutants(data: bytes, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(N_MUTANTS):
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            kind = int(rng.integers(6))
            pos = int(rng.integers(len(b) + 1))
            if kind == 0:
                del b[pos:]
            elif kind == 1 and b:
                b[min(pos, len(b) - 1)] = int(rng.integers(256))
            elif kind == 2:
                b[pos:pos] = bytes(rng.integers(256, size=int(rng.integers(1, 9))).tolist())
            elif kind == 3:
                b[pos : pos + int(rng.integers(0, 6))] = TOKENS[int(rng.integers(len(TOKENS)))]
            elif kind == 4:
                stop = pos + int(rng.integers(1, 64))
                b[pos:pos] = b[pos:stop]
            else:
                del b[pos : pos + int(rng.integers(1, 64))]
        out.append(bytes(b))
    return out


def _check(track, truth, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            report = score(track, truth, path)
        except NeurotwinError as exc:
            text = str(exc)
            assert text and "\x1b" not in text, text
            return
    for ps in report.phases.values():
        for ms in ps.metrics.values():
            assert np.isfinite(ms.value) or ms.note, (ms.name, ms.value)


def test_damaged_csv_files(static_recording, tmp_path):
    truth = make_truth("sensorium", [static_recording])
    t, mouse = truth.mice[0].tiers["test"], truth.mice[0]
    good = static_csv_bytes(
        StaticPredictions(t.trial_ids, t.stimulus_ids, mouse.unit_ids, t.responses + 0.5)
    )
    f = tmp_path / "submission_file_live_test.csv"
    for data in _mutants(good, 0):
        f.write_bytes(data)
        _check("sensorium", truth, f)


@pytest.fixture
def video_truth_and_parquet(video_recordings):
    truth = make_truth("video-main", video_recordings)
    mice, trials, values, ids = [], [], [], {}
    for mouse in truth.mice:
        t = mouse.tiers["live_test_main"]
        ids[mouse.name] = mouse.unit_ids
        for k in range(t.n_trials):
            values.append(np.nan_to_num(t.responses[k, :, : int(t.n_frames[k])], nan=1.0))
            mice.append(mouse.name)
            trials.append(t.trial_ids[k])
    preds = VideoPredictions(np.array(mice), np.array(trials), ids, values)
    return truth, video_parquet_bytes(preds)


def test_damaged_parquet_files(video_truth_and_parquet, tmp_path):
    truth, good = video_truth_and_parquet
    f = tmp_path / "predictions_live_main.parquet.brotli"
    for data in _mutants(good, 1):
        f.write_bytes(data)
        _check("video-main", truth, f)


def test_damaged_zips(video_truth_and_parquet, tmp_path):
    truth, good = video_truth_and_parquet
    for compression in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression) as zf:
            zf.writestr("predictions_live_main.parquet.brotli", good)
        f = tmp_path / "sub.zip"
        for data in _mutants(buffer.getvalue(), 2 + compression):
            f.write_bytes(data)
            _check("video-main", truth, f)
