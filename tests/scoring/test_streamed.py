"""Video submissions are checked and scored as they stream from the file, by batches of rows."""

import tracemalloc
import zipfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from neurotwin.scoring import metrics, streamed, video_parquet
from neurotwin.scoring.align import VideoPlan
from neurotwin.scoring.ceilings import estimated_ceiling
from neurotwin.scoring.errors import SubmissionError, quote
from neurotwin.scoring.metrics import (
    scored_frames,
    video_correlation,
    video_correlation_to_average,
    video_oracle_correlation,
)
from neurotwin.scoring.predictions import VideoPredictions
from neurotwin.scoring.scorer import check_submission, score, score_aligned
from neurotwin.scoring.streamed import StreamedVideoPhase
from neurotwin.scoring.tracks import get_track
from neurotwin.scoring.truth import MouseTruth, TierTruth, Truth
from neurotwin.stats import correlation

TRACK = get_track("video-main")
TIERS = {"live": "live_test_main", "final": "final_test_main"}


def _truth(n_mice=2, n_neurons=6, n_trials=6, seed=0):
    """A video-main truth in memory: repeated videos, trials of several lengths."""
    rng = np.random.default_rng(seed)
    mice = []
    for i in range(n_mice):
        tiers = {}
        for j, tier in enumerate(TIERS.values()):
            lengths = rng.integers(120, 330, n_trials)
            lengths[:2] = 320  # one video shown twice, both longer than 300 frames
            n_frames = scored_frames(lengths)
            responses = np.full((n_trials, n_neurons, 250), np.nan, np.float32)
            for k in range(n_trials):
                responses[k, :, : n_frames[k]] = rng.gamma(2.0, 1.0, (n_neurons, n_frames[k]))
            videos = np.array([0, 0, *range(1, n_trials - 1)])
            videos[-2:] = videos[-3]  # a video shown three times, of different lengths
            tiers[tier] = TierTruth(
                trial_ids=np.array([f"{i}{j}{k:03d}" for k in range(n_trials)]),
                stimulus_ids=videos.astype(str),
                responses=responses,
                n_frames=n_frames,
                lengths=lengths,
            )
        name = f"dynamic{i}-1-1-Video-" + "a" * 32
        mice.append(MouseTruth(name, np.arange(n_neurons, dtype=np.int64) + 100 * i, tiers))
    return Truth(TRACK.identifier, TRACK.version, "video", mice)


def _predictions(truth, tier, seed=1):
    """Noisy predictions, rows of all mice shuffled, neurons in a shuffled order per mouse."""
    rng = np.random.default_rng(seed)
    rows = []
    ids = {}
    for mouse in truth.mice:
        order = rng.permutation(len(mouse.unit_ids))
        ids[mouse.name] = mouse.unit_ids[order]
        t = mouse.tiers[tier]
        for k in range(t.n_trials):
            f = int(t.n_frames[k])
            row = t.responses[k, order, :f] + rng.normal(0, 1, (len(order), f)).astype("f4")
            rows.append((mouse.name, t.trial_ids[k], row))
    rows = [rows[i] for i in rng.permutation(len(rows))]
    return VideoPredictions(
        np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), ids, [r[2] for r in rows]
    )


def _write(tmp_path, predictions, name="sub.zip"):
    files = video_parquet.video_parquet_files([predictions[p] for p in TIERS])
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:  # deflated: read from a temporary copy
        for phase, data in zip(TIERS, files, strict=True):
            zf.writestr(TRACK.submission_files[phase], data)
    return path, files


@pytest.fixture
def small_batches(monkeypatch):
    """Row groups of 3 rows, read in batches of 2 rows: batches cross row groups."""
    monkeypatch.setattr(video_parquet, "ROW_GROUP_VALUES", 3 * 6 * 250)
    monkeypatch.setattr(video_parquet, "BATCH_VALUES", 2 * 6 * 200)


