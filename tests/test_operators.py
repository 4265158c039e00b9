"""Property-based tests of the genetic operators, and the numba kernel against a plain-Python reference."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evoface.ga.engine import DIVERSITY_RUN, DIVERSITY_RUNS, QElitistGA, diversity, diversity_runs, evaluate_invalid
from evoface.ga.operators import (
    cx_normal_point,
    cx_normal_point_rows,
    keep_elites,
    mut_uniform_reset_block,
    mut_uniform_reset_numpy,
    mutate_rows_parallel,
    mutate_rows_serial,
    normal_cuts,
    sel_tournament,
    sel_truncation,
)
from evoface.ga.seed_stream import MASK64, SeedStream, splitmix64
from evoface.ga.toolbox import build_toolbox, fitness_values


def reference_mutation(block, indpb, seed):
    """Plain-Python version of the kernel's algorithm: geometric gaps on per-row splitmix64 streams."""
    block = block.copy()
    if indpb <= 0.0:
        return block
    n, length = block.shape
    for i in range(n):
        _, state = splitmix64((seed + i) & MASK64)
        pos = -1
        while True:
            state, z = splitmix64(state)
            u = ((z >> 11) + 1.0) * (1.0 / 2**53)
            gap = 0 if indpb >= 1.0 else math.floor(math.log(u) / math.log1p(-indpb))
            pos += gap + 1
            if pos >= length:
                break
            state, z = splitmix64(state)
            block[i, pos] = z >> 56
    return block


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 300), st.sampled_from([0.0, 0.01, 0.2, 0.9, 1.0]),
       st.integers(0, 2**63 - 1))
def test_numba_kernels_match_the_reference(n, length, indpb, seed):
    block = np.random.default_rng(seed % 1000).integers(0, 256, (n, length), dtype=np.uint8)
    expected = reference_mutation(block, indpb, seed)
    for kernel in (mutate_rows_serial, mutate_rows_parallel):
        got = block.copy()
        kernel(got, indpb, seed)
        assert np.array_equal(got, expected)


@settings(max_examples=10, deadline=None)
@given(st.sampled_from([0.001, 0.01, 0.1, 0.5]), st.integers(0, 1000))
def test_mutated_share_is_close_to_indpb(indpb, seed):
    block = np.zeros((100, 3000), np.uint8)
    resets = mut_uniform_reset_block(block, indpb, SeedStream(seed))
    n = block.size
    assert abs(resets - n * indpb) < 5 * math.sqrt(n * indpb * (1 - indpb)) + 1
    # a reset keeps the old value 0 with probability 1/256
    assert (block != 0).sum() <= resets and (block != 0).sum() >= resets * 0.98 - 5


@pytest.mark.parametrize("indpb", [0.001, 0.05])
def test_numpy_reference_operator_has_the_same_statistics(indpb):
    kernel_block, numpy_block = np.zeros((100, 3000), np.uint8), np.zeros((100, 3000), np.uint8)
    kernel_resets = mut_uniform_reset_block(kernel_block, indpb, SeedStream(0))
    numpy_resets = mut_uniform_reset_numpy(numpy_block, indpb, np.random.default_rng(0))
    spread = math.sqrt(kernel_block.size * indpb * (1 - indpb))  # binomial std of the number of resets
    assert abs(kernel_resets - numpy_resets) < 4 * math.sqrt(2) * spread
    # the same per-row spread of resets (binomial), and reset values uniform over 0..255 in both
    rows_kernel, rows_numpy = (np.count_nonzero(b, axis=1) for b in (kernel_block, numpy_block))
    assert rows_kernel.std() == pytest.approx(rows_numpy.std(), rel=0.35)
    values_kernel, values_numpy = kernel_block[kernel_block > 0], numpy_block[numpy_block > 0]
    assert abs(values_kernel.mean() - values_numpy.mean()) < 6 * 74 / math.sqrt(min(len(values_kernel),
                                                                                     len(values_numpy)))


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 500), st.floats(0.01, 2.0), st.integers(0, 10**6))
def test_crossover_children_take_each_gene_from_one_parent_at_the_same_position(length, sigma, seed):
    rng = np.random.default_rng(seed)
    a0 = rng.integers(0, 128, length).astype(np.uint8)
    b0 = rng.integers(128, 256, length).astype(np.uint8)  # disjoint values: every gene's origin is visible
    a, b = a0.copy(), b0.copy()
    cx_normal_point(a, b, sigma, SeedStream(seed))
    cut = int(np.sum(a >= 128))  # genes of b in child a form a prefix
    assert np.array_equal(a[:cut], b0[:cut]) and np.array_equal(a[cut:], a0[cut:])
    assert np.array_equal(b[:cut], a0[:cut]) and np.array_equal(b[cut:], b0[cut:])


