"""The latent genome's diversity levers. Niching by clearing: the compiled clearing against a plain-Python reference,
its ranking, q-elitism on that ranking, the niche hall of fame, latent runs with niching (distinct elites, resume
bit-exact, bad input). The faceness cap (satisficing), and the defaults each genome fills in."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from evoface.core.checkpoints import load_checkpoint
from evoface.core.errors import InputError
from evoface.evolve import EvolveConfig, evolve, resume_config
from evoface.scoring import BatchScorer
from neural.face_space import load_face_space
from neural.faceness_store import load_faceness
from evoface.ga.face_space_mutation import FaceBasis
from evoface.ga.niching import NicheHallOfFame, clearing_mask, clearing_ranking, typical_distance
from evoface.ga.operators import keep_elites
from evoface.ga.toolbox import as_individuals
from evoface.island_state import merge_best, merge_halls
from tests.conftest import assert_one_line_error, run_cli, synthetic_faces
from tests.test_latent import gan_path, latent_config  # noqa: F401 (gan_path: a fixture)


def reference_clearing(genes, fitness, radius, capacity):
    """Pétrowski's clearing, plainly: fittest first, a row is cleared when ``capacity`` winners lie within radius."""
    winners, cleared = [], np.zeros(len(genes), bool)
    for row in sorted(range(len(genes)), key=lambda r: (-fitness[r], r)):
        near = sum(np.sum((genes[row].astype(np.float64) - genes[w]) ** 2) < radius ** 2 for w in winners)
        if near >= capacity:
            cleared[row] = True
        else:
            winners.append(row)
    return cleared


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), length=st.integers(1, 12), radius=st.floats(0.0, 6.0), capacity=st.integers(1, 4),
       seed=st.integers(0, 2**31), ties=st.booleans())
def test_clearing_matches_the_reference(n, length, radius, capacity, seed, ties):
    rng = np.random.default_rng(seed)
    genes = rng.standard_normal((n, length)).astype(np.float32)
    fitness = rng.integers(0, 3, n).astype(np.float64) if ties else rng.random(n)
    expected = reference_clearing(genes, fitness, radius, capacity)
    assert np.array_equal(clearing_mask(genes, fitness, radius, capacity), expected)


def test_the_ranking_puts_every_winner_above_every_cleared_row_and_keeps_order_within_each():
    genes = np.array([[0.0], [0.1], [5.0], [5.2], [9.0]], np.float32)
    fitness = np.array([0.9, 0.95, 0.2, 0.1, -3.0])
    rank = clearing_ranking(genes, fitness, radius=1.0)
    assert list(np.argsort(-rank, kind="stable")) == [1, 2, 4, 0, 3]  # winners 1, 2, 4; then the cleared 0, 3
    assert rank[1] == fitness[1] and rank[0] < rank[4]
    assert np.array_equal(clearing_ranking(genes, fitness, radius=0.0), fitness)  # radius 0: nobody shares a niche


def test_elitism_on_a_ranking_keeps_niche_winners_and_moves_the_raw_fitness_with_them():
    genes = np.array([[0.0], [0.1], [0.2], [5.0], [9.0], [9.1]], np.float32)
    fitness = np.array([0.99, 0.98, 0.97, 0.5, 0.4, 0.3])
    rank = clearing_ranking(genes, fitness, radius=1.0)
    keep_elites(genes, fitness, 3, 3, rank)
    assert sorted(genes[3:, 0].tolist()) == pytest.approx([0.0, 5.0, 9.0])  # one per niche, not the 3 fittest
    for gene, value in zip(genes[:, 0], fitness):  # every row's fitness is still its own
        assert value == {0.0: 0.99, 0.1: 0.98, 0.2: 0.97, 5.0: 0.5, 9.0: 0.4, 9.1: 0.3}[round(float(gene), 1)]


