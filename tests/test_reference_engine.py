"""The fast engine (QElitistGA) against the reference GA (the plain DEAP loop that is the spec), on real runs."""

import json

import numpy as np
import pytest
from deap import base, tools
from scipy.stats import mannwhitneyu

from evoface.evolve import EvolveConfig, evolve, resume_config
from evoface.core.checkpoints import load_checkpoint
from evoface.ga.engine import QElitistGA, evaluate_invalid, fitness_statistics
from evoface.ga.reference import crossover_at, fitness_statistics as reference_statistics, q_elitist
from evoface.ga.reference import use_reference_operators
from evoface.ga.seed_stream import SeedStream
from evoface.ga.toolbox import as_individuals, build_toolbox

LENGTH, MU, Q = 16 * 16 * 3, 30, 6


def linear_fitness(seed: int = 0):
    """A cheap deterministic fitness without ties between different genomes: genes . w for fixed random w."""
    weights = np.random.default_rng(seed).standard_normal(LENGTH)
    return lambda genes: genes.astype(np.float64) @ weights / LENGTH


def method_toolbox(seed: int, engine: str, fitness, selection: str = "truncation") -> base.Toolbox:
    rng = np.random.default_rng(seed)
    toolbox = build_toolbox(fitness, rng, SeedStream.from_generator(rng), sigma=0.5, cxpb=1.0, indpb=0.002,
                            selection=selection, truncation=Q, tournsize=3)
    if engine == "reference":
        use_reference_operators(toolbox, rng, sigma=0.5, indpb=0.002, selection=selection, truncation=Q,
                                tournsize=3)
    return toolbox


def sorted_rows(genes: np.ndarray) -> np.ndarray:
    """The rows in lexicographic order: populations compared as multisets of genomes."""
    return genes[np.lexsort(genes.T[::-1])]


def elite_rows(genes: np.ndarray, fitness: np.ndarray) -> np.ndarray:
    return sorted_rows(genes[np.argsort(-fitness, kind="stable")[:Q]])


def copies_of(population: list) -> list:
    """Independent copies of evaluated individuals, with their fitness."""
    return as_individuals(np.stack(population).copy(), np.array([ind.fitness.values[0] for ind in population]))


class RecordedDraws:
    """Wraps a fast toolbox's operators and records what their random draws decided, generation by generation:
    the parents' genes, the cuts, the children before mutation and the genes mutation changed."""

    def __init__(self, toolbox):
        self.generations = []
        mate, mutate = toolbox.mate, toolbox.mutate

        def recording_mate(source, rows, out):
            cuts = mate(source, rows, out)
            self.generations.append({"parents": source[rows].copy(), "cuts": cuts.copy(), "children": out.copy()})
            return cuts

        def recording_mutate(block):
            before = block.copy()
            mutate(block)
            self.generations[-1]["mutations"] = [(np.flatnonzero(new != old), new[new != old])
                                                 for new, old in zip(block, before)]

        toolbox.register("mate", recording_mate)
        toolbox.register("mutate", recording_mutate)

    def replaying_toolbox(self, evaluate) -> base.Toolbox:
        """A reference toolbox whose select, mate and mutate take the recorded draws, in DEAP signatures."""
        toolbox, plan = base.Toolbox(), {"generation": 0}

        def select(individuals, k):
            recorded = self.generations[plan["generation"]]
            plan["generation"] += 1
            plan["cuts"], plan["mutations"] = iter(recorded["cuts"]), iter(recorded["mutations"])
            assert len(recorded["parents"]) == k
            genes = np.stack(individuals)
            return [individuals[int(np.flatnonzero((genes == parent).all(axis=1))[0])]
                    for parent in recorded["parents"]]

        def mate(ind1, ind2):
            return crossover_at(ind1, ind2, int(next(plan["cuts"])))

        def mutate(individual):
            positions, values = next(plan["mutations"])
            individual[positions] = values
            return (individual,)

        for name, function in (("select", select), ("mate", mate), ("mutate", mutate), ("evaluate", evaluate)):
            toolbox.register(name, function)
        return toolbox


