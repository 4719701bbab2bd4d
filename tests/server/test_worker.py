"""The queue and the worker: failures, a killed worker, concurrent claims, rescoring."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

from sqlalchemy import select, update

from neurotwin.errors import NeurotwinError
from neurotwin.server import organiser, queue, scoring_adapter
from neurotwin.server.db import make_engine, session_factory, utcnow
from neurotwin.server.models import Job, Score, Submission
from neurotwin.server.worker import run_worker
from server_helpers import STATIC, register, upload


def _sessions(competition):
    return session_factory(make_engine(competition.database_url))


def test_failed_scoring_is_shown_never_ranked_and_not_counted(
    client, competition, examples, tmp_path, monkeypatch
):
    from server_helpers import write_competition

    one_a_day = write_competition(
        tmp_path / "strict",
        {STATIC: competition.tracks[STATIC].truth["live"]},
        competition.database_url,
        submissions_per_day=1,
    )
    client.app.state.competition = one_a_day
    team = register(client, "a@lab.org", "alpha")
    assert upload(client, team, STATIC, examples[f"{STATIC}-good"]).status_code == 201

    def broken(*args, **kwargs):
        raise NeurotwinError("truth file truth/x.npz: the scorer cannot read it")

    monkeypatch.setattr(scoring_adapter, "score", broken)
    run_worker(one_a_day, once=True)
    (sub,) = client.get("/api/v1/submissions", headers=team).json()
    assert sub["status"] == "failed" and "the scorer cannot read it" in sub["error"]
    assert client.get(f"/api/v1/leaderboard/{STATIC}/live").json()["rows"] == []
    assert "the scorer cannot read it" in client.get("/team", headers=team).text
    # the failure does not use up the day's single submission
    monkeypatch.undo()
    assert upload(client, team, STATIC, examples[f"{STATIC}-good"]).status_code == 201
    run_worker(one_a_day, once=True)
    assert len(client.get(f"/api/v1/leaderboard/{STATIC}/live").json()["rows"]) == 1
    assert upload(client, team, STATIC, examples[f"{STATIC}-good"]).status_code == 429


_HANGING_WORKER = """
import sys, time
from neurotwin.server import scoring_adapter, worker
from neurotwin.server.config import load_competition
def hang(*args, **kwargs):
    print("scoring", flush=True)
    time.sleep(600)
