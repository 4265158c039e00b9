"""evoface illuminate: the glue around pyribs. Measures against a plain computation, pyribs' state through a
weights-only checkpoint, exact resume, the map's labels, other commands reading the archive, and bad input."""

from __future__ import annotations

import colorsys
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from ribs.archives import GridArchive
from ribs.schedulers import Scheduler

from evoface.core.checkpoints import load_checkpoint, save_atomic
from evoface.illuminate import archive_images, illuminate, resume_config
from evoface.illuminate_config import IlluminateConfig
from evoface.qd import archive_state
from evoface.qd.emitters import cma_me, latent_ga
from evoface.qd.figures import MapAxes, heatmap_figure, map_figure
from evoface.qd.measures import Measure, face_space_measure, hue, luminance, parse_ranges
from evoface.ga.seed_stream import SeedStream
from neural.face_space import load_face_space
from tests.conftest import assert_one_line_error, run_cli, synthetic_faces
from tests.test_crash_resume import ROOT, crash_and_finish, metric_steps

TINY = {"batch": 8, "emitter_count": 2, "cells": "4x4"}  # 16 evaluations an iteration


def test_luminance_and_hue_match_a_plain_computation():
    images = np.random.default_rng(0).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
    images[0] = 128  # grey: hue 0
    for image, lum, degrees in zip(images, luminance(images), hue(images)):
        r, g, b = image[16:48, 16:48].reshape(-1, 3).mean(0) / 255
        assert lum == pytest.approx(0.2126 * r + 0.7152 * g + 0.0722 * b)
        expected = colorsys.rgb_to_hsv(r, g, b)[0] * 360
        assert degrees == pytest.approx(expected - 360 if expected > 180 else expected, abs=1e-9)


def test_face_space_measure_is_the_coordinate_in_real_faces_stds():
    space = load_face_space()
    images = synthetic_faces(4, 64)
    x = images.reshape(4, -1).astype(np.float64) / 255
    mean, components, std = (t.double().numpy() for t in (space.mean, space.components, space.std))
    expected = (x - mean) @ components[:, 3] / std[3]
    assert np.allclose(face_space_measure(space, 3)(images, None), expected, atol=1e-4)


def test_ranges_parse_and_bad_ones_are_refused():
    assert parse_ranges("-2:2, 0.1:0.9", 2) == [(-2.0, 2.0), (0.1, 0.9)]
    for text in ("2:-2", "1:1", "a:b", "-2:2", "0:nan,0:1"):
        with pytest.raises(Exception, match="--ranges"):
            parse_ranges(text, 2)


def _archive(seed: int = 1) -> GridArchive:
    return GridArchive(solution_dim=5, dims=[4, 3], ranges=[(-1, 1), (0, 2)], seed=seed, solution_dtype=np.float32)


def _run_scheduler(scheduler: Scheduler, steps: int, rng: np.random.Generator) -> None:
    for _ in range(steps):
        genes = scheduler.ask()
        scheduler.tell(-np.square(genes).sum(1), np.stack([genes[:, 0], genes[:, 1] + 1], 1)
                       + rng.normal(0, 0.01, (len(genes), 2)))


def test_archive_and_emitters_round_trip_through_a_weights_only_checkpoint(tmp_path):
    archive = _archive()
    emitters = [cma_me(archive, 7, 6, sigma0=0.5), latent_ga(archive, SeedStream(9), 6, sigma=0.5,
                                                                latent_sigma=0.3, latent_indpb=0.5)]
    scheduler = Scheduler(archive, emitters)
    _run_scheduler(scheduler, 5, np.random.default_rng(0))
    save_atomic({"kind": "test", "archive": archive_state.capture(archive),
                 "emitters": [archive_state.capture(e, shared=(archive,)) for e in emitters],
                 "scheduler": archive_state.capture(scheduler, shared=(archive, *emitters))}, tmp_path / "a.pt")
    state = load_checkpoint(tmp_path / "a.pt", "test")  # torch.load(weights_only=True)
    copy = _archive(seed=99)
    copies = [cma_me(copy, 1, 6, sigma0=0.5), latent_ga(copy, SeedStream(2), 6, sigma=0.5, latent_sigma=0.3,
                                                         latent_indpb=0.5)]
    copy_scheduler = Scheduler(copy, copies)
    archive_state.restore(copy, state["archive"])
    for emitter, saved in zip(copies, state["emitters"]):
        archive_state.restore(emitter, saved)
    archive_state.restore(copy_scheduler, state["scheduler"])
    for name, values in archive.data().items():
        assert np.array_equal(values, copy.data()[name]), name
    assert copy.stats == archive.stats
    _run_scheduler(scheduler, 3, np.random.default_rng(1))
    _run_scheduler(copy_scheduler, 3, np.random.default_rng(1))
    for name, values in archive.data().items():
        assert np.array_equal(values, copy.data()[name]), name


