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
uploads are held in memory. With ``--valid-video-mb N`` a *valid* ``video-main`` submission
of about N MiB is made (a tiny simulated video mouse whose neurons are repeated until the
predictions are that large), uploaded in 8 MiB chunks, checked on completion and scored by
one worker: printed are its size, the seconds of each step and the peak resident memory of
the server and the worker (the readers hold a whole submission in memory). The competition
raises the rate limits so that the load is not refused. Everything stays on 127.0.0.1 and
every loop is bounded.

Run: ``python benchmarks/server_load.py [--clients 4] [--uploads 5] [--workers 2]``
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

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
from neurotwin.simulate import simulate_static, simulate_video

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


def _repeat_neurons(truth: Truth, k: int) -> Truth:
    """Return ``truth`` with every mouse's neurons repeated ``k`` times (new unit ids)."""
    mice = []
    for mouse in truth.mice:
        step = int(mouse.unit_ids.max()) + 1
        ids = np.concatenate([mouse.unit_ids + j * step for j in range(k)])
        tiers = {}
        for name, tier in mouse.tiers.items():
            tiled = {
                f: np.tile(getattr(tier, f), (1, k, 1))
                for f in ("responses", "rates")
                if getattr(tier, f) is not None
            }
            tiers[name] = TierTruth(**{**tier.__dict__, **tiled})
        mice.append(MouseTruth(mouse.name, ids, tiers))
    return Truth(**{**truth.__dict__, "mice": mice})


def _valid_video(url: str, folder: Path, mib: int, tmp: Path) -> dict[str, object]:
    """Upload, check and score one valid video submission of about ``mib`` MiB."""
    truth = load_truth(folder / "truth" / "video.npz")
    path = write_example(truth, VIDEO_TRACK, tmp / "valid-video", noise=1.0)
    size = path.stat().st_size
    chunk = 8 << 20
    with httpx.Client(base_url=url, timeout=3600) as http:
        r = http.post(
            "/api/v1/register",
            json={"email": "video@lab.org", "password": "load test", "team": "video"},
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
        done = http.post(f"/api/v1/uploads/{key}/complete", json={}, headers=headers)
        t2 = time.perf_counter()
    worker = subprocess.Popen(
        [sys.executable, "-m", "neurotwin", "serve", "worker", str(folder), "--once"],
        stdout=subprocess.DEVNULL,
    )
    peak = 0
    while worker.poll() is None:
        try:
            peak = max(peak, _peak_rss_mib(worker.pid))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.2)
    t3 = time.perf_counter()
    with session_factory(make_engine(load_competition(folder).database_url))() as s:
        status = s.scalar(select(Submission.status).where(Submission.track == VIDEO_TRACK))
    path.unlink()
    return {
        "bytes": size,
        "mib": round(size / 2**20, 1),
        "neurons_per_mouse": int(truth.mice[0].unit_ids.size),
        "prediction_values_mib": round(_values_bytes(truth) / 2**20, 1),
        "completion_status": done.status_code,
        "final_status": status,
        "upload_s": round(t1 - t0, 1),
        "check_s": round(t2 - t1, 1),
        "score_s": round(t3 - t2, 1),
        "worker_peak_rss_mib": peak,
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
    """Write a video-main truth whose valid submission is about ``mib`` MiB."""
    (mouse,) = simulate_video(tmp / "sim-video", "tiny", seed=0, competition=True)
    truth = make_truth(VIDEO_TRACK, [mouse.path], simulator=[mouse.truth])
    one = write_example(truth, VIDEO_TRACK, tmp / "one", noise=1.0)
    k = max(1, round(mib * 2**20 / one.stat().st_size))
    one.unlink()
    return save_truth(_repeat_neurons(truth, k), tmp / "video.npz")


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
        default=0,
        help="also upload, check and score one valid video submission of about this size",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="neurotwin-load-"))
    (mouse,) = simulate_static(tmp / "sim", "tiny", seed=0, competition=True)
    truth = make_truth(TRACK, [mouse.path], simulator=[mouse.truth])
    truth_file = save_truth(truth, tmp / "truth.npz")
    folder = tmp / "competition"
    tracks = {TRACK: str(truth_file)}
    if args.valid_video_mb:
        tracks[VIDEO_TRACK] = str(_video_truth(tmp, args.valid_video_mb))
    init_competition(
        folder,
        tracks=tracks,
        submissions_per_day=100_000,
        max_upload_mb=max(1024, args.big_mb + 1, 2 * args.valid_video_mb),
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
    video = (
        _valid_video(f"http://127.0.0.1:{port}", folder, args.valid_video_mb, tmp)
        if args.valid_video_mb
        else None
    )
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
                "valid_video": video,
                "server_peak_rss_mib_after_valid_video": rss_after_video,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
