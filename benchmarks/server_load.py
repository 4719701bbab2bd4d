"""Load the competition server on loopback; prints JSON.

A competition on a tiny simulated static mouse (SQLite in a temporary folder) served by
``neurotwin serve run`` and scored by ``--workers`` ``neurotwin serve worker`` processes.
``--clients`` threads each register a team and upload ``--uploads`` submissions through
the resumable API (start, chunks of ``--chunk-kb``, complete). Printed: uploads accepted
per minute, scored per minute (until the queue is empty), upload latency (median and 95th
percentile, start to queued), and the submissions lost: accepted but neither scored nor
failed at the end (goal: 0). With ``--big-mb N`` one upload of N MiB of random bytes is
then streamed in 8 MiB chunks and timed (it is refused when completed, as it is not a
submission); the server process's peak resident memory before and after it shows whether
uploads are held in memory. With ``--valid-video-mb N [N ...]`` a *valid* ``video-main``
submission of about N MiB is made for each size, in turn (a ground truth shaped like the 2023
release: mice of up to 8,000 neurons, trials of 250 scored frames, as many mice as the size
needs), uploaded in 8 MiB chunks, checked on completion and scored by one worker: printed
per size are its size, the ground truth's
arrays in memory, the seconds of each step and the peak resident memory of the server, of
the child process that checks a large upload and of the worker, and the CPU seconds of
the check's child process and of the worker (wall seconds depend on the machine's load).
The submission is written row group by row group (``--one-row-group`` writes all rows in
one, as Arrow's defaults do), so the benchmark itself never holds it. The competition raises
the rate limits so that the load is not refused. Everything stays on 127.0.0.1 and every
loop is bounded.

Run: ``python benchmarks/server_load.py [--clients 4] [--uploads 5] [--workers 2]``;
large submissions: ``python benchmarks/server_load.py --clients 1 --uploads 1 --workers 1
--valid-video-mb 64 256 1024``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import func, select

from neurotwin.scoring.tracks import PHASES, get_track
from neurotwin.scoring.truth import MouseTruth, TierTruth, Truth, make_truth
from neurotwin.scoring.truth_file import load_truth, save_truth
from neurotwin.server.config import load_competition
from neurotwin.server.db import make_engine, session_factory
from neurotwin.server.demo import init_competition, write_example
from neurotwin.server.models import Submission
from neurotwin.simulate import simulate_static

TRACK = "sensorium+"
VIDEO_TRACK = "video-main"


def _client(url: str, index: int, uploads: int, path: Path, chunk: int, out: list) -> None:
    data = path.read_bytes()
    with httpx.Client(base_url=url, timeout=120) as http:
        r = http.post(
            "/api/v1/register",
            json={"email": f"c{index}@lab.org", "password": "load test", "team": f"team {index}"},
        )
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        for _ in range(uploads):
            t0 = time.perf_counter()
            r = http.post(
                "/api/v1/uploads",
                json={"track": TRACK, "filename": "sub.zip", "size": len(data)},
                headers=headers,
            )
            key = r.json()["key"]
            for offset in range(0, len(data), chunk):
                http.put(
                    f"/api/v1/uploads/{key}",
                    content=data[offset : offset + chunk],
                    headers={**headers, "Upload-Offset": str(offset)},
                )
            r = http.post(f"/api/v1/uploads/{key}/complete", json={}, headers=headers)
            out.append((r.status_code, time.perf_counter() - t0))


def _peak_rss_mib(pid: int) -> int:
    """Return a process's peak resident memory (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return -1


def _big_upload(url: str, mib: int, tmp: Path) -> dict[str, float | int]:
    path = tmp / "big.zip"
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(rng.bytes(1 << 20))
    chunk = 8 << 20
    with httpx.Client(base_url=url, timeout=600) as http:
        r = http.post(
            "/api/v1/register",
            json={"email": "big@lab.org", "password": "load test", "team": "big"},
        )
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        size = path.stat().st_size
        r = http.post(
            "/api/v1/uploads",
            json={"track": TRACK, "filename": "big.zip", "size": size},
            headers=headers,
        )
        key = r.json()["key"]
        t0 = time.perf_counter()
        with open(path, "rb") as f:
            for offset in range(0, size, chunk):
                r = http.put(
                    f"/api/v1/uploads/{key}",
                    content=f.read(chunk),
                    headers={**headers, "Upload-Offset": str(offset)},
                )
        seconds = time.perf_counter() - t0
        received = r.json()["offset"]
        status = http.post(f"/api/v1/uploads/{key}/complete", json={}, headers=headers)
    path.unlink()
    return {
        "mib": mib,
        "received_bytes": received,
        "seconds": round(seconds, 2),
        "mib_per_s": round(mib / seconds, 1),
        "completion_status": status.status_code,
    }