@pytest.mark.parametrize("genome", ["latent", "pixel"])
def test_resume_is_exact(tmp_path, genome):
    whole, split = tmp_path / "whole", tmp_path / "split"
    illuminate(IlluminateConfig(out=str(whole), genome=genome, evaluations=128, **TINY))
    illuminate(IlluminateConfig(out=str(split), genome=genome, evaluations=64, **TINY))
    illuminate(resume_config(split, evaluations=128), resume=True)
    a, b = (load_checkpoint(run / "checkpoints" / "last.pt", "illuminate") for run in (whole, split))
    occupied = a["archive"]["_store"]["_props"]["occupied"]
    assert torch.equal(occupied, b["archive"]["_store"]["_props"]["occupied"])
    for name, values in a["archive"]["_store"]["_fields"].items():  # empty cells hold whatever memory held
        assert torch.equal(values[occupied], b["archive"]["_store"]["_fields"][name][occupied]), name
    rows = [[json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()] for run in (whole, split)]
    keep = ("iteration", "evaluations", "coverage", "qd_score", "best")
    assert [{k: r[k] for k in keep} for r in rows[0]] == [{k: r[k] for k in keep} for r in rows[1]]
    assert len(archive_images(split)) == b["archive"]["_store"]["_props"]["n_occupied"] > 0


def test_other_commands_read_the_archive(tmp_path, capsys):
    from evoface.compare import ga_label, ga_samples
    from evoface.sampling import sample_images
    from evoface.studio.runs import CurveReader, best_image, list_runs, run_kind

    run = tmp_path / "run"
    illuminate(IlluminateConfig(out=str(run), evaluations=32, snapshot_every=1, **TINY))
    elites = sample_images(run, 5)
    assert elites.shape == (5, 64, 64, 3)
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt", "illuminate")
    assert ga_label(ckpt) == "QD (latent, gan)"
    assert ga_label({**ckpt, "genome": "pixel"}) == "QD (pixel)"
    (row,) = ga_samples([str(run)], 4, "best")  # the elites, not only the best
    assert row.name == "QD (latent, gan)" and len(row.images) == 4
    assert run_kind(run) == "illuminate" and best_image(run) == run / "map.png"
    assert list_runs(tmp_path)[0]["generation"] == 2 and len(CurveReader().points(run / "metrics.jsonl")) == 2
    code, _ = run_cli(["sample", "--model", str(run), "-n", "3", "--out", str(tmp_path / "elites.png")], capsys)
    assert code == 0 and (tmp_path / "elites.png").is_file()


def test_a_python_measure_and_the_run_folder(tmp_path):
    red = Measure("red", lambda images, genes: images[..., 0].mean((1, 2)) / 255, 0.0, 1.0)
    result = illuminate(IlluminateConfig(out=str(tmp_path / "run"), measures="red,luminance", evaluations=32,
                                         **TINY), measures=[red])
    run = tmp_path / "run"
    for name in ("config.json", "metrics.jsonl", "map.png", "heatmap.png", "plots/qd.png", "checkpoints/last.pt"):
        assert (run / name).is_file(), name
    stored = json.loads((run / "config.json").read_text())
    assert stored["ranges"].startswith("0.0:1.0,") and stored["kind"] == "illuminate"  # real faces' luminance range
    row = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["evaluations"] == 32 and row["coverage"] == result["coverage"] > 0 and "qd_score" in row


