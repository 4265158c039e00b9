import json

import numpy as np
import pytest
import torch

from evoface.core.checkpoints import load_checkpoint
from neural.dcgan import DcganConfig, Discriminator, Generator
from neural.gan_training import DcganTrainer, GanTrainConfig, sample_generator
from neural.generative_training import decode_latents
from evoface.sampling import sample_images
from neural.vae import Vae, VaeConfig
from neural.vae_training import VaeTrainConfig, VaeTrainer
from tests.conftest import FACES, assert_one_line_error, run_cli


@pytest.mark.parametrize("size", [32, 64, 128])
def test_output_shapes_at_each_size(size):
    config = DcganConfig(size=size, ngf=8, ndf=8)
    images = Generator(config)(torch.randn(2, 100))
    assert images.shape == (2, 3, size, size) and images.abs().max() <= 1
    assert Discriminator(config)(images).shape == (2,)
    reconstruction, mu, logvar = Vae(VaeConfig(size=size, width=8))(images)
    assert reconstruction.shape == images.shape and mu.shape == logvar.shape == (2, 150)


def gan_config(out, **overrides):
    options = dict(data=[str(FACES)], out=str(out), size=32, max_images=96, batch_size=32, epochs=1, ngf=16,
                   ndf=16, device="cpu", seed=1)
    options.update(overrides)
    return GanTrainConfig(**options)


def vae_config(out, **overrides):
    options = dict(data=[str(FACES)], out=str(out), size=32, max_images=200, batch_size=32, epochs=1, width=16,
                   device="cpu", seed=1)
    options.update(overrides)
    return VaeTrainConfig(**options)


def test_a_few_vae_steps_lower_the_loss(tmp_path):
    trainer = VaeTrainer(vae_config(tmp_path / "vae"), resume=False)
    images = next(trainer.batches())
    first = trainer.train_step(images)["loss"]
    for _ in range(15):
        last = trainer.train_step(images)["loss"]
    assert last < 0.7 * first