def test_the_niche_hall_of_fame_holds_the_best_of_distinct_niches():
    hof = NicheHallOfFame(3, radius=1.0)
    hof.update(as_individuals(np.array([[0.0], [0.2], [0.4], [5.0]], np.float32), np.array([0.5, 0.9, 0.8, 0.1])))
    assert [float(ind[0]) for ind in hof] == pytest.approx([0.2, 5.0])  # 0.0 and 0.4 share 0.2's niche
    hof.update(as_individuals(np.array([[0.3], [9.0], [5.0]], np.float32), np.array([0.95, 0.6, 0.1])))
    assert [float(ind[0]) for ind in hof] == pytest.approx([0.3, 9.0, 5.0])  # 0.3 replaces 0.2; 5.0 not doubled
    assert [ind.fitness.values[0] for ind in hof] == [0.95, 0.6, 0.1]


def test_the_niche_hall_of_fame_keeps_ties_in_order_and_rebuilds_the_same_from_its_genes():
    hof = NicheHallOfFame(4, radius=1.0)
    hof.update(as_individuals(np.array([[0.0], [5.0], [9.0]], np.float32), np.full(3, 0.98)))
    hof.update(as_individuals(np.array([[20.0], [5.1]], np.float32), np.array([0.98, 0.98])))
    assert [float(ind[0]) for ind in hof] == [0.0, 5.0, 9.0, 20.0]  # ties: the earlier found first; 5.1 is 5.0's
    rebuilt = NicheHallOfFame(4, radius=1.0)  # as a resumed run rebuilds it from the checkpoint's rows
    rebuilt.update(as_individuals(np.stack([np.asarray(ind) for ind in hof]), np.array([0.98] * 4)))
    assert [float(ind[0]) for ind in rebuilt] == [0.0, 5.0, 9.0, 20.0]
    assert [key.values[0] for key in rebuilt.keys] == [0.98] * 4


def test_the_hall_of_fame_polishes_its_newcomers_once_and_a_restore_keeps_them_as_saved():
    calls = []

    def polish(genes, fitness):  # "cleans" a row whose gene ends in .5 and raises its fitness
        calls.append(len(genes))
        clean = np.floor(genes)
        return clean, np.where((clean != genes).any(1), fitness + 0.5, fitness)

    hof = NicheHallOfFame(3, radius=1.0, polish=polish)
    hof.update(as_individuals(np.array([[0.0], [5.5], [9.0]], np.float32), np.array([0.9, 0.6, 0.7])))
    assert [float(ind[0]) for ind in hof] == [5.0, 0.0, 9.0]  # 5.5 polished to 5.0 at 1.1: now first
    assert [ind.fitness.values[0] for ind in hof] == pytest.approx([1.1, 0.9, 0.7])
    hof.update(as_individuals(np.array([[0.1], [9.2]], np.float32), np.array([0.1, 0.2])))  # no newcomer
    assert calls == [3]
    restored = NicheHallOfFame(3, radius=1.0, polish=polish)
    restored.restore(as_individuals(np.array([[5.5]], np.float32), np.array([1.1])))  # as saved, not polished again
    assert [float(ind[0]) for ind in restored] == [5.5] and calls == [3]


def test_clearing_ties_go_to_the_incumbent_elites():
    genes = np.array([[0.0], [0.1], [5.0]], np.float32)
    fitness = np.array([0.98, 0.98, 0.98])
    assert list(clearing_mask(genes, fitness, 1.0)) == [False, True, False]  # the earlier row wins
    incumbents = np.array([False, True, False])
    assert list(clearing_mask(genes, fitness, 1.0, incumbents=incumbents)) == [True, False, False]


def test_merging_islands_halls_of_fame_keeps_one_per_niche():
    genes = [np.array([[0.0], [5.0]], np.float32), np.array([[0.0], [0.2], [9.0]], np.float32)]  # a migrant copy
    fitness = [np.array([0.9, 0.5]), np.array([0.9, 0.8, 0.4])]
    merged, values = merge_best(genes, fitness, 3, niche_radius=1.0)
    assert merged[:, 0].tolist() == [0.0, 5.0, 9.0] and values.tolist() == [0.9, 0.5, 0.4]
    plain, _ = merge_best(genes, fitness, 3)
    assert plain[:, 0].tolist() == pytest.approx([0.0, 0.0, 0.2])