def _write_video_submission(truth: Truth, dest: Path, one_row_group: bool) -> Path:
    """Write a valid video-main zip (truth responses plus noise) row group by row group."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from neurotwin.scoring.video_parquet import BROTLI_LEVEL, DICTIONARY_COLUMNS, ROW_GROUP_VALUES

    track = get_track(VIDEO_TRACK)
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zf:
        for phase in PHASES:
            with zf.open(track.submission_files[phase], "w", force_zip64=True) as member:
                sink = pa.PythonFile(member, mode="w")
                writer = None
                for mouse in truth.mice:
                    tier = mouse.tiers[track.tier(phase)]
                    assert tier.n_frames is not None
                    row_values = len(mouse.unit_ids) * int(tier.n_frames.max())
                    step = tier.n_trials if one_row_group else ROW_GROUP_VALUES // row_values
                    ids = pa.array(mouse.unit_ids.astype(np.int64))
                    for start in range(0, tier.n_trials, max(1, step)):
                        ks = list(range(start, min(start + max(1, step), tier.n_trials)))
                        table = _video_rows(mouse.name, mouse.unit_ids, tier, ks, ids, rng)
                        if writer is None:
                            writer = pq.ParquetWriter(
                                sink,
                                table.schema,
                                compression="brotli",
                                compression_level=BROTLI_LEVEL,
                                use_dictionary=DICTIONARY_COLUMNS,
                            )
                        writer.write_table(table, row_group_size=len(ks))
                assert writer is not None
                writer.close()
                sink.close()
    return dest


def _video_rows(
    name: str, unit_ids: np.ndarray, tier: TierTruth, ks: list[int], ids: Any, rng: Any
) -> Any:
    """Return the parquet rows of trials ``ks``: responses plus Gaussian noise."""
    import pyarrow as pa

    frames = [int(tier.n_frames[k]) for k in ks] if tier.n_frames is not None else []
    n = len(unit_ids)
    flat = np.concatenate(
        [
            (r + rng.standard_normal(r.shape, np.float32)).ravel()
            for r in (tier.responses[k, :, :f] for k, f in zip(ks, frames, strict=True))
        ]
    )
    inner = np.concatenate([[0], np.cumsum(np.repeat(frames, n))]).astype(np.int64)
    series = pa.LargeListArray.from_arrays(pa.array(inner), pa.array(flat))
    outer = pa.array(np.arange(0, n * len(ks) + 1, n, dtype=np.int32))
    id_offsets = pa.array(np.arange(0, n * len(ks) + 1, n, dtype=np.int32))
    return pa.table(
        {
            "mouse": pa.array([name] * len(ks), pa.string()),
            "trial_indices": pa.array([str(tier.trial_ids[k]) for k in ks], pa.string()),
            "prediction": pa.ListArray.from_arrays(outer, series),
            "neuron_ids": pa.ListArray.from_arrays(id_offsets, pa.concat_arrays([ids] * len(ks))),
        }
    )


def _truth_mib(truth: Truth) -> float:
    """Return the MiB of the truth's response (and rate) arrays in memory."""
    total = sum(
        a.nbytes
        for m in truth.mice
        for t in m.tiers.values()
        for a in (t.responses, t.rates)
        if a is not None
    )
    return round(total / 2**20, 1)


def _cpu_s(pid: int) -> float:
    """Return a process's CPU seconds so far (user and system, from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    """Return the ids of a process's children, grandchildren and so on (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, parent in parents.items() if parent == p]
        out += kids
        todo += kids
    return out