@pytest.mark.parametrize("loss", ["bce", "lsgan", "hinge"])
def test_one_gan_step_changes_both_networks(tmp_path, loss):
    trainer = DcganTrainer(gan_config(tmp_path / "gan", loss=loss, label_smoothing=0.1, label_flip=0.1,
                                      instance_noise=0.1, d_dropout=0.2), resume=False)
    before_g = [p.detach().clone() for p in trainer.net_g.parameters()]
    before_d = [p.detach().clone() for p in trainer.net_d.parameters()]
    metrics = trainer.train_step(next(trainer.batches()))
    assert set(metrics) == {"loss_d", "loss_g", "d_x", "d_g_z"} and all(np.isfinite(list(metrics.values())))
    assert any(not torch.equal(a, b) for a, b in zip(before_g, trainer.net_g.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(before_d, trainer.net_d.parameters()))


def test_gan_run_writes_grids_metrics_and_resumes_with_optimizer_state(tmp_path):
    out = tmp_path / "gan"
    DcganTrainer(gan_config(out, holdout=0.2), resume=False).train()
    saved = load_checkpoint(out / "checkpoints" / "last.pt", "gan")
    resumed = DcganTrainer(gan_config(out, holdout=0.2, epochs=2), resume=True)
    for key, optimizer in (("opt_g", resumed.opt_g), ("opt_d", resumed.opt_d)):
        state = optimizer.state_dict()["state"]
        assert state and all(torch.equal(state[i]["exp_avg"], saved[key]["state"][i]["exp_avg"]) for i in state)
    resumed.train()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert {"loss_d", "loss_g", "d_x", "d_g_z", "images_per_s"} <= set(rows[0])
    for name in ("samples/epoch_0001.png", "samples/epoch_0002.png", "plots/losses.png", "plots/discriminator.png",
                 "checkpoints/best.pt", "holdout/00000.png"):
        assert (out / name).is_file(), name


def test_gan_samples_use_batch_statistics_without_touching_running_ones():
    net = Generator(DcganConfig(size=32, ngf=8, ndf=8))
    net(torch.randn(16, 100))  # one training-mode pass moves the running statistics off their initial values
    def running_statistics():
        return [b.clone() for name, b in net.named_buffers() if "running" in name]

    before = running_statistics()
    images = sample_generator(net, 5, "cpu", seed=2)
    assert all(torch.equal(a, b) for a, b in zip(before, running_statistics())) and net.training
    assert np.array_equal(images[:3], sample_generator(net, 3, "cpu", seed=2))  # a prefix does not depend on n
    eval_images = decode_latents(net, net, 100, 32, 5, "cpu", seed=2)
    assert not np.array_equal(images, eval_images)


def test_gan_ema_samples_from_the_average_and_can_start_on_resume(tmp_path):
    out = tmp_path / "gan"
    DcganTrainer(gan_config(out), resume=False).train()
    resumed = DcganTrainer(gan_config(out, epochs=2, g_ema=0.9), resume=True)
    trained = load_checkpoint(out / "checkpoints" / "last.pt", "gan")["generator"]
    assert all(torch.equal(v, resumed.ema.module.state_dict()[k]) for k, v in trained.items())  # starts at G
    resumed.train()
    last = load_checkpoint(out / "checkpoints" / "last.pt", "gan")
    live = dict(resumed.net_g.named_parameters())
    for name, averaged in resumed.ema.module.named_parameters():
        assert torch.equal(last["generator"][name], averaged) and torch.equal(last["trained_generator"][name],
                                                                               live[name])
    assert any(not torch.equal(last["generator"][k], last["trained_generator"][k]) for k in live)
    again = DcganTrainer(gan_config(out, epochs=2, g_ema=0.9), resume=True)
    assert all(torch.equal(v, again.ema.module.state_dict()[k]) for k, v in last["generator"].items())
    assert all(torch.equal(v, again.net_g.state_dict()[k]) for k, v in last["trained_generator"].items())


def test_vae_run_keeps_best_by_validation_loss_and_samples(tmp_path):
    out = tmp_path / "vae"
    VaeTrainer(vae_config(out, holdout=0.2, epochs=2, kl_warmup=2), resume=False).train()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["beta"] == 0.5 and rows[1]["beta"] == 1.0 and "val_loss" in rows[1]
    best = load_checkpoint(out / "checkpoints" / "best.pt", "vae")
    assert best["metrics"]["val_loss"] == min(r["val_loss"] for r in rows)
    for name in ("samples/reconstruction_0002.png", "samples/samples_0002.png", "plots/losses.png"):
        assert (out / name).is_file()
    images = sample_images(out / "checkpoints" / "best.pt", 5, seed=3)
    assert images.shape == (5, 32, 32, 3) and images.dtype == np.uint8
    assert np.array_equal(images, sample_images(out / "checkpoints" / "best.pt", 5, seed=3))  # seeded


def test_sample_command_writes_n_images_and_grids(tmp_path, capsys):
    out = tmp_path / "gan"
    DcganTrainer(gan_config(out), resume=False).train()
    code, _ = run_cli(["sample", "--model", str(out / "checkpoints" / "last.pt"), "-n", "7", "--out",
                       str(tmp_path / "folder")], capsys)
    assert code == 0 and len(list((tmp_path / "folder").glob("*.png"))) == 7
    code, _ = run_cli(["sample", "--model", str(out / "checkpoints" / "last.pt"), "-n", "4", "--out",
                       str(tmp_path / "grid.png")], capsys)
    assert code == 0 and (tmp_path / "grid.png").is_file()


def test_sample_from_an_evolve_run(tmp_path, capsys):
    from evoface.evolve import EvolveConfig, evolve

    evolve(EvolveConfig(out=str(tmp_path / "ga"), mu=8, q=2, generations=3, device="cpu", top_k=4))
    code, out = run_cli(["sample", "--model", str(tmp_path / "ga"), "-n", "6", "--out", str(tmp_path / "s")], capsys)
    assert code == 0 and len(list((tmp_path / "s").glob("*.png"))) == 6


def test_baseline_cli_errors(tmp_path, capsys):
    code, err = run_cli(["train-vae", "--data", str(FACES), "--max-images", "10", "--batch-size", "64",
                         "--out", str(tmp_path / "v")], capsys)
    assert_one_line_error(code, err, "fewer than --batch-size 64")
    fit = tmp_path / "fit.pt"
    torch.save({"kind": "faceness"}, fit)
    code, err = run_cli(["sample", "--model", str(fit), "-n", "4", "--out", str(tmp_path / "x.png")], capsys)
    assert_one_line_error(code, err, "'faceness' checkpoint")
    code, err = run_cli(["sample", "--model", str(fit), "-n", "0", "--out", str(tmp_path / "x.png")], capsys)
    assert_one_line_error(code, err, "0 is not in the range 1<=x<=")


def test_resume_keeps_stored_epochs_unless_given(tmp_path, capsys):
    out = tmp_path / "vae"
    base = ["--data", str(FACES), "--size", "32", "--max-images", "64", "--batch-size", "32", "--width", "8",
            "--device", "cpu"]
    code, _ = run_cli(["train-vae", *base, "--epochs", "3", "--time-limit", "1s", "--out", str(out)], capsys)
    assert code == 0
    code, _ = run_cli(["train-vae", "--resume", str(out), "--time-limit", "1h"], capsys)
    assert code == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]  # the stored --epochs 3, not the option's default
