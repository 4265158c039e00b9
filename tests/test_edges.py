"""Reliability at the edges: a stop request during FID, a full disk, a tiny --target, and the address helpers.

Network traffic goes to loopback addresses only."""

from __future__ import annotations

import errno
import importlib.util
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import FACES, FID_WEIGHTS, assert_one_line_error, run_cli
from evoface.core import checkpoints, network
from evoface.core.errors import InputError, WriteError
from evoface.core.interrupts import Interrupted, StopRequest, interruptible, sigterm_as_ctrl_c, stop_point
from neural import fid

STOP_WITHIN_S = 5.0
GAN = ["--nz", "4", "--ngf", "4", "--ndf", "4", "--size", "32", "--batch-size", "8", "--device", "cpu"]


def request_stop() -> None:
    """A SIGTERM to this process, as a user's: the StopRequest in effect (or Ctrl-C's stand-in) takes it."""
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.05)  # the handler runs in the main thread


# stop points -----------------------------------------------------------------------------------------------------
def test_a_stop_point_raises_only_once_a_stop_is_requested():
    stop_point()  # no StopRequest in effect: nothing to stop
    with StopRequest() as stop:
        stop_point()
        request_stop()
        assert stop
        with pytest.raises(Interrupted):
            stop_point()
    stop_point()


def test_an_interruptible_call_returns_its_value_or_its_error_or_stops_within_a_moment():
    assert interruptible(sum, [1, 2, 3]) == 6
    with pytest.raises(ZeroDivisionError):
        interruptible(lambda: 1 / 0)
    with StopRequest():
        threading.Timer(0.3, request_stop).start()
        started = time.perf_counter()
        with pytest.raises(Interrupted):
            interruptible(time.sleep, 30)  # a call that does not return to Python: the wait is cut short
        assert time.perf_counter() - started < 2.0


def test_sigterm_stops_a_command_without_a_stop_loop_as_ctrl_c_does():
    before = signal.getsignal(signal.SIGTERM)
    with sigterm_as_ctrl_c():
        threading.Timer(0.3, request_stop).start()
        started = time.perf_counter()
        with pytest.raises(KeyboardInterrupt):
            interruptible(time.sleep, 30)
        assert time.perf_counter() - started < 2.0
    assert signal.getsignal(signal.SIGTERM) is before


class FakeInception(torch.nn.Module):
    """Pool3-shaped features of random values; ``on_call(calls)`` runs before each pass."""

    def __init__(self, on_call=lambda calls: None):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.calls, self.on_call = 0, on_call

    def forward(self, batch):
        self.calls += 1
        self.on_call(self.calls)
        return [torch.rand(len(batch), fid.FEATURE_DIM, 1, 1)]


def test_the_inception_pass_stops_after_the_batch_in_which_a_stop_is_requested():
    model = FakeInception(lambda calls: request_stop() if calls == 2 else None)
    images = np.zeros((50, 8, 8, 3), np.uint8)
    with StopRequest(), pytest.raises(Interrupted):
        fid.inception_features(model, images, batch_size=5)
    assert model.calls == 2  # of 10 batches
    assert fid.inception_features(FakeInception(), images, batch_size=5).shape == (50, fid.FEATURE_DIM)


def test_the_frechet_distance_is_pytorch_fids():
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(0)
    for n, dim in ((40, 8), (30, 64)):  # full-rank covariances, then rank-deficient ones (fewer images than features)
        a, b = rng.normal(size=(n, dim)), np.abs(rng.normal(size=(n + 7, dim))) + 0.5
        expected = calculate_frechet_distance(*fid.feature_statistics(a), *fid.feature_statistics(b))
        assert fid.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_a_stop_request_gets_through_a_frechet_distance_of_full_size():
    """Its eigen-decompositions of 2048 x 2048 matrices release the GIL: the wait for them ends at once."""
    features = np.random.default_rng(1).normal(size=(2, 200, fid.FEATURE_DIM))
    with StopRequest():
        request_stop()
        started = time.perf_counter()
        with pytest.raises(Interrupted):
            fid.frechet_distance(*features)
        assert time.perf_counter() - started < 1.0