class _PeakWatch:
    """Follow the peak resident memory of a process's descendants while it runs."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self.cpu: dict[int, float] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for child in _descendants(self.pid):
                try:
                    self.peak = max(self.peak, _peak_rss_mib(child))
                    self.cpu[child] = _cpu_s(child)
                except OSError:
                    pass

    def __enter__(self) -> _PeakWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _valid_video(
    url: str, folder: Path, truth_file: Path, tmp: Path, one_row_group: bool, server: int
) -> dict[str, object]:
    """Upload, check and score one valid video submission made for ``truth_file``."""
    truth = load_truth(truth_file)
    truth_mib = _truth_mib(truth)
    path = _write_video_submission(truth, tmp / "valid-video.zip", one_row_group)
    neurons = int(truth.mice[0].unit_ids.size)
    values = _values_bytes(truth)
    del truth
    size = path.stat().st_size
    chunk = 8 << 20
    with httpx.Client(base_url=url, timeout=3600) as http:
        r = http.post(
            "/api/v1/register",
            json={"email": f"video{size}@lab.org", "password": "load test", "team": f"v{size}"},
        )
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        t0 = time.perf_counter()
        key = http.post(
            "/api/v1/uploads",
            json={"track": VIDEO_TRACK, "filename": path.name, "size": size},
            headers=headers,
        ).json()["key"]
        with open(path, "rb") as f:
            for offset in range(0, size, chunk):
                r = http.put(
                    f"/api/v1/uploads/{key}",
                    content=f.read(chunk),
                    headers={**headers, "Upload-Offset": str(offset)},
                )
                r.raise_for_status()
        t1 = time.perf_counter()
        with _PeakWatch(server) as check_watch:
            done = http.post(f"/api/v1/uploads/{key}/complete", json={}, headers=headers)
        t2 = time.perf_counter()
    path.unlink()
    worker = subprocess.Popen(
        [sys.executable, "-m", "neurotwin", "serve", "worker", str(folder), "--once"],
        stdout=subprocess.DEVNULL,
    )
    peak, cpu = 0, 0.0
    while worker.poll() is None:
        try:
            peak = max(peak, _peak_rss_mib(worker.pid))
            cpu = _cpu_s(worker.pid)
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.2)
    t3 = time.perf_counter()
    with session_factory(make_engine(load_competition(folder).database_url))() as s:
        sub = s.scalars(
            select(Submission)
            .where(Submission.track == VIDEO_TRACK)
            .order_by(Submission.id.desc())
            .limit(1)
        ).one()
        status, error = sub.status, sub.error
    return {
        "bytes": size,
        "mib": round(size / 2**20, 1),
        "one_row_group": one_row_group,
        "neurons_per_mouse": neurons,
        "prediction_values_mib": round(values / 2**20, 1),
        "truth_arrays_mib": truth_mib,
        "completion_status": done.status_code,
        "completion_detail": None if done.status_code == 201 else done.text[:300],
        "final_status": status,
        "error": error,
        "upload_s": round(t1 - t0, 1),
        "check_s": round(t2 - t1, 1),
        "check_child_peak_rss_mib": check_watch.peak,
        "check_child_cpu_s": round(max(check_watch.cpu.values(), default=0.0), 1),
        "server_peak_rss_mib_after": _peak_rss_mib(server),
        "score_s": round(t3 - t2, 1),
        "worker_peak_rss_mib": peak,
        "worker_cpu_s": round(cpu, 1),
    }


def _values_bytes(truth: Truth) -> int:
    """Return the bytes of a video submission's predictions as float32, both phases."""
    total = 0
    track = get_track(VIDEO_TRACK)
    for mouse in truth.mice:
        for phase in PHASES:
            tier = mouse.tiers.get(track.tier(phase))
            if tier is not None and tier.n_frames is not None:
                total += 4 * int(mouse.unit_ids.size) * int(np.sum(tier.n_frames))
    return total


def _video_truth(tmp: Path, mib: int) -> Path:
    """Write a video-main truth whose valid submission holds about ``mib`` MiB of float32.

    Like the 2023 release: mice of up to 8,000 neurons, trials of 320 frames (250 scored),
    10 trials per phase, videos shown twice; as many mice as the size needs.
    """
    track = get_track(VIDEO_TRACK)
    rng = np.random.default_rng(0)
    trials, frames = 10, 250
    per_neuron = 4 * frames * trials * len(PHASES)
    neurons = max(1, min(8000, round(mib * 2**20 / per_neuron)))
    n_mice = max(1, round(mib * 2**20 / (per_neuron * neurons)))
    mice = []
    for i in range(n_mice):
        tiers = {}
        for j, phase in enumerate(PHASES):
            responses = rng.gamma(2.0, 1.0, (trials, neurons, frames)).astype(np.float32)
            tiers[track.tier(phase)] = TierTruth(
                trial_ids=np.array([f"{j}{k:04d}" for k in range(trials)]),
                stimulus_ids=(np.arange(trials) // 2).astype(str),
                responses=responses,
                n_frames=np.full(trials, frames, np.int64),
                lengths=np.full(trials, 320, np.int64),
            )
        ids = np.arange(neurons, dtype=np.int64)
        mice.append(MouseTruth(f"dynamic{i}-1-1-Video-" + "0" * 32, ids, tiers))
    truth = Truth(track.identifier, track.version, "video", mice)
    return save_truth(truth, tmp / f"video-{mib}.npz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--uploads", type=int, default=5, help="per client")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-kb", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for scoring")
    parser.add_argument("--big-mb", type=int, default=0, help="also stream one upload this large")
    parser.add_argument(
        "--valid-video-mb",
        type=int,
        nargs="+",
        default=[],
        help="also upload, check and score a valid video submission of about each size",
    )
    parser.add_argument(
        "--one-row-group",
        action="store_true",
        help="write each video submission file as one row group (Arrow's default)",
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="neurotwin-load-") as name,
        contextlib.ExitStack() as processes,  # stopped before the folder is removed
    ):
        _run(args, Path(name), processes)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait()


