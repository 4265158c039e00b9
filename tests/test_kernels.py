"""The one kernels switch (``evoface.kernels``): auto or plain, forced by ``EVOFACE_KERNELS``, and what it turns off;
the thread policy that shares a machine's cores among runs; the realism prior's product against float64."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from evoface.kernels import choice, onednn, sharing, switch, threads
from neural.face_space import load_face_space
from neural.precision import rank_correlation


@pytest.fixture
def auto(monkeypatch):
    """The switch at auto, with no forcing from the environment; put back afterwards."""
    monkeypatch.delenv(switch.ENVIRONMENT, raising=False)
    before = switch.selected_mode()
    yield switch.select("auto")
    switch.select(before)


def test_plain_turns_every_fast_path_off_and_nests(auto):
    assert auto == "auto" and all(switch.enabled(name) for name in switch.NAMES)
    with switch.plain():
        with switch.plain():
            assert not any(switch.enabled(name) for name in switch.NAMES)
        assert not switch.enabled("onednn-graph")
    assert switch.enabled("onednn-graph")


def test_the_environment_forces_plain_whatever_the_command_selects(auto, monkeypatch):
    monkeypatch.setenv(switch.ENVIRONMENT, "plain")
    assert switch.select("auto") == "plain" and switch.selected() == "plain"
    assert not switch.enabled("onednn-graph")
    assert choice.describe() == f"plain ({switch.ENVIRONMENT}=plain)"
    assert choice.available() == []


def test_selecting_plain_turns_the_fast_paths_off(auto):
    switch.select("plain")
    assert choice.describe() == "plain" and not switch.enabled("onednn-matmul")
    with pytest.raises(ValueError, match="auto, plain"):
        switch.select("fast")


def test_a_bench_turns_fast_paths_off_one_at_a_time(auto):
    with switch.without("onednn-matmul"):
        assert not switch.enabled("onednn-matmul") and switch.enabled("onednn-graph")
        assert "onednn-matmul" not in choice.available()
    assert switch.enabled("onednn-matmul")
    with pytest.raises(ValueError, match="unknown fast paths"):
        with switch.without("int8"):
            pass


def test_auto_names_what_runs_on_this_machine(auto):
    chosen = choice.available("cpu", "fp32")
    assert ("onednn-graph" in chosen) == onednn.onednn_available()
    assert choice.describe("cpu").startswith("auto (")
    assert choice.available("cuda") == [] and choice.describe("cuda") == "auto (none apply here)"
    assert "packed-convolutions" in choice.available("cpu", "fp32", decoder=True) or not onednn.onednn_available()


def test_runs_on_one_machine_share_its_cores(tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "CHECK_EVERY_S", 0.0)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)  # a run that started alone: its threads spin
    before, me = torch.get_num_threads(), tmp_path / str(os.getpid())
    torch.set_num_threads(2)
    try:
        with threads.MachineShare(tmp_path) as share:
            share.update()
            assert torch.get_num_threads() == 2 and me.exists()
            (tmp_path / "1").touch()  # another live run (pid 1 always exists)
            share.update()
            assert torch.get_num_threads() == 1
            (tmp_path / "999999999").touch()  # a dead run's entry is dropped
            share.update()
            assert torch.get_num_threads() == 1 and not (tmp_path / "999999999").exists()
            (tmp_path / "1").unlink()
            share.update()
            assert torch.get_num_threads() == 2
        assert not me.exists() and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_run_that_waits_passively_keeps_its_threads(tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "CHECK_EVERY_S", 0.0)
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with threads.MachineShare(tmp_path) as share:
            (tmp_path / "1").touch()
            share.update()
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_process_waits_passively_only_when_another_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(sharing, "SETTLE_S", 0.0)
    monkeypatch.setattr(sharing.atexit, "register", lambda *args, **kwargs: None)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert not sharing.claim_at_start(tmp_path) and "OMP_WAIT_POLICY" not in os.environ  # alone
    assert (tmp_path / str(os.getpid())).exists()
    (tmp_path / "1").touch()
    assert sharing.claim_at_start(tmp_path) and os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # a user's setting is left alone
    assert not sharing.claim_at_start(tmp_path) and os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_help_and_a_bare_command_line_do_not_wait_to_share_the_machine():
    import cli

    assert cli.will_compute(["evolve", "--out", "runs/a"])
    assert not any(cli.will_compute(args) for args in ([], ["--help"], ["evolve", "--help"], ["studio", "-h"]))


def test_a_listed_process_whose_id_was_reused_is_not_counted(tmp_path):
    from evoface.core.rundir import process_token

    parent = tmp_path / str(os.getppid())
    parent.write_text(process_token(os.getppid()))  # a live evoface process, as it listed itself
    assert sharing.live_runs(tmp_path) == 1
    if process_token(os.getppid()) == str(os.getppid()):
        pytest.skip("this system tells no process start times (no /proc)")
    start = int(process_token(os.getppid()).split()[1])
    parent.write_text(f"{os.getppid()} {start + 1}")  # a crashed process's entry, its id now another's
    assert sharing.live_runs(tmp_path) == 0 and not parent.exists()


def test_a_run_takes_at_least_one_thread():
    assert threads.threads_for(2, 1) == 2 and threads.threads_for(2, 2) == 1 and threads.threads_for(2, 5) == 1
    assert threads.threads_for(16, 3) == 5


def prior_reference(space, genes: np.ndarray) -> np.ndarray:
    """The distance from face space in float64 numpy, written as the formula."""
    x = genes.astype(np.float64) / 255 - space.mean.double().numpy()
    components = space.components.double().numpy()
    residual = (x * x).sum(1) - ((x @ components) ** 2).sum(1)
    return np.sqrt(np.clip(residual, 0, None) / x.shape[1])


@pytest.mark.parametrize("kernels", ["auto", "plain"])
def test_the_prior_matches_float64_to_a_stated_tolerance_and_ranks_as_it(auto, kernels):
    space = load_face_space()
    genes = np.random.default_rng(0).integers(0, 256, (40, 64 * 64 * 3), dtype=np.uint8)
    genes[20:] = genes[20:] // 4 + 96  # lower-contrast images: a spread of distances
    images = torch.from_numpy(genes).view(-1, 64, 64, 3).permute(0, 3, 1, 2)
    switch.select(kernels)
    with torch.inference_mode():
        distances = space(images).double().numpy()
    reference = prior_reference(space, genes)
    np.testing.assert_allclose(distances, reference, rtol=1e-4, atol=1e-5)  # fp32 sums of 12,288 terms
    assert rank_correlation(distances, reference) > 0.999
