"""SIGKILL at random moments, including before the first checkpoint: the run restarts or resumes from the folder it
left, continues to its end, and metrics.jsonl has every step exactly once."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evoface.core.checkpoints import load_checkpoint
from tests.test_run_safety import make_images

ROOT = Path(__file__).resolve().parents[1]


def start(command: str, run: Path, args: list[str]) -> subprocess.Popen:
    """A new run if the folder holds no config yet (killed that early), else a resume of it."""
    where = ["--resume", str(run)] if (run / "config.json").is_file() else ["--out", str(run), *args]
    return subprocess.Popen([sys.executable, "-m", "cli", command, *where], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def kill_at(process: subprocess.Popen, moment) -> None:
    """SIGKILL ``process`` once ``moment()`` is true (polled), or leave it be if it ended first."""
    deadline = time.time() + 300
    while process.poll() is None and not moment() and time.time() < deadline:
        time.sleep(0.01)
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.communicate()


def crash_and_finish(command: str, run: Path, args: list[str], seed: int, latest: float) -> None:
    """Kill once right after config.json appears (before any checkpoint), then at a random moment, then let the run
    finish; every restart must succeed."""
    rng = random.Random(seed)
    process = start(command, run, args)
    kill_at(process, lambda: (run / "config.json").is_file())
    assert not (run / "checkpoints" / "last.pt").exists()
    started, delay = time.time(), rng.uniform(0.5, latest)
    process = start(command, run, args)
    kill_at(process, lambda: time.time() - started > delay)
    process = start(command, run, args)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    assert "Traceback" not in err


def metric_steps(run: Path, key: str) -> list[int]:
    return [json.loads(line)[key] for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_evolve_killed_at_random_moments_continues_without_gaps_or_duplicates(tmp_path):
    run = tmp_path / "ga"
    args = ["--mu", "6", "--q", "2", "--genome-size", "8", "--mutation", "reset", "--prior", "none",
            "--generations", "300", "--checkpoint-every", "20", "--snapshot-every", "50", "--device", "cpu"]
    crash_and_finish("evolve", run, args, seed=14, latest=12.0)
    assert metric_steps(run, "generation") == list(range(1, 301))
    assert load_checkpoint(run / "checkpoints" / "last.pt", "evolve")["generation"] == 300
    assert not list(run.glob("checkpoints/*.tmp")) and not (run / ".lock").exists()


@pytest.mark.slow
def test_train_gan_killed_at_random_moments_continues_without_gaps_or_duplicates(tmp_path):
    faces = make_images(tmp_path / "faces", 24)
    run = tmp_path / "gan"
    args = ["--data", str(faces), "--size", "32", "--epochs", "4", "--batch-size", "8", "--nz", "4", "--ngf", "4",
            "--ndf", "4", "--device", "cpu"]
    crash_and_finish("train-gan", run, args, seed=13, latest=15.0)
    assert metric_steps(run, "epoch") == [1, 2, 3, 4]
    assert load_checkpoint(run / "checkpoints" / "last.pt", "gan", for_resume=True)["epoch"] == 4