def test_merging_pixel_islands_halls_of_fame_keeps_one_per_face_space_niche():
    config = EvolveConfig(out="x", top_k=4)
    config.validate()
    faces = synthetic_faces(3, 64, seed=7).reshape(3, -1)
    faces[2] = 255 - faces[2]  # a face far from the others in face space
    halls = [faces[[0, 1]], faces[[0, 2]]]  # face 0 migrated: in both islands' halls of fame
    fitness = [np.array([0.9, 0.8]), np.array([0.9, 0.7])]
    merged, values = merge_halls(halls, fitness, halls, config)
    assert values.tolist() == [0.9, 0.8, 0.7]
    np.testing.assert_array_equal(merged, faces)
    by_fitness, _ = merge_halls(halls, fitness, halls, EvolveConfig(out="y", top_k=4, niche_radius=0.0))
    assert len(by_fitness) == 4  # without niching, the copy counts twice


def test_typical_distance_is_that_of_random_codes():
    codes = np.random.default_rng(0).standard_normal((2000, 2, 100))
    assert np.linalg.norm(codes[:, 0] - codes[:, 1], axis=1).mean() == pytest.approx(typical_distance(100), rel=0.02)


def test_a_niching_latent_run_keeps_distinct_elites_and_resumes_bit_exact(tmp_path, gan_path):  # noqa: F811
    options = dict(niche_radius=0.3, mu=16, q=4, top_k=4)
    evolve(latent_config(tmp_path / "straight", gan_path, **options))
    evolve(latent_config(tmp_path / "split", gan_path, generations=6, **options))
    evolve(resume_config(tmp_path / "split", generations=10), resume=True)
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt", "evolve")
    b = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt", "evolve")
    assert torch.equal(a["genes"], b["genes"]) and torch.equal(a["hof_genes"], b["hof_genes"])
    radius = 0.3 * typical_distance(16)
    hof = a["hof_genes"].numpy()
    distances = np.linalg.norm(hof[:, None] - hof[None], axis=2)[np.triu_indices(len(hof), 1)]
    assert len(hof) == 4 and distances.min() >= radius  # the grid shows distinct niches
    assert list(a["hof_fitness"].numpy()) == sorted(a["hof_fitness"].numpy(), reverse=True)


def test_a_niching_pixel_run_keeps_faces_apart_in_face_space_and_resumes_bit_exact(tmp_path):
    options = dict(niche_radius=0.3, mu=16, q=4, top_k=4, device="cpu", precision="fp32")
    evolve(EvolveConfig(out=str(tmp_path / "straight"), generations=10, **options))
    evolve(EvolveConfig(out=str(tmp_path / "split"), generations=6, **options))
    evolve(resume_config(tmp_path / "split", generations=10), resume=True)
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt", "evolve")
    b = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt", "evolve")
    assert torch.equal(a["genes"], b["genes"]) and torch.equal(a["hof_genes"], b["hof_genes"])
    face_space = load_face_space()
    with torch.inference_mode():  # the plain computation: the face space's own coefficients, in real faces' stds
        hof = face_space.coefficients(a["hof_genes"].view(-1, 64, 64, 3).permute(0, 3, 1, 2)).double().numpy()
    distances = np.linalg.norm(hof[:, None] - hof[None], axis=2)[np.triu_indices(len(hof), 1)]
    radius = 0.3 * typical_distance(face_space.components.shape[1])
    assert len(hof) == 4 and distances.min() >= radius * (1 - 1e-4)  # fp32 products: a hair of tolerance


def test_face_space_coordinates_match_the_face_space_s_coefficients():
    face_space = load_face_space()
    faces = synthetic_faces(6, 64, seed=3)
    coordinates = FaceBasis.of(face_space).coordinates(faces.reshape(6, -1))
    with torch.inference_mode():
        expected = face_space.coefficients(torch.from_numpy(faces).permute(0, 3, 1, 2)).numpy()
    assert coordinates.shape == (6, face_space.components.shape[1])
    assert np.allclose(coordinates, expected, atol=1e-3)