def test_crossover_cuts_centre_on_the_middle():
    seeds = SeedStream(0)
    cuts = []
    for _ in range(2000):
        a, b = np.zeros(1000, np.uint8), np.ones(1000, np.uint8)
        cx_normal_point(a, b, 0.1, seeds)
        cuts.append(int(a.sum()))
    assert abs(np.mean(cuts) - 500) < 10 and abs(np.std(cuts) - 100) < 10


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 9), st.integers(2, 300), st.sampled_from([0.0, 0.5, 1.0]), st.integers(0, 10**6))
def test_block_crossover_writes_what_pairwise_crossover_of_copies_gives(n, length, cxpb, seed):
    source = np.random.default_rng(seed).integers(0, 256, (6, length), dtype=np.uint8)
    rows = np.random.default_rng(seed + 1).integers(0, 6, n)
    out = np.empty((n, length), np.uint8)
    cuts = cx_normal_point_rows(source, rows, out, sigma=0.3, cxpb=cxpb, seeds=SeedStream(seed))
    expected = source[rows]
    for k, cut in enumerate(cuts):
        a, b = expected[2 * k], expected[2 * k + 1]
        a[:cut], b[:cut] = b[:cut].copy(), a[:cut].copy()
    assert np.array_equal(out, expected)
    if cxpb == 0.0:
        assert not cuts.any()
    if cxpb == 1.0 and n >= 2:  # from the same stream state, the first pair's children are the pairwise ones
        a, b = source[rows[0]].copy(), source[rows[1]].copy()
        cx_normal_point(a, b, 0.3, SeedStream(seed))
        assert np.array_equal(out[0], a) and np.array_equal(out[1], b)


def brightness_toolbox(rng, indpb=0.01, selection="truncation"):
    return build_toolbox(lambda genes: genes.mean(axis=1) / 255.0, rng, SeedStream.from_generator(rng), sigma=0.5,
                         cxpb=1.0, indpb=indpb, selection=selection, truncation=5, tournsize=3)


def evaluated_population(toolbox, mu, length):
    population = toolbox.population(mu, length)
    evaluate_invalid(population, toolbox)
    return population


@settings(max_examples=15, deadline=None)
@given(st.integers(4, 30), st.data())
def test_elites_survive_unchanged_and_best_never_drops(mu, data):
    q = data.draw(st.integers(1, mu - 1))
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    toolbox = brightness_toolbox(rng, selection=data.draw(st.sampled_from(["truncation", "tournament"])))
    ga = QElitistGA(evaluated_population(toolbox, mu, 64), toolbox, q)
    best = fitness_values(ga.population).max()
    for _ in range(5):
        threshold = np.sort(ga.fitness)[-q]  # the q-th best value: of those tied at it, any may be the elites
        candidates = [(np.array(ind), ind.fitness.values) for ind in ga.population
                      if ind.fitness.values[0] >= threshold]
        ga.step()
        population = ga.population
        assert len(population) == mu
        survived = [any(np.array_equal(genes, ind) and ind.fitness.values == fitness for ind in population)
                    for genes, fitness in candidates]
        assert all(alive for alive, (_, fitness) in zip(survived, candidates) if fitness[0] > threshold)
        assert sum(survived) >= q
        assert all(ind.fitness.valid for ind in population)
        assert np.array_equal(fitness_values(population), ga.fitness)
        assert np.allclose(ga.fitness, ga.genes.mean(axis=1) / 255.0)  # every value is the individual's own
        assert ga.fitness.max() >= best
        best = ga.fitness.max()


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 12), st.integers(1, 3000), st.integers(0, 1000))
def test_diversity_is_the_mean_gene_std_over_its_sample(n, length, seed):
    genes = np.random.default_rng(seed).integers(0, 256, (n, length), dtype=np.uint8)
    starts, run = diversity_runs(length)
    sample = (starts[:, None] + np.arange(run)).ravel()  # the indices of the sampled genes
    assert len(np.unique(sample)) == min(length, DIVERSITY_RUNS * DIVERSITY_RUN) and sample.max() < length
    assert np.isclose(diversity(genes), genes[:, sample].std(axis=0).mean())
    assert diversity(np.repeat(genes[:1], n, axis=0)) == 0.0