def _run(args: argparse.Namespace, tmp: Path, processes: contextlib.ExitStack) -> None:
    """Simulate, start the server and workers, upload, score; print the JSON."""
    (mouse,) = simulate_static(tmp / "sim", "tiny", seed=0, competition=True)
    truth = make_truth(TRACK, [mouse.path], simulator=[mouse.truth])
    truth_file = save_truth(truth, tmp / "truth.npz")
    folder = tmp / "competition"
    tracks = {TRACK: str(truth_file)}
    biggest = max(args.valid_video_mb, default=0)
    if args.valid_video_mb:
        tracks[VIDEO_TRACK] = str(tmp / "video.npz")
        shutil.copyfile(_video_truth(tmp, 1), tracks[VIDEO_TRACK])
        os.unlink(tmp / "video-1.npz")
    init_competition(
        folder,
        tracks=tracks,
        submissions_per_day=100_000,
        max_upload_mb=max(1024, args.big_mb + 1, 2 * biggest),
    )
    config_path = folder / "competition.json"
    config = json.loads(config_path.read_text())
    config["rate_limits"] = {a: [1_000_000, 60] for a in ("login", "register", "upload")}
    config_path.write_text(json.dumps(config))
    competition = load_competition(folder)
    example = write_example(truth, TRACK, tmp / "example", noise=1.0)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "neurotwin", "serve", "run", str(folder), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    processes.callback(_stop, server)
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/competition", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start") from None
            time.sleep(0.2)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "neurotwin", "serve", "worker", str(folder), "--poll", "0.2"],
            stdout=subprocess.DEVNULL,
            env={**os.environ},
        )
        for _ in range(args.workers)
    ]
    for worker in workers:
        processes.callback(_stop, worker)
    results: list[tuple[int, float]] = []
    t0 = time.perf_counter()
    clients = [
        threading.Thread(
            target=_client,
            args=(
                f"http://127.0.0.1:{port}",
                i,
                args.uploads,
                example,
                args.chunk_kb << 10,
                results,
            ),
        )
        for i in range(args.clients)
    ]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    upload_s = time.perf_counter() - t0
    accepted = sum(1 for code, _ in results if code == 201)
    sessions = session_factory(make_engine(competition.database_url))
    deadline = time.monotonic() + args.timeout
    done = 0
    while time.monotonic() < deadline:
        with sessions() as s:
            done = int(
                s.scalar(
                    select(func.count(Submission.id)).where(
                        Submission.status.in_(["scored", "failed"])
                    )
                )
                or 0
            )
        if done >= accepted:
            break
        time.sleep(0.2)
    total_s = time.perf_counter() - t0
    with sessions() as s:
        scored = int(
            s.scalar(select(func.count(Submission.id)).where(Submission.status == "scored")) or 0
        )
        stored = int(s.scalar(select(func.count(Submission.id))) or 0)
    for w in workers:
        w.terminate()
        w.wait()
    rss_before_big = _peak_rss_mib(server.pid)
    big = _big_upload(f"http://127.0.0.1:{port}", args.big_mb, tmp) if args.big_mb else None
    rss_after = _peak_rss_mib(server.pid)
    video = []
    for mib in args.valid_video_mb:
        # the competition's truth file is replaced by one sized for this submission
        truth_path = folder / "truth" / "video.npz"
        made = _video_truth(tmp, mib)
        os.replace(made, truth_path)
        video.append(
            _valid_video(
                f"http://127.0.0.1:{port}",
                folder,
                truth_path,
                tmp,
                args.one_row_group,
                server.pid,
            )
        )
        print(json.dumps(video[-1]), file=sys.stderr, flush=True)
    rss_after_video = _peak_rss_mib(server.pid)
    server.terminate()
    server.wait()
    latency = np.array([t for code, t in results if code == 201])
    print(
        json.dumps(
            {
                "clients": args.clients,
                "uploads_per_client": args.uploads,
                "workers": args.workers,
                "upload_bytes": example.stat().st_size,
                "accepted": accepted,
                "refused": len(results) - accepted,
                "accepted_per_minute": round(60 * accepted / upload_s, 1),
                "scored": scored,
                "scored_per_minute": round(60 * scored / total_s, 1),
                "upload_latency_s": {
                    "median": round(float(np.median(latency)), 3),
                    "p95": round(float(np.percentile(latency, 95)), 3),
                },
                "stored": stored,
                "lost": accepted - done,
                "database": "sqlite",
                "big_upload": big,
                "server_peak_rss_mib_before_big_upload": rss_before_big,
                "server_peak_rss_mib": rss_after,
                "valid_video": video or None,
                "server_peak_rss_mib_after_valid_video": rss_after_video,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
