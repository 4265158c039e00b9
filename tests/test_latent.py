"""The latent GA: its operators (against plain-Python references and as properties), the decoders, latent evolve runs
(resume bit-exact), sample/compare of latent runs, and bad input. Decoders are tiny random networks made here."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import main
from evoface import decoders
from evoface.compare import ga_samples
from evoface.core.checkpoints import load_checkpoint, save_atomic
from evoface.decoders import export_decoder, load_decoder
from evoface.evolve import EvolveConfig, evolve, resume_config
from evoface.ga.operators import (
    cx_normal_point_rows,
    cx_slerp_rows,
    fill_foreign,
    keep_elites,
    mut_gaussian_block,
    mutate_latent_block,
)
from evoface.ga.seed_stream import MASK64, SeedStream, splitmix64
from evoface.sampling import sample_images
from neural.dcgan import DcganConfig, Generator
from neural.faceness import FacenessConfig, FacenessNet
from neural.faceness_store import save_faceness
from neural.generative_training import to_uint8_images
from neural.vae import Vae, VaeConfig
from tests.conftest import assert_one_line_error, run_cli


def reference_gaussian(block, indpb, sigma, seed):
    """Plain-Python version of the Gaussian mutation kernel: geometric gaps, then one Box-Muller normal per gene."""
    block = block.copy()
    if indpb <= 0.0:
        return block, 0
    count = 0
    n, length = block.shape
    for i in range(n):
        _, state = splitmix64((seed + i) & MASK64)
        pos = -1
        while True:
            state, z = splitmix64(state)
            u = (z >> 11) / 2**53
            gap = 0 if indpb >= 1.0 else math.floor(math.log(1.0 - u) / math.log1p(-indpb))
            pos += gap + 1
            if pos >= length:
                break
            state, a = splitmix64(state)
            state, b = splitmix64(state)
            normal = math.sqrt(-2.0 * math.log(1.0 - (a >> 11) / 2**53)) * math.cos(2.0 * math.pi * (b >> 11) / 2**53)
            block[i, pos] += np.float32(sigma * normal)
            count += 1
    return block, count


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(1, 120), st.sampled_from([0.0, 0.05, 0.3, 1.0]), st.floats(0.01, 2.0),
       st.integers(0, 2**63 - 1))
def test_gaussian_mutation_kernel_matches_the_reference(n, length, indpb, sigma, seed):
    block = np.random.default_rng(seed % 997).standard_normal((n, length)).astype(np.float32)
    expected, expected_count = reference_gaussian(block, indpb, sigma, seed)
    got = block.copy()
    class Fixed:  # a seed stream that hands out this one seed
        def next_seed(self):
            return seed
    assert mut_gaussian_block(got, indpb, sigma, Fixed()) == expected_count
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


@settings(max_examples=10, deadline=None)
@given(st.sampled_from([0.01, 0.1, 0.5]), st.integers(0, 1000))
def test_gaussian_mutation_touches_the_expected_share_by_sigma(indpb, seed):
    block = np.zeros((200, 100), np.float32)
    count = mut_gaussian_block(block, indpb, 0.3, SeedStream(seed))
    changed = block != 0
    assert changed.sum() == count
    assert abs(count - block.size * indpb) < 5 * math.sqrt(block.size * indpb * (1 - indpb)) + 1
    error = 0.3 / math.sqrt(count)  # standard error of the mean of the changes
    assert abs(block[changed].std() - 0.3) < 5 * error and abs(block[changed].mean()) < 5 * error


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 12), st.integers(2, 64), st.floats(0.0, 1.0), st.integers(0, 10**6))
def test_slerp_children_lie_on_the_parents_circle_with_norms_between_theirs(pairs, length, cxpb, seed):
    rng = np.random.default_rng(seed)
    source = (rng.standard_normal((pairs * 2, length)) * rng.uniform(0.2, 3.0, (pairs * 2, 1))).astype(np.float32)
    rows = rng.permutation(pairs * 2)
    out = np.empty_like(source)
    ts = cx_slerp_rows(source, rows, out, cxpb, SeedStream(seed))
    norm = np.linalg.norm

    def angle(x, y):
        return math.acos(np.clip(x @ y / (norm(x) * norm(y)), -1, 1))

    for p in range(pairs):
        a, b = source[rows[2 * p]].astype(np.float64), source[rows[2 * p + 1]].astype(np.float64)
        for child, t in ((out[2 * p], ts[p]), (out[2 * p + 1], 1 - ts[p])):
            child = child.astype(np.float64)
            assert min(norm(a), norm(b)) * (1 - 1e-5) <= norm(child) <= max(norm(a), norm(b)) * (1 + 1e-5)
            if ts[p] == 0:  # not crossed: copies of the parents
                assert np.array_equal(out[2 * p], source[rows[2 * p]])
                assert np.array_equal(out[2 * p + 1], source[rows[2 * p + 1]])
                break
            assert angle(a, child) + angle(child, b) == pytest.approx(angle(a, b), abs=2e-3)
            assert angle(a, child) == pytest.approx(t * angle(a, b), abs=2e-3)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 200), st.integers(0, 10**6))
def test_normal_point_crossover_of_latents_takes_each_gene_from_one_parent(length, seed):
    rng = np.random.default_rng(seed)
    source = rng.standard_normal((10, length)).astype(np.float32)
    rows = rng.integers(0, 10, 8)
    out = np.empty((8, length), np.float32)
    cuts = cx_normal_point_rows(source, rows, out, 0.3, 1.0, SeedStream(seed))
    for i in range(8):
        own, mate, cut = source[rows[i]], source[rows[i ^ 1]], cuts[i // 2]
        assert np.array_equal(out[i, :cut], mate[:cut]) and np.array_equal(out[i, cut:], own[cut:])


def test_foreign_rows_are_fresh_normals_and_the_rest_is_mutated():
    block = np.full((40, 500), 7.0, np.float32)
    mutate_latent_block(block, 0.1, 0.2, 10, SeedStream(3))
    fresh = block[30:]
    assert abs(fresh.mean()) < 0.05 and abs(fresh.std() - 1) < 0.05 and len(np.unique(fresh)) > 0.99 * fresh.size
    kept = block[:30]
    assert abs((kept != 7.0).mean() - 0.1) < 0.01 and abs(kept - 7.0).max() < 2.0
    stream, again = SeedStream(3), np.zeros((10, 500), np.float32)
    fill_foreign(again, stream)  # the same seed (foreign rows are drawn first): the same individuals
    assert np.array_equal(again, fresh)
    fill_foreign(again, stream)  # the stream moved on: new ones
    assert np.isin(again, fresh).mean() < 0.01


def test_sphere_mutation_puts_mutated_codes_at_the_typical_norm_and_leaves_foreign_rows():
    rng = np.random.default_rng(0)
    block = (rng.standard_normal((30, 100)) * 3).astype(np.float32)
    plain, spherical = block.copy(), block.copy()
    mutate_latent_block(plain, 0.5, 1.0, 5, SeedStream(4))
    mutate_latent_block(spherical, 0.5, 1.0, 5, SeedStream(4), sphere=True)
    norms = np.linalg.norm(spherical[:25], axis=1)
    assert np.allclose(norms, 10.0, rtol=1e-5)  # sqrt(k) for k = 100
    cosine = (plain[:25] * spherical[:25]).sum(1) / (np.linalg.norm(plain[:25], axis=1) * norms)
    assert np.allclose(cosine, 1.0, atol=1e-5)  # the same directions as the plain mutation's
    assert np.array_equal(spherical[25:], plain[25:])  # foreign rows are N(0, I) draws, left as drawn


def test_elitism_keeps_float_latents_bit_exact():
    genes = np.random.default_rng(0).standard_normal((12, 33)).astype(np.float32)
    fitness = np.arange(12, dtype=np.float64)
    before = genes.copy()
    keep_elites(genes, fitness, 3, 0)
    assert np.array_equal(genes[:3], before[9:]) and np.array_equal(fitness[:3], [9, 10, 11])


# decoders --------------------------------------------------------------------------------------------------------

def tiny_gan(path, nz=16, seed=0, size=64):
    torch.manual_seed(seed)
    net = Generator(DcganConfig(size=size, nz=nz, ngf=4, ndf=4))
    save_atomic({"kind": "gan", "model_config": dataclasses.asdict(net.config), "generator": net.state_dict()}, path)
    return path


def tiny_vae(path, latent=12):
    torch.manual_seed(1)
    model = Vae(VaeConfig(size=64, latent=latent, width=4))
    save_atomic({"kind": "vae", "model_config": dataclasses.asdict(model.config), "model": model.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def gan_path(tmp_path_factory):
    return tiny_gan(tmp_path_factory.mktemp("decoders") / "gan.pt")


@pytest.fixture(scope="module")
def vae_path(tmp_path_factory):
    return tiny_vae(tmp_path_factory.mktemp("decoders") / "vae.pt")


def within_a_level(a: np.ndarray, b: np.ndarray) -> bool:
    """Two uint8 images alike to fp32 rounding: no value more than one level of 255 apart."""
    return np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_a_code_decodes_to_the_same_image_whatever_shares_its_batch(gan_path, vae_path):
    z = np.random.default_rng(0).standard_normal((9, 16)).astype(np.float32)
    gan = load_decoder(gan_path)
    assert (gan.kind, gan.latent_size, gan.image_size) == ("gan", 16, 64)
    images = gan.decode(z)
    assert images.shape == (9, 64, 64, 3) and images.dtype == np.uint8
    # the same bits only for the same shapes: alone, to fp32 rounding (BatchNorm takes a fixed reference batch)
    assert within_a_level(gan.decode(z[4:5])[0], images[4])
    assert np.array_equal(load_decoder(gan_path).decode(z), images)  # the reference batch is fixed
    batch = load_decoder(gan_path, gan_norm="batch")  # batch statistics: an image depends on its batch
    assert not within_a_level(batch.decode(z[:3])[0], batch.decode(z)[0])
    vae = load_decoder(vae_path)
    zv = z[:, :12]
    assert vae.kind == "vae" and within_a_level(vae.decode(zv[2:3])[0], vae.decode(zv)[2])


@pytest.mark.usefixtures("fast_paths_on")  # it checks that the packed kernels decode
def test_a_decoder_decodes_as_its_net_does(gan_path, vae_path, monkeypatch):
    from evoface.kernels import packed_convs

    calls = []
    kernel = packed_convs.PackedConvTranspose2d.kernel
    monkeypatch.setattr(packed_convs.PackedConvTranspose2d, "kernel", lambda *a: calls.append(1) or kernel(*a))
    for path in (gan_path, vae_path):  # on a folded copy with packed transposed convolutions
        decoder = load_decoder(path)
        z = np.random.default_rng(1).standard_normal((20, decoder.latent_size)).astype(np.float32)
        net = decoder.net if decoder.kind == "gan" else decoder.net.decode
        with torch.inference_mode():
            expected = to_uint8_images(net(torch.from_numpy(z)))
        calls.clear()
        differences = np.abs(decoder.decode(z).astype(int) - expected)
        assert differences.max() <= 1 and (differences > 0).mean() < 1e-3
        assert calls or not torch.backends.mkldnn.is_available()  # the packed kernels decoded


def test_an_exported_fp16_decoder_is_smaller_and_decodes_nearly_the_same(gan_path, tmp_path):
    size = export_decoder(gan_path, tmp_path / "small.pt")
    assert size < gan_path.stat().st_size * 0.75
    ckpt = torch.load(tmp_path / "small.pt", weights_only=True)
    assert set(ckpt) >= {"kind", "model_config", "generator"}
    assert ckpt["generator"]["net.0.weight"].dtype == torch.float16
    z = np.random.default_rng(1).standard_normal((16, 16)).astype(np.float32)
    full, half = load_decoder(gan_path).decode(z), load_decoder(tmp_path / "small.pt").decode(z)
    assert np.abs(full.astype(int) - half.astype(int)).max() <= 3


def test_shipped_names_resolve_to_the_package_files(monkeypatch, tmp_path, gan_path, capsys):
    monkeypatch.setitem(decoders.SHIPPED, "gan", gan_path)
    assert load_decoder("gan").latent_size == 16
    assert sample_images("gan", 5, seed=2).shape == (5, 64, 64, 3)
    assert decoders.default_decoder() == "gan"
    monkeypatch.setitem(decoders.SHIPPED, "vae", tmp_path / "missing.pt")
    with pytest.raises(Exception, match="shipped vae decoder is missing"):
        load_decoder("vae")
    monkeypatch.setitem(decoders.SHIPPED, "gan", tmp_path / "missing.pt")
    monkeypatch.setitem(decoders.SHIPPED, "vae", gan_path)
    assert decoders.default_decoder() == "vae"  # no GAN shipped: a latent run takes the shipped VAE


# latent evolve runs ------------------------------------------------------------------------------------------------

def latent_config(out, decoder, **overrides) -> EvolveConfig:
    options = dict(out=str(out), genome="latent", decoder=str(decoder), mu=12, q=3, generations=10, checkpoint_every=4,
                   snapshot_every=5, device="cpu", seed=3, foreign=2)
    options.update(overrides)
    return EvolveConfig(**options)


@pytest.mark.parametrize("crossover", ["normal-point", "slerp"])
def test_a_latent_run_writes_the_run_directory_and_resumes_bit_exact(tmp_path, gan_path, crossover):
    summary = evolve(latent_config(tmp_path / "straight", gan_path, crossover=crossover))
    evolve(latent_config(tmp_path / "split", gan_path, crossover=crossover, generations=6))  # between checkpoints
    evolve(resume_config(tmp_path / "split", generations=10), resume=True)
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt", "evolve")
    b = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt", "evolve")
    assert a["genes"].dtype == torch.float32 and a["genes"].shape == (12, 16)
    assert torch.equal(a["genes"], b["genes"]) and torch.equal(a["fitness"], b["fitness"])
    assert torch.equal(a["hof_genes"], b["hof_genes"])
    assert a["genome"] == "latent" and a["decoder"]["kind"] == "gan" and a["decoder"]["latent_size"] == 16
    run = tmp_path / "straight"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["generation"] for r in rows] == list(range(1, 11))
    assert all(b["max"] >= a["max"] for a, b in zip(rows, rows[1:])) and 0 < rows[-1]["diversity"] < 2
    for name in ("config.json", "top_grid.png", "timelapse.gif", "plots/fitness.png", "samples/best_0000010.png"):
        assert (run / name).is_file(), name
    best = load_decoder(gan_path).decode(a["hof_genes"][:1].numpy())
    assert summary["best_fitness"] == pytest.approx(a["hof_fitness"][0].item())
    assert np.array_equal(sample_images(run, 1)[0], best[0])  # sample shows the best code's decoded image


def test_a_vae_latent_run_and_compare_rows_per_genome(tmp_path, gan_path, vae_path):
    evolve(latent_config(tmp_path / "vae", vae_path, generations=3))
    evolve(latent_config(tmp_path / "gan", gan_path, generations=3))
    evolve(EvolveConfig(out=str(tmp_path / "pixel"), mu=8, q=2, generations=2, device="cpu"))
    rows = ga_samples([str(tmp_path / name) for name in ("pixel", "gan", "vae")], 10, "top")
    assert [r.name for r in rows] == ["GA (pixel)", "GA (latent, gan)", "GA (latent, vae)"]
    assert all(r.images.shape[1:] == (64, 64, 3) for r in rows) and len(rows[2].images) == 10


def test_sample_cli_writes_a_latent_runs_images(tmp_path, gan_path, capsys):
    evolve(latent_config(tmp_path / "run", gan_path, generations=2))
    code, _ = run_cli(["sample", "--model", str(tmp_path / "run"), "-n", "4", "--out", str(tmp_path / "imgs")],
                      capsys)
    assert code == 0 and len(list((tmp_path / "imgs").glob("*.png"))) == 4


def test_latent_bad_input_is_a_one_line_error(tmp_path, gan_path, capsys):
    faceness32 = tmp_path / "face32.pt"
    save_faceness(FacenessNet(FacenessConfig(size=32)), faceness32)
    other = tiny_gan(tmp_path / "gan8.pt", nz=8)
    own = tiny_gan(tmp_path / "own.pt")
    evolve(latent_config(tmp_path / "run", own, generations=2))
    evolve(EvolveConfig(out=str(tmp_path / "pixel"), mu=8, q=2, generations=1, device="cpu"))
    base = ["evolve", "--genome", "latent", "--generations", "1", "--device", "cpu"]
    cases = [
        (["--decoder", str(faceness32), "--out", str(tmp_path / "a")], "expected 'gan' or 'vae'"),
        (["--decoder", str(tiny_gan(tmp_path / "gan32.pt", size=32)), "--out", str(tmp_path / "b")],
         "makes 32px images, but the fitness model scores 64px"),
        (["--decoder", str(other), "--init-from", str(tmp_path / "run"), "--out", str(tmp_path / "c")],
         "latent codes of size 16, but the decoder"),
        (["--decoder", str(gan_path), "--init-from", str(tmp_path / "pixel"), "--out", str(tmp_path / "d")],
         "evolved a pixel genome"),
        (["--decoder", str(gan_path), "--foreign", "99", "--out", str(tmp_path / "e")], "--foreign"),
        (["--decoder", str(gan_path), "--genome-size", "16", "--out", str(tmp_path / "f")], "--genome-size"),
    ]
    for args, fragment in cases:
        assert_one_line_error(*run_cli(base + args, capsys), fragment)
    tiny_gan(own, nz=8)  # the run's decoder file retrained with another latent size
    code, err = run_cli(["evolve", "--resume", str(tmp_path / "run"), "--generations", "3"], capsys)
    assert_one_line_error(code, err, "takes codes of size 8")
    code, err = run_cli(["evolve", "--decoder", "gan", "--generations", "1", "--out", str(tmp_path / "g")], capsys)
    assert_one_line_error(code, err, "--decoder needs --genome latent")