def test_elites_stay_in_place_and_newcomers_replace_the_dropped():
    genes = np.arange(8, dtype=np.uint8)[:, None].repeat(5, axis=1)  # row i holds the value i
    fitness = np.array([0.1, 0.9, 0.5, 0.9, 0.2, 0.7, 0.95, 0.0])
    assert keep_elites(genes, fitness, 3, start=2) == 2  # zone rows 2-4; row 3 stays, rows 1 and 6 come in
    assert genes[:, 0].tolist() == [0, 1, 1, 3, 6, 5, 6, 7]
    assert fitness.tolist() == [0.1, 0.9, 0.9, 0.9, 0.95, 0.7, 0.95, 0.0]
    tied = np.zeros(6)  # equal fitness: the elites already in the zone win, nothing moves
    assert keep_elites(genes[:6].copy(), tied, 2, start=4) == 0
    with pytest.raises(ValueError, match="C-contiguous"):
        keep_elites(genes[:, ::2], fitness, 3, 0)
    with pytest.raises(ValueError, match="one float64 fitness value per row"):
        keep_elites(genes, fitness[:5], 3, 0)
    with pytest.raises(ValueError, match="inside the block"):
        keep_elites(genes, fitness, 3, 6)
    with pytest.raises(ValueError, match="overlap"):
        cx_normal_point_rows(genes, np.array([0, 1]), genes[6:], 0.5, 1.0, SeedStream(0))
    with pytest.raises(ValueError, match="rows of one length"):
        cx_normal_point_rows(genes, np.array([0, 1]), np.zeros((2, 4), np.uint8), 0.5, 1.0, SeedStream(0))
    with pytest.raises(IndexError, match="outside"):
        cx_normal_point_rows(genes, np.array([0, 8]), np.zeros((2, 5), np.uint8), 0.5, 1.0, SeedStream(0))


def test_truncation_selection_draws_only_from_the_best():
    picked = sel_truncation(np.arange(20, dtype=float), 200, top=5, seeds=SeedStream(0))
    assert set(picked.tolist()) == {15, 16, 17, 18, 19}


def test_compiled_draws_have_the_requested_distributions():
    seeds = SeedStream(1)
    cuts = normal_cuts(20000, 1000, 0.1, seeds, cxpb=0.7)
    crossed = cuts[cuts > 0]
    assert abs(len(crossed) / len(cuts) - 0.7) < 0.02
    assert abs(crossed.mean() - 500) < 3 and abs(crossed.std() - 100) < 3
    picks = np.bincount(sel_truncation(np.arange(20, dtype=float), 50000, top=5, seeds=seeds), minlength=20)
    assert np.all(np.abs(picks[15:] / 50000 - 0.2) < 0.01)
    ties = sel_truncation(np.zeros(10), 2000, top=3, seeds=seeds)  # equal fitness: the earlier rows count as better
    assert set(ties.tolist()) == {0, 1, 2}


def test_tournament_selection_picks_the_best_of_each_draw():
    fitness = np.random.default_rng(1).random(50)
    rows = sel_tournament(fitness, 2000, tournsize=3, seeds=SeedStream(0))
    assert rows.shape == (2000,) and fitness[rows].mean() > 0.7  # E[max of 3 uniforms] = 0.75
    assert set(sel_tournament(fitness, 50, tournsize=1000, seeds=SeedStream(0)).tolist()) == {
        int(fitness.argmax())}


def test_the_ga_raises_a_simple_fitness():
    toolbox = brightness_toolbox(np.random.default_rng(0), indpb=0.02)
    ga = QElitistGA(evaluated_population(toolbox, 30, 200), toolbox, 6)
    start = ga.fitness.max()
    for _ in range(60):
        ga.step()
    assert ga.fitness.max() > start + 0.1