def _reference(truth, tier, predictions):
    """Per mouse, the 2023 metrics computed on whole concatenated arrays (no streaming)."""
    out = {}
    for mouse in truth.mice:
        t = mouse.tiers[tier]
        order = np.argsort(predictions.neuron_ids[mouse.name])
        rows = {
            str(tr): v[order]
            for m, tr, v in zip(
                predictions.mice, predictions.trial_ids, predictions.values, strict=True
            )
            if m == mouse.name
        }
        pred = [rows[str(tr)] for tr in t.trial_ids]
        x = np.concatenate([p[:, :f] for p, f in zip(pred, t.n_frames, strict=True)], axis=1)
        y = np.concatenate([r[:, :f] for r, f in zip(t.responses, t.n_frames, strict=True)], 1)
        single = correlation(x.T, y.T, axis=0)
        per_video = []
        for v in np.unique(t.stimulus_ids):
            ks = np.flatnonzero(t.stimulus_ids == v)
            if len(ks) < 2:
                continue
            f = int(t.n_frames[ks].min())
            p_mean = np.mean([pred[k][:, :f].astype(np.float64) for k in ks], axis=0)
            r_mean = t.responses[ks, :, :f].mean(axis=0, dtype=np.float64)
            per_video.append(correlation(p_mean, r_mean, axis=1))
        out[mouse.name] = (single, np.mean(per_video, axis=0))
    return out


def test_streamed_scores_equal_whole_array_metrics(tmp_path, small_batches):
    truth = _truth()
    predictions = {
        p: _predictions(truth, tier, seed=i) for i, (p, tier) in enumerate(TIERS.items())
    }
    path, files = _write(tmp_path, predictions)
    for data in files:
        assert pq.ParquetFile(pa.BufferReader(data)).metadata.num_row_groups >= 4
    aligned = check_submission(TRACK, path, truth)
    assert all(isinstance(a, StreamedVideoPhase) for a in aligned.phases.values())
    report = score_aligned(TRACK, aligned, truth)
    in_memory = score(TRACK, truth, predictions)
    for phase, tier in TIERS.items():
        ref = _reference(truth, tier, predictions[phase])
        metrics = report.phases[phase].metrics
        for i, name in enumerate(("single_trial_correlation", "correlation_to_average")):
            got = metrics[name]
            for mouse, values in ref.items():
                np.testing.assert_allclose(got.per_neuron[mouse], values[i], rtol=1e-12)
            pooled = np.concatenate([v[i] for v in ref.values()]).mean()
            assert got.value == pytest.approx(pooled, rel=1e-12)
            assert got.value == pytest.approx(
                in_memory.phases[phase].metrics[name].value, rel=1e-12
            )
    # the aligned arrays are still there for whoever reads them
    mouse = truth.mice[0]
    array = aligned.phases["live"][mouse.name]
    assert array.shape == mouse.tiers["live_test_main"].responses.shape
    np.testing.assert_array_equal(
        np.isnan(array), np.isnan(mouse.tiers["live_test_main"].responses)
    )


def test_problems_in_later_row_groups_keep_their_messages(tmp_path, monkeypatch):
    truth = _truth()
    tier = TIERS["live"]
    pred = _predictions(truth, tier)
    n = len(pred.values)
    pred.values[n - 2] = pred.values[n - 2].copy()
    pred.values[n - 2][1, 3] = np.nan  # NaN in the last row group
    same = int(np.flatnonzero(pred.mice == pred.mice[n - 1])[0])
    pred.trial_ids[n - 1] = pred.trial_ids[same]  # a duplicate (so a missing trial) at the end
    monkeypatch.setattr(video_parquet, "ROW_GROUP_VALUES", 3 * 6 * 250)
    data = video_parquet.video_parquet_bytes(pred)
    path = tmp_path / TRACK.submission_files["live"]
    path.write_bytes(data)

    def messages():
        with pytest.raises(SubmissionError) as err:
            check_submission(TRACK, path, truth)
        return [(p.where, p.message) for p in err.value.problems]

    monkeypatch.setattr(video_parquet, "BATCH_VALUES", 1 << 30)  # one batch: the whole file
    whole = messages()
    monkeypatch.setattr(video_parquet, "BATCH_VALUES", 6 * 200)  # one row per batch
    assert messages() == whole
    text = " ".join(m for _, m in whole)
    assert any(w.endswith(f"row {n - 2}") and "NaN" in m for w, m in whole)
    assert "is duplicated" in text and "missing" in text
    # a read problem late in the file: neuron ids that differ from the mouse's first row
    mouse = pred.mice[n - 1]
    first = int(np.flatnonzero(pred.mice == mouse)[0])
    pred.trial_ids[n - 1] = _predictions(truth, tier).trial_ids[n - 1]
    pred.values[n - 2][1, 3] = 0.0
    table = pq.read_table(pa.BufferReader(video_parquet.video_parquet_bytes(pred)))
    ids = table.column("neuron_ids").to_pylist()
    ids[n - 1] = ids[n - 1][::-1]

    table = table.set_column(3, "neuron_ids", pa.array(ids, table.schema.field(3).type))
    pq.write_table(table, path, row_group_size=3, compression="brotli")
    messages_late = messages()
    monkeypatch.setattr(video_parquet, "BATCH_VALUES", 1 << 30)
    assert (
        messages()
        == messages_late
        == [
            (
                f"{path} row {n - 1}",
                f"neuron_ids differ from row {first} of mouse {quote(str(mouse))}; every row of "
                "a mouse must list the same neurons",
            )
        ]
    )