def test_fast_engine_computes_what_the_reference_computes_for_the_same_draws():
    fitness, generations = linear_fitness(), 300
    fast_toolbox = method_toolbox(1, "fast", fitness)
    start = as_individuals(np.random.default_rng(2).integers(0, 256, (MU, LENGTH), dtype=np.uint8))
    evaluate_invalid(start, fast_toolbox)
    draws = RecordedDraws(fast_toolbox)
    ga = QElitistGA(copies_of(start), fast_toolbox, Q)
    fast_populations, fast_stats = [], []
    for _ in range(generations):
        ga.step()
        fast_populations.append((ga.genes.copy(), ga.fitness.copy()))
        fast_stats.append(fitness_statistics(ga.fitness))

    reference_populations = []

    class Snapshots(tools.Statistics):  # records each generation's population as the logbook is written
        def compile(self, population):
            reference_populations.append((np.stack(population), np.array([i.fitness.values[0] for i in population])))
            return super().compile(population)

    stats = Snapshots(key=lambda ind: ind.fitness.values[0])
    for name, function in (("max", np.max), ("mean", np.mean), ("min", np.min), ("std", np.std)):
        stats.register(name, function)
    _, logbook = q_elitist(copies_of(start), draws.replaying_toolbox(fitness), Q, cxpb=1.0, ngen=generations, stats=stats)
    assert logbook.select("nevals") == [0] + [MU - Q] * generations

    for generation, ((fast_genes, fast_fitness), (ref_genes, ref_fitness), recorded) in enumerate(
            zip(fast_populations, reference_populations[1:], draws.generations), start=1):
        assert np.array_equal(sorted_rows(fast_genes), sorted_rows(ref_genes)), generation
        assert np.array_equal(elite_rows(fast_genes, fast_fitness), elite_rows(ref_genes, ref_fitness)), generation
        record = logbook[generation]
        for name in ("max", "mean", "min", "std"):
            assert record[name] == pytest.approx(fast_stats[generation - 1][name], rel=1e-9, abs=1e-12)
        parents, children, cuts = recorded["parents"], recorded["children"], recorded["cuts"]
        for i, child in enumerate(children):  # every gene from one parent, at the same position
            cut, mate = cuts[i // 2], parents[i ^ 1]
            assert np.array_equal(child[:cut], mate[:cut]) and np.array_equal(child[cut:], parents[i][cut:])
    maxima = [stats["max"] for stats in fast_stats]
    assert sum(b > a for a, b in zip(maxima, maxima[1:])) > 20  # the run did evolve
    cuts = np.concatenate([recorded["cuts"] for recorded in draws.generations])
    assert ((cuts > 0) & (cuts < LENGTH)).mean() > 0.6  # most children mixed two parents (sigma 0.5: 68%)


@pytest.mark.parametrize("selection", ["truncation", "tournament"])
def test_fast_and_reference_engines_evolve_statistically_alike(selection):
    fitness, generations = linear_fitness(), 200
    finals = {"fast": [], "reference": []}
    for seed in range(8):
        for engine in finals:
            toolbox = method_toolbox(seed, engine, fitness, selection)
            population = toolbox.population(MU, LENGTH)
            if engine == "fast":
                evaluate_invalid(population, toolbox)
                ga = QElitistGA(population, toolbox, Q)
                for _ in range(generations):
                    ga.step()
                finals[engine].append(ga.fitness.max())
            else:
                _, logbook = q_elitist(population, toolbox, Q, 1.0, generations, stats=reference_statistics())
                finals[engine].append(logbook[-1]["max"])
    start = fitness(np.random.default_rng(0).integers(0, 256, (MU, LENGTH), dtype=np.uint8)).max()
    assert min(finals["fast"] + finals["reference"]) > start + 5  # both climb far above uniform noise
    assert mannwhitneyu(finals["fast"], finals["reference"]).pvalue > 0.01


def test_deap_operators_a_user_registers_run_in_the_reference_loop():
    fitness = linear_fitness()
    toolbox = base.Toolbox()
    toolbox.register("select", tools.selTournament, tournsize=3)
    toolbox.register("mate", tools.cxTwoPoint)
    toolbox.register("mutate", tools.mutUniformInt, low=0, up=255, indpb=0.002)
    toolbox.register("evaluate", fitness)
    population = as_individuals(np.random.default_rng(3).integers(0, 256, (MU, LENGTH), dtype=np.uint8))
    hall = tools.HallOfFame(4, similar=np.array_equal)
    final, logbook = q_elitist(population, toolbox, Q, 0.9, 40, stats=reference_statistics(), halloffame=hall)
    maxima = logbook.select("max")
    assert len(final) == MU and all(b >= a for a, b in zip(maxima, maxima[1:]))  # the elites survive
    assert maxima[-1] > maxima[0] and hall[0].fitness.values[0] == pytest.approx(maxima[-1])


def small_run(out, **overrides) -> EvolveConfig:
    options = dict(out=str(out), mu=12, q=3, generations=16, checkpoint_every=5, snapshot_every=8, device="cpu",
                   seed=4, indpb=0.002, genome_size=16, engine="reference", mutation="reset")
    return EvolveConfig(**{**options, **overrides})


@pytest.mark.slow
def test_an_evolve_run_on_the_reference_engine_writes_its_outputs_and_resumes_exactly(tmp_path, capsys):
    evolve(small_run(tmp_path / "straight"))
    assert "reference engine" in capsys.readouterr().err
    evolve(small_run(tmp_path / "split", generations=7))
    evolve(resume_config(tmp_path / "split", generations=16), resume=True)
    a, b = (load_checkpoint(tmp_path / name / "checkpoints" / "last.pt", "evolve") for name in ("straight", "split"))
    assert np.array_equal(a["genes"], b["genes"]) and np.array_equal(a["fitness"], b["fitness"])
    rows = [json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [r["generation"] for r in rows] == list(range(1, 17))
    assert all(y["max"] >= x["max"] for x, y in zip(rows, rows[1:]))
    assert json.loads((tmp_path / "split" / "config.json").read_text())["engine"] == "reference"
    assert (tmp_path / "split" / "samples" / "best_0000016.png").is_file()


def test_the_reference_engine_runs_a_block_mutation_child_by_child():
    from evoface.ga.reference import per_individual

    calls = []

    def block_mutation(block):  # e.g. the fast engine's face-space move: an (n, L) block in place
        calls.append(block.shape)
        block += 1

    individual = as_individuals(np.zeros((1, 6), np.uint8))[0]
    (mutated,) = per_individual(block_mutation)(individual)
    assert mutated is individual and calls == [(1, 6)] and individual.tolist() == [1] * 6


def test_a_users_toolbox_switches_evolve_to_the_reference_engine(tmp_path, capsys):
    calls = []
    toolbox = base.Toolbox()
    toolbox.register("mate", lambda a, b: (calls.append(1), tools.cxTwoPoint(a, b))[1])
    config = small_run(tmp_path / "run", engine="fast", generations=3)
    evolve(config, toolbox=toolbox)
    assert len(calls) == 3 * ((12 - 3) // 2)  # every pair of every generation
    assert "fewer generations/s than the fast engine" in capsys.readouterr().err
    assert json.loads((tmp_path / "run" / "config.json").read_text())["engine"] == "reference"