def test_the_map_and_heatmap_label_both_axes_with_the_measures():
    axes = MapAxes(["face-space:0", "hue"], [-2.0, -20.0], [2.0, 40.0], [3, 2])
    images = np.zeros((2, 8, 8, 3), np.uint8)
    cells = np.array([[0, 0], [2, 1]])
    for fig in (map_figure(images, cells, axes, "t"), heatmap_figure(np.array([0.5, 0.9]), cells, axes, "t")):
        ax = fig.axes[0]
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("face-space:0", "hue")
        assert ax.get_xlim() == (-2.0, 2.0) and ax.get_ylim() == (-20.0, 40.0)


def test_the_map_puts_each_face_in_its_cell():
    from evoface.qd.figures import mosaic

    images = np.stack([np.full((2, 2, 3), v, np.uint8) for v in (10, 20)])
    out = mosaic(images, np.array([[0, 0], [2, 1]]), [3, 2])
    assert out[2:, :2].max() == 10 and out[:2, 4:].max() == 20  # (0, 0) bottom left, (2, 1) top right


@pytest.mark.parametrize("args,fragment", [
    (["--measures", "wrinkles,hue"], "unknown measure"),
    (["--measures", "face-space:0,face-space:99"], "64 components"),
    (["--measures", "hue,hue"], "twice"),
    (["--measures", "a,b,c,d"], "one, two or three"),
    (["--ranges", "2:-2,0:1"], "--ranges"),
    (["--ranges", "0:1"], "--ranges"),
    (["--cells", "0x10"], "at least 1"),
    (["--cells", "1000x1000"], "at most"),
    (["--cells", "10"], "one side per measure"),
    (["--cells", "ten"], "--cells"),
    (["--genome", "pixel", "--measures", "latent:0,hue"], "--genome latent"),
    (["--genome", "pixel", "--emitters", "cma-me"], "cma-me"),
    (["--measures", "latent:100,hue"], "100 numbers"),
    (["--latent-sigma", "0"], "step size"),
])
def test_bad_input_is_one_error_line_and_leaves_no_folder(tmp_path, capsys, args, fragment):
    out = tmp_path / "run"
    code, err = run_cli(["illuminate", "--out", str(out), "--evaluations", "16", *args], capsys)
    assert_one_line_error(code, err, fragment)
    assert not out.exists()


CLI_RUN = ["--iterations", "120", "--checkpoint-every", "10", "--snapshot-every", "40", "--device", "cpu",
           "--batch", "4", "--emitter-count", "2", "--cells", "4x4"]


@pytest.mark.slow
def test_killed_at_random_moments_it_continues_without_gaps_or_duplicates(tmp_path):
    run = tmp_path / "qd"
    crash_and_finish("illuminate", run, CLI_RUN, seed=3, latest=10.0)
    assert metric_steps(run, "iteration") == list(range(1, 121))
    assert load_checkpoint(run / "checkpoints" / "last.pt", "illuminate", for_resume=True)["iteration"] == 120
    assert not list(run.glob("checkpoints/*.tmp")) and not (run / ".lock").exists()


@pytest.mark.slow
def test_ctrl_c_checkpoints_and_the_run_resumes(tmp_path):
    run = tmp_path / "qd"
    process = subprocess.Popen([sys.executable, "-m", "cli", "illuminate", "--out", str(run), *CLI_RUN], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while process.poll() is None and not (run / "checkpoints" / "last.pt").is_file():
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0 and "interrupted" in out, err
    stopped = load_checkpoint(run / "checkpoints" / "last.pt", "illuminate")["iteration"]
    assert metric_steps(run, "iteration") == list(range(1, stopped + 1))
    code = subprocess.run([sys.executable, "-m", "cli", "illuminate", "--resume", str(run)], cwd=ROOT,
                          capture_output=True, text=True).returncode
    assert code == 0 and metric_steps(run, "iteration") == list(range(1, 121))