def test_a_stop_during_fid_keeps_the_last_epoch_and_the_run_resumes(tmp_path, capsys, monkeypatch):
    """train-gan --fid-every 1: a SIGTERM in epoch 2's FID pass ends the run with epoch 1's checkpoint; --resume
    trains epoch 2 again, FID included."""
    from neural.generative_training import GenerativeTrainer

    run = tmp_path / "gan"
    last = run / "checkpoints" / "last.pt"
    stops = []

    def stop_in_second_epoch(calls):
        if last.is_file() and not stops:  # epoch 1 is checkpointed: this is epoch 2's FID
            stops.append(calls)
            request_stop()

    monkeypatch.setattr(GenerativeTrainer, "_inception_model", lambda self: FakeInception(stop_in_second_epoch))
    monkeypatch.setattr(fid, "frechet_distance", lambda a, b: float(np.abs(a.mean() - b.mean())))
    common = ["--holdout", "0.25", "--fid-every", "1", "--fid-samples", "20", *GAN]
    with pytest.raises(SystemExit) as done:
        from cli import main

        main(["train-gan", "--data", str(FACES), "--out", str(run), "--epochs", "3", "--max-images", "24", *common])
    out = capsys.readouterr().out
    assert done.value.code in (None, 0)
    assert "interrupted in epoch 2; the checkpoint of epoch 1 is kept" in out and stops
    assert checkpoints.load_checkpoint(last, "gan")["epoch"] == 1
    assert [row["epoch"] for row in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())] == [1]
    code, err = run_cli(["train-gan", "--resume", str(run), "--epochs", "2"], capsys)
    assert code in (None, 0), err
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2] and "fid" in rows[1]


@pytest.mark.slow
@pytest.mark.skipif(not FID_WEIGHTS.is_file(), reason="needs ../shared/weights (the FID Inception weights)")
def test_sigterm_stops_train_gan_within_seconds_during_a_real_fid_pass(tmp_path):
    """The issue's case on the real Inception network: SIGTERM once epoch 2's FID pass has begun."""
    run = tmp_path / "gan"
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "train-gan", "--data", str(FACES), "--out", str(run), "--epochs", "5",
         "--max-images", "40", "--holdout", "0.25", "--fid-every", "1", "--fid-samples", "60",
         "--inception-weights", str(FID_WEIGHTS), *GAN], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    grid = run / "samples" / "epoch_0002.png"  # written just before epoch 2's FID
    deadline = time.time() + 400
    while not grid.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGTERM)
    sent = time.perf_counter()
    out, err = process.communicate(timeout=60)
    assert time.perf_counter() - sent < STOP_WITHIN_S, out
    assert process.returncode == 0, err
    assert "interrupted in epoch 2; the checkpoint of epoch 1 is kept" in out and "Traceback" not in err
    assert checkpoints.load_checkpoint(run / "checkpoints" / "last.pt", "gan", for_resume=True)["epoch"] == 1


# a full disk -------------------------------------------------------------------------------------------------------
class FullDisk(io.RawIOBase):
    """A file on a disk that fills up after ``room`` bytes."""

    def __init__(self, room: int):
        self.room = room

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return len(data)