def test_pixel_niching_needs_the_full_size_genome_and_a_target_above_the_cap_is_refused(tmp_path, capsys):
    code, err = run_cli(["evolve", "--niche-radius", "0.5", "--genome-size", "16", "--generations", "1", "--out",
                         str(tmp_path / "a")], capsys)
    assert_one_line_error(code, err, "--niche-radius compares pixel images in face space")
    assert not (tmp_path / "a").exists()
    smaller = EvolveConfig(out="s", genome_size=16)  # the default niching steps aside for a smaller genome
    smaller.validate()
    assert smaller.niche_radius == 0.0
    reference = EvolveConfig(out="r", engine="reference")  # and for DEAP's plain loop
    reference.validate()
    assert reference.niche_radius == 0.0
    with pytest.raises(InputError, match="the reference engine is DEAP's plain loop"):
        EvolveConfig(out="r", engine="reference", niche_radius=0.3).validate()
    code, err = run_cli(["evolve", "--genome", "latent", "--target-fitness", "0.99", "--out", str(tmp_path / "b")],
                        capsys)
    assert_one_line_error(code, err, "--target-fitness 0.99 can never be reached: --faceness-cap caps the fitness at "
                                     "0.98")


def test_the_cap_clamps_faceness_before_the_prior_is_subtracted():
    faces = synthetic_faces(8, 64, seed=5)
    genes = faces.reshape(8, -1)
    model, prior = load_faceness(None), load_face_space()
    plain = BatchScorer(model, torch.device("cpu"), precision="fp32")
    cap = float(np.median(plain(genes)))
    capped = BatchScorer(model, torch.device("cpu"), precision="fp32", faceness_cap=cap)
    assert np.allclose(capped(genes), np.minimum(plain(genes), cap), atol=1e-6)
    with_prior = BatchScorer(model, torch.device("cpu"), precision="fp32", faceness_cap=cap, prior=prior,
                             prior_weight=2.0)
    with torch.inference_mode():
        distance = prior(torch.from_numpy(faces).permute(0, 3, 1, 2)).double().numpy()
    assert np.allclose(with_prior(genes), np.minimum(plain(genes), cap) - 2.0 * distance, atol=1e-5)


def test_each_genome_fills_its_own_defaults_and_typed_values_win():
    latent, pixel = EvolveConfig(out="a", genome="latent"), EvolveConfig(out="b")
    latent.validate()
    pixel.validate()
    assert (latent.prior, latent.faceness_cap, latent.niche_radius, latent.latent_norm) == ("none", 0.98, 0.5,
                                                                                            "sphere")
    assert (pixel.prior, pixel.faceness_cap, pixel.niche_radius) == ("face-space", 0.98, 0.3)
    typed = EvolveConfig(out="c", genome="latent", prior="face-space", faceness_cap=1.0, niche_radius=0.0)
    typed.validate()
    assert (typed.prior, typed.faceness_cap, typed.niche_radius) == ("face-space", 1.0, 0.0)


def test_a_run_stores_its_filled_defaults_and_an_older_run_resumes_as_it_ran(tmp_path, gan_path):  # noqa: F811
    evolve(latent_config(tmp_path / "run", gan_path, generations=2))
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (stored["prior"], stored["faceness_cap"], stored["niche_radius"]) == ("none", 0.98, 0.5)
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    ckpt = torch.load(last, weights_only=True)
    older_fields = ("faceness_cap", "niche_radius", "niche_capacity", "face_moves", "prior_projection")
    for name in older_fields:  # as a run made before these fields
        del stored[name], ckpt["config"][name]  # config.json and the config its checkpoint keeps
    (tmp_path / "run" / "config.json").write_text(json.dumps(stored))
    torch.save(ckpt, last)
    config = resume_config(tmp_path / "run", generations=3)
    assert [getattr(config, name) for name in older_fields] == [1.0, 0.0, 1, "walk", "linear"]
    evolve(config, resume=True)
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt", "evolve")["generation"] == 3


def test_pixel_niching_describes_each_generation_once_for_its_ranking_and_hall_of_fame(tmp_path):
    from evoface.evolve_build import build_evolution
    from evoface.evolve_loop import evolve_generations

    evolution = build_evolution(EvolveConfig(out=str(tmp_path / "run"), mu=12, q=3, top_k=4, device="cpu",
                                             precision="fp32"))
    describe, calls = evolution.toolbox.describe, []
    evolution.toolbox.register("describe", lambda genes: calls.append(len(genes)) or describe(genes))
    evolve_generations(evolution, 3)
    # the first population once, then each new generation once: its hall of fame update and the next ranking share it
    assert calls == [12, 12, 12, 12]
    assert np.allclose(evolution.ga.descriptors, describe(evolution.ga.genes))