def test_checking_and_streaming_memory_stays_below_the_submission(tmp_path, monkeypatch):
    # 48 trials (24 before the phases were scored side by side: a feed's peak now includes
    # the other phase's working set, which does not grow with the trials)
    truth = _truth(n_mice=1, n_neurons=400, n_trials=48)
    predictions = {p: _predictions(truth, tier) for p, tier in TIERS.items()}
    decoded = sum(v.nbytes for p in predictions.values() for v in p.values)
    monkeypatch.setattr(video_parquet, "ROW_GROUP_VALUES", 400 * 250)
    monkeypatch.setattr(video_parquet, "BATCH_VALUES", 400 * 250)
    # a file beyond the budget for keeping decoded rows (this one is far below 512 MiB)
    monkeypatch.setattr(streamed, "KEEP_BYTES", 0)
    path, _ = _write(tmp_path, predictions)
    del predictions
    feed = StreamedVideoPhase.feed
    peaks = []

    def traced_feed(self, sink, only=None):
        tracemalloc.reset_peak()
        feed(self, sink, only)
        peaks.append(tracemalloc.get_traced_memory()[1])

    monkeypatch.setattr(StreamedVideoPhase, "feed", traced_feed)
    arrow_before = pa.total_allocated_bytes()
    tracemalloc.start()
    try:
        aligned = check_submission(TRACK, path, truth)
        peaks.append(tracemalloc.get_traced_memory()[1])
        # nothing decoded outlives the check: Arrow's memory is not traced, ask Arrow
        assert all(a.rows is None for a in aligned.phases.values())
        assert pa.total_allocated_bytes() - arrow_before < decoded / 4
        report = score_aligned(TRACK, aligned, truth)
    finally:
        tracemalloc.stop()
    assert np.isfinite(report.phases["live"].metrics["single_trial_correlation"].value)
    # checking, then scoring the trials as they stream from the file (both phases), each
    # stay well below the predictions' size (a whole-file read holds them all, and more)
    assert len(peaks) == 3
    assert max(peaks) < decoded / 2, (peaks, decoded)


def _same_reports(a, b):
    """Two score reports hold the same numbers, bit for bit (per neuron too)."""
    assert a.to_dict() == b.to_dict()
    for phase, got in a.phases.items():
        for name, metric in got.metrics.items():
            other = b.phases[phase].metrics[name]
            for mouse, values in metric.per_neuron.items():
                np.testing.assert_array_equal(values, other.per_neuron[mouse])


def test_kept_and_streamed_files_score_the_same(tmp_path, monkeypatch, small_batches):
    truth = _truth(n_mice=2, n_neurons=6, n_trials=6)
    predictions = {p: _predictions(truth, t, seed=i) for i, (p, t) in enumerate(TIERS.items())}
    path, files = _write(tmp_path, predictions)
    kept = check_submission(TRACK, path, truth)
    assert all(a.rows is not None for a in kept.phases.values())  # far below KEEP_BYTES
    # the budget is per file, from its metadata: exactly the decoded size keeps it
    sizes = [video_parquet.decoded_bytes(data) for data in files]
    monkeypatch.setattr(streamed, "KEEP_BYTES", min(sizes))
    at_budget = check_submission(TRACK, path, truth)
    assert [a.rows is not None for a in at_budget.phases.values()] == [
        size == min(sizes) for size in sizes
    ]
    monkeypatch.setattr(streamed, "KEEP_BYTES", min(sizes) - 1)
    beyond = check_submission(TRACK, path, truth)
    assert all(a.rows is None for a in beyond.phases.values())
    report = score_aligned(TRACK, kept, truth)
    _same_reports(report, score_aligned(TRACK, beyond, truth))
    _same_reports(report, score_aligned(TRACK, at_budget, truth))
    for phase in TIERS:
        for mouse in kept.phases[phase]:
            np.testing.assert_array_equal(kept.phases[phase][mouse], beyond.phases[phase][mouse])
    live = kept.phases["live"]
    with pytest.raises(ValueError, match="kept rows for a file of"):
        StreamedVideoPhase(live.file, live.n_rows, live.plans, live.shapes, live.rows[:-1])