def test_a_full_disk_is_named_as_such_and_the_previous_checkpoint_stays(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    checkpoints.save_atomic({"kind": "toy", "step": 1}, path)
    before = path.read_bytes()
    real_fdopen = os.fdopen

    def full_disk(fd, *args, **kwargs):
        os.close(fd)
        return FullDisk(room=100)

    monkeypatch.setattr(checkpoints.os, "fdopen", full_disk)
    with pytest.raises(WriteError) as error:
        checkpoints.save_atomic({"kind": "toy", "step": 2, "weights": torch.zeros(10_000)}, path)
    monkeypatch.setattr(checkpoints.os, "fdopen", real_fdopen)
    assert str(error.value) == f"cannot write {path}: no space left on device; the previous last.pt is intact"
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["last.pt"]


# a tiny target -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("side", [1, 63])
def test_a_target_smaller_than_the_model_is_refused(side, tmp_path, capsys):
    target = tmp_path / "tiny.png"
    Image.new("RGB", (side, side), (200, 150, 120)).save(target)
    out = tmp_path / "run"
    code, err = run_cli(["evolve", "--out", str(out), "--target", str(target), "--generations", "2"], capsys)
    assert_one_line_error(code, err, f"{side}x{side} px, smaller than the 64x64 px")
    assert not out.exists()


# addresses ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "node-1.example.org", "node-1.example.org."])
def test_host_names_and_addresses_pass_the_syntax_check(host):
    network.check_host(host, "--host")


@pytest.mark.parametrize("host", ["", "bad host", "-node", "node-", "a..b", "x" * 64, "node_1", "héhé"])
def test_malformed_hosts_are_refused_without_a_lookup(host, monkeypatch):
    monkeypatch.setattr(network, "lookup", lambda *args: pytest.fail("looked up"))
    with pytest.raises(InputError, match="not a host name"):
        network.resolve(host, 80, "--host")


@pytest.mark.parametrize("address, expected", [("127.0.0.1:6379", ("127.0.0.1", 6379)), ("[::1]:10001", ("::1", 10001)),
                                               ("head.example.org:6379", ("head.example.org", 6379))])
def test_cluster_addresses_split_into_host_and_port(address, expected):
    assert network.split_address(address, "--ray-address") == expected


def test_port_0_listens_on_a_free_port_and_a_busy_port_says_so():
    with network.listen("127.0.0.1", 0) as first:
        port = first.getsockname()[1]
        assert port > 0
        with pytest.raises(InputError, match="in use by another program.*--port 0 for any free port"):
            network.listen("127.0.0.1", port)
    network.listen("127.0.0.1", port).close()  # free again once closed: nothing lingers


def test_a_probe_of_a_closed_port_says_refused_and_of_an_open_one_nothing():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert network.unreachable("127.0.0.1", port, "--ray-address", 2.0) is None
    assert "refused" in network.unreachable("127.0.0.1", port, "--ray-address", 2.0)


def test_joining_a_cluster_restores_the_environment_ray_reads():
    from evoface.ray_cluster import JOIN_SETTINGS, _join_settings

    before = dict(os.environ)
    with _join_settings():
        assert all(os.environ[name] == value or name in before for name, value in JOIN_SETTINGS.items())
    assert dict(os.environ) == before


def test_a_cluster_that_cannot_be_reached_is_refused_before_ray_is_imported(monkeypatch):
    from evoface import ray_cluster

    monkeypatch.setattr(ray_cluster, "import_ray", lambda: pytest.fail("ray imported"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(InputError, match="ray start --head"):
        ray_cluster.RayInstance(address).__enter__()


def test_what_the_cluster_answered_is_read_from_rays_warnings():
    from evoface.ray_cluster import gcs_refusal

    log = ("[W gcs_client.cc:210] Failed to get cluster ID from GCS server: TimedOut: no answer\n"
           "[W gcs_client.cc:210] Failed to get cluster ID from GCS server: Unauthenticated: token is missing\n")
    assert gcs_refusal(log) == "Unauthenticated: token is missing"
    assert gcs_refusal("nothing of the kind\n") is None


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
def test_joining_a_port_that_accepts_but_is_no_ray_cluster_ends_within_30_s(tmp_path):
    """Something listens, but it never answers as Ray's GCS: Ray's own connection is time-bound too. (127.0.0.2: Ray
    would replace 127.0.0.1 by this machine's network address.)"""
    with socket.socket() as silent:
        silent.bind(("127.0.0.2", 0))
        silent.listen()
        address = f"127.0.0.2:{silent.getsockname()[1]}"
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "cli", "evolve", "--out", str(tmp_path / "run"), "--islands",
                                 "2", "--mu", "10", "--q", "2", "--generations", "4", "--ray-address", address],
                                capture_output=True, text=True, timeout=120)
    assert time.perf_counter() - started < 30
    assert_one_line_error(result.returncode, result.stderr.strip(), f"cannot join the Ray cluster at --ray-address "
                                                                     f"{address}")
    assert not (tmp_path / "run").exists()