def test_fused_inference_model_matches_the_trained_model():
    import torch

    from evoface.scoring import BatchScorer
    from neural.faceness_store import load_faceness, score_images

    model = load_faceness()
    genes = np.random.default_rng(0).integers(0, 256, (10, 64 * 64 * 3), dtype=np.uint8)
    fused_scores = BatchScorer(model, torch.device("cpu"))(genes)
    images = torch.from_numpy(genes).view(10, 64, 64, 3).permute(0, 3, 1, 2)
    assert np.allclose(fused_scores, score_images(model, images).numpy(), atol=1e-5)
    assert np.allclose(BatchScorer(model, torch.device("cpu"), batch_size=3)(genes), fused_scores, atol=1e-6)


def test_cpu_scoring_splits_a_generation_into_even_chunks_of_bounded_pixels():
    import torch

    from evoface.scoring import CPU_CHUNK_PIXELS, chunk_size

    cpu = torch.device("cpu")
    for size in (64, 100, 128):  # a generation's 80 offspring: at least two even chunks, each within the bound
        per = chunk_size(80, cpu, size)
        assert per * size * size <= CPU_CHUNK_PIXELS and -(-80 // per) >= 2
    assert chunk_size(80, cpu, 64) > chunk_size(80, cpu, 100) > chunk_size(80, cpu, 128)  # larger images, fewer
    assert chunk_size(10, cpu, 10_000) == 1 and chunk_size(0, cpu, 64) == 1 and chunk_size(9, cpu, 64) == 9
    assert chunk_size(80, torch.device("cuda"), 64) > 100
    assert chunk_size(80, cpu, 64, "bf16") == 80 and chunk_size(80, cpu, 64, "fp32") == 40  # bf16: half the bytes
    for n, size in [(80, 32), (80, 64), (180, 100), (7, 128)]:
        per = chunk_size(n, cpu, size)
        assert per * size * size <= CPU_CHUNK_PIXELS or per == 1
        chunks = -(-n // per)
        assert n - (chunks - 1) * per >= per - chunks  # the last chunk is about as large as the others


def test_the_prior_scored_in_blocks_scores_as_in_one(monkeypatch):
    import torch

    from evoface import scoring
    from neural.face_space import FaceSpaceConfig, fit_face_space
    from neural.faceness import FacenessConfig, FacenessNet

    torch.manual_seed(0)
    faces = torch.randint(0, 256, (40, 32, 32, 3), dtype=torch.uint8)
    prior = fit_face_space(faces, FaceSpaceConfig(32, 8))
    scorer = scoring.BatchScorer(FacenessNet(FacenessConfig(size=32)).eval(), torch.device("cpu"), precision="fp32",
                                 prior=prior, prior_weight=2.0)
    genes = faces[:10].reshape(10, -1).numpy()
    whole = scorer(genes)
    monkeypatch.setattr(scoring, "DISTANCE_ROWS", 3)  # a large population: blocks of bounded memory
    scorer.batch_size = 1
    np.testing.assert_allclose(scorer(genes), whole, rtol=0, atol=1e-6)


def test_a_rendered_genome_is_rendered_once_per_block_and_scored_as_the_formula(monkeypatch):
    import torch

    from evoface import rendering, scoring
    from neural.face_space import FaceSpaceConfig, fit_face_space
    from neural.faceness import FacenessConfig, FacenessNet

    torch.manual_seed(0)
    model = FacenessNet(FacenessConfig(size=32)).eval()
    prior = fit_face_space(torch.randint(0, 256, (40, 32, 32, 3), dtype=torch.uint8), FaceSpaceConfig(32, 8))
    scorer = scoring.BatchScorer(model, torch.device("cpu"), genome_size=8, tv_weight=0.1, precision="fp32",
                                 prior=prior, prior_weight=2.0, batch_size=2)
    genes = np.random.default_rng(1).integers(0, 256, (7, 8 * 8 * 3), dtype=np.uint8)
    renders = []
    monkeypatch.setattr(scoring, "genes_to_tensor", lambda g, size: renders.append(len(g)) or
                        rendering.genes_to_tensor(g, size))
    monkeypatch.setattr(scoring, "DISTANCE_ROWS", 4)  # blocks of 4 rows: 2 forward chunks each
    scores = scorer(genes)
    assert renders == [4, 3]
    images = rendering.genes_to_tensor(genes, 32)
    with torch.no_grad():
        expected = model(images) - 0.1 * rendering.total_variation(images) - 2.0 * prior(images)
    np.testing.assert_allclose(scores, expected.double().numpy(), rtol=0, atol=1e-5)