def test_neuron_blocks_change_no_value(monkeypatch):
    truth = _truth(n_mice=1, n_neurons=50, n_trials=9)
    tier = truth.mice[0].tiers[TIERS["live"]]
    rng = np.random.default_rng(3)
    prediction = (tier.responses + rng.normal(0, 1, tier.responses.shape)).astype("f4")

    def values():
        return [
            video_correlation(prediction, tier.responses, tier.n_frames),
            video_correlation_to_average(
                prediction, tier.responses, tier.n_frames, tier.stimulus_ids
            ),
            video_oracle_correlation(tier.responses, tier.n_frames, tier.stimulus_ids),
            estimated_ceiling(tier),
        ]

    monkeypatch.setattr(metrics, "BLOCK_VALUES", 1 << 30)  # every neuron in one block
    whole = values()
    monkeypatch.setattr(metrics, "BLOCK_VALUES", 3 * 250)  # blocks of 3, the last of 2
    assert [b.stop - b.start for b in metrics.neuron_blocks(50, 250)] == [3] * 16 + [2]
    for got, expected in zip(values(), whole, strict=True):
        assert np.isfinite(got).all()
        np.testing.assert_array_equal(got, expected)


def test_rows_in_the_truths_neuron_order_are_read_in_place():
    row = np.arange(12, dtype=np.float32).reshape(3, 4)
    in_order = VideoPlan(np.array([0]), np.arange(3), np.array([2]))
    shuffled = VideoPlan(np.array([0]), np.array([2, 0, 1]), np.array([2]))
    assert in_order.in_order and not shuffled.in_order
    assert np.shares_memory(in_order.take(0, row), row)
    np.testing.assert_array_equal(in_order.take(0, row), row[:, :2])
    np.testing.assert_array_equal(shuffled.take(0, row), row[[2, 0, 1], :2])


def test_written_predictions_are_byte_stream_split_and_read_as_written(tmp_path):
    truth = _truth(n_mice=1, n_neurons=6, n_trials=6)
    pred = _predictions(truth, TIERS["live"])
    data = video_parquet.video_parquet_bytes(pred)
    meta = pq.ParquetFile(pa.BufferReader(data)).metadata
    chunks = {
        meta.row_group(0).column(c).path_in_schema: meta.row_group(0).column(c).encodings
        for c in range(meta.num_columns)
    }
    assert "BYTE_STREAM_SPLIT" in chunks[video_parquet.SPLIT_COLUMNS[0]]
    back = video_parquet.read_video_parquet(data)
    for written, read in zip(pred.values, back.values, strict=True):
        np.testing.assert_array_equal(written, read)
    # a file of the same table with Arrow's default encoding (as the 2023 kit wrote them)
    # scores the same
    plain = tmp_path / TRACK.submission_files["live"]
    pq.write_table(pq.read_table(pa.BufferReader(data)), plain, compression="brotli")
    ours = tmp_path / "ours" / TRACK.submission_files["live"]
    ours.parent.mkdir()
    ours.write_bytes(data)
    _same_reports(score(TRACK, truth, ours), score(TRACK, truth, plain))


def test_arrow_values_are_read_from_their_buffers_like_to_numpy():
    arrays = [
        pa.array(np.arange(10, dtype=np.float32)).slice(3, 5),
        pa.array(np.arange(10, dtype=np.float16)),
        pa.array(np.arange(10, dtype=np.int32)).slice(1),
        pa.array(np.array([2**64 - 1, 7], dtype=np.uint64)),
        pa.array(np.zeros(0, np.float64)),
        pa.array([1, None, 3], pa.int64()),  # nulls: through to_numpy (NaN)
        pa.array([[1.0], [2.0, 3.0]], pa.list_(pa.float32())).slice(1).offsets,
    ]
    for array in arrays:
        got = video_parquet._as_numpy(array)
        expected = array.to_numpy(zero_copy_only=False)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