scoring_adapter.score = hang
worker.run_worker(load_competition(sys.argv[1], sys.argv[2]), once=True, lease_s=1.5)
"""


def test_a_worker_killed_mid_scoring_leaves_its_submission_queued_again(
    client, competition, examples
):
    team = register(client, "a@lab.org", "alpha")
    sub_id = upload(client, team, STATIC, examples[f"{STATIC}-good"]).json()["id"]
    proc = subprocess.Popen(
        [sys.executable, "-c", _HANGING_WORKER, str(competition.folder), competition.database_url],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "scoring"  # it holds the job, mid-scoring
        sessions = _sessions(competition)
        with sessions() as s:
            job = s.scalar(select(Job).where(Job.submission_id == sub_id))
            assert job.status == "running" and job.worker.endswith(f":{proc.pid}")
            assert s.get(Submission, sub_id).status == "scoring"
        # while it lives, its heartbeat keeps the lease: no other worker takes the job
        time.sleep(2.0)
        assert run_worker(competition, once=True) == 0
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(1.6)  # the dead worker's lease runs out
    assert run_worker(competition, once=True) == 1
    with sessions() as s:
        job = s.scalar(select(Job).where(Job.submission_id == sub_id))
        assert (job.status, job.attempts) == ("done", 2)
        assert s.get(Submission, sub_id).status == "scored"
    assert len(client.get(f"/api/v1/leaderboard/{STATIC}/live").json()["rows"]) == 1


def test_a_job_whose_workers_keep_dying_fails_with_the_reason(client, competition, examples):
    team = register(client, "a@lab.org", "alpha")
    sub_id = upload(client, team, STATIC, examples[f"{STATIC}-good"]).json()["id"]
    sessions = _sessions(competition)
    with sessions.begin() as s:  # as if queue.MAX_ATTEMPTS workers had died holding it
        s.execute(
            update(Job).values(
                status="running", attempts=queue.MAX_ATTEMPTS, lease_until=utcnow() - timedelta(1)
            )
        )
    run_worker(competition, once=True)
    sub = client.get(f"/api/v1/submissions/{sub_id}", headers=team).json()
    assert sub["status"] == "failed" and "without finishing" in sub["error"]


def test_concurrent_workers_never_claim_the_same_job(client, competition, examples):
    team = register(client, "a@lab.org", "alpha")
    for _ in range(4):
        upload(client, team, STATIC, examples[f"{STATIC}-good"])
    engine = make_engine(competition.database_url)
    sessions = session_factory(engine)
    claimed, errors = [], []
    barrier = threading.Barrier(6)

    def grab():
        barrier.wait()
        try:
            with sessions() as s:
                job = queue.claim(engine, s, f"w{threading.get_ident()}", 60)
            claimed.append(None if job is None else job.id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=grab) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = [c for c in claimed if c is not None]
    assert sorted(got) == sorted(set(got)) and len(got) == 4 and claimed.count(None) == 2
    engine.dispose()


def test_rescore_keeps_old_scores_until_new_ones_exist(client, competition, examples):
    team = register(client, "a@lab.org", "alpha")
    sub_id = upload(client, team, STATIC, examples[f"{STATIC}-good"]).json()["id"]
    run_worker(competition, once=True)
    before = client.get(f"/api/v1/leaderboard/{STATIC}/live").json()["rows"]
    sessions = _sessions(competition)
    with sessions.begin() as s:
        assert organiser.rescore(s) == 1
        assert organiser.rescore(s) == 0  # not queued twice
    # queued, not yet run: the old score is still on the board, marked as being rescored
    assert client.get(f"/api/v1/leaderboard/{STATIC}/live").json()["rows"] == before
    assert client.get(f"/api/v1/submissions/{sub_id}", headers=team).json()["rescoring"]
    run_worker(competition, once=True)
    with sessions() as s:
        scores = s.scalars(select(Score).where(Score.phase == "live").order_by(Score.id)).all()
        assert [sc.current for sc in scores] == [False, True]
        assert all(
            sc.scorer == scoring_adapter.SCORER and sc.track_version == "1.0" for sc in scores
        )
        assert len(scores[1].truth_sha256) == 64
    after = client.get(f"/api/v1/leaderboard/{STATIC}/live").json()["rows"]
    assert after[0]["score"] == before[0]["score"]  # same scorer, same truth: same number


def test_disqualified_and_chosen_submissions(client, competition, examples):
    alpha = register(client, "a@lab.org", "alpha")
    beta = register(client, "b@lab.org", "beta")
    good = upload(client, alpha, STATIC, examples[f"{STATIC}-good"]).json()["id"]
    weak = upload(client, alpha, STATIC, examples[f"{STATIC}-poor"]).json()["id"]
    upload(client, beta, STATIC, examples[f"{STATIC}-weak"])
    run_worker(competition, once=True)
    sessions = _sessions(competition)
    live = client.get(f"/api/v1/leaderboard/{STATIC}/live").json()["rows"]
    assert next((r["team"], r["submission"], r["entries"]) for r in live) == ("alpha", good, 2)
    # the final ranking takes each team's chosen submission (latest scored by default)
    with sessions.begin() as s:
        organiser.release(s, STATIC)
    final = client.get(f"/api/v1/leaderboard/{STATIC}/final").json()["rows"]
    assert {r["team"]: r["submission"] for r in final}["alpha"] == weak
    assert client.post(f"/api/v1/submissions/{good}/choose", headers=alpha).json()["chosen"]
    final = client.get(f"/api/v1/leaderboard/{STATIC}/final").json()["rows"]
    assert {r["team"]: r["submission"] for r in final}["alpha"] == good
    assert client.post(f"/api/v1/submissions/{good}/choose", headers=beta).status_code == 404
    with sessions.begin() as s:
        organiser.disqualify(s, submission_id=good)
    live = client.get(f"/api/v1/leaderboard/{STATIC}/live").json()["rows"]
    assert {r["team"]: r["submission"] for r in live}["alpha"] == weak
    with sessions.begin() as s:
        organiser.disqualify(s, team="alpha")
    assert [r["team"] for r in client.get(f"/api/v1/leaderboard/{STATIC}/live").json()["rows"]] == [
        "beta"
    ]
    with sessions() as s:
        export = organiser.export_csv(s)
    assert export.count("\n") == 1 + 3 * 2  # header, 3 submissions x 2 phases
