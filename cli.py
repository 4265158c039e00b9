"""The ``evoface`` command line: each command parses and validates its options, then calls one library function."""

from __future__ import annotations

import sys

import click

from evoface.core.errors import InputError
from evoface.kernels.sharing import claim_at_start
from evoface.core.interrupts import Interrupted, sigterm_as_ctrl_c
from evoface.core.options import ConfigCommand, Duration, command_config, config_options, typed_options
from evoface.core.words import plural
from evoface.qd.measure_words import MEASURE_HELP


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="evoface")
def evoface():
    """Generate faces with a pixel genetic algorithm, a DCGAN and a VAE, and compare them."""


FITNESS_CONFIG = "neural.fitness_training:FitnessTrainConfig"
EVOLVE_CONFIG = "evoface.evolve_config:EvolveConfig"
RUN_DIR = click.Path(file_okay=False)
DEVICE_HELP = {"help": "auto, cpu or cuda."}
SEED_HELP = {"help": "Seed for every random draw."}
KERNELS_HELP = {"help": "auto: the CPU fast paths this machine runs (oneDNN graphs and products, packed convolutions, "
                        "glibc's heap thresholds); plain: plain torch everywhere. EVOFACE_KERNELS=plain in the "
                        "environment forces plain."}
RESUME = click.option("--resume", "resume_dir", type=RUN_DIR,
                      help="Continue the run in this folder; only the options listed in the error for others may "
                           "be typed with it.")


@evoface.command("train-fitness", cls=ConfigCommand)
@config_options(
    FITNESS_CONFIG,
    ("faces", {"metavar": "DIR", "help": "Face image folder (repeatable), or torchvision:celeba."}),
    ("negatives", {"metavar": "DIR", "help": "Folder of non-face images (repeatable), or torchvision:cifar10."}),
    ("out", {"type": RUN_DIR, "help": "Run directory to create."}),
    ("size", {"help": "Image side in pixels."}), "epochs", "batch_size", "lr", "val_fraction",
    ("patience", {"help": "Stop after this many epochs without a better validation loss."}),
    ("max_images", {"help": "Use at most this many images from each source."}),
    ("time_limit", {"type": Duration(), "help": "Stop after this much training time in total (e.g. 20m)."}),
    ("width", {"help": "Channels of the first block."}),
    ("flip", {"help": "Random horizontal flips of faces."}),
    ("crop_scale", {"help": "Smallest area share of a random resized crop (1 = off)."}),
    ("rotate_degrees", {"help": "Largest random rotation in degrees (0 = off)."}),
    ("perspective", {"help": "Strength of random perspective (0 = off)."}),
    ("init", {"type": click.Path(), "help": "Start from this faceness checkpoint instead of random weights."}),
    ("download", {"is_flag": True, "help": "Allow torchvision:NAME sources to download their data."}),
    ("torchvision_root", {"help": "Where torchvision:NAME data lives."}),
    ("device", DEVICE_HELP), ("seed", SEED_HELP))
@RESUME
@click.option("--refine", multiple=True, metavar="RUN",
              help="Evolve run whose final images are added as non-faces (repeatable); fine-tunes the model it used.")
def train_fitness_command(resume_dir, refine, **_):
    """Train the CNN that scores how much an image is a face (0 = not a face, 1 = a clean face)."""
    from neural.fitness_training import FitnessTrainConfig, train_fitness

    derived = {}
    if refine:
        from evoface.refinement import refinement_init, refinement_negatives

        derived["extra_negatives"] = refinement_negatives(refine)
        derived["init"] = typed_options().get("init") or refinement_init(refine)
    config, resume = command_config(FitnessTrainConfig, resume_dir, **derived)
    best = train_fitness(config, resume=resume)
    if best.get("epoch"):
        click.echo(f"best epoch {best['epoch']}: val_loss {best['val_loss']:.4f}, spearman {best['val_spearman']:.3f}, "
                   f"auc {best['val_auc']:.3f}")


@evoface.command("evolve", cls=ConfigCommand)
@config_options(
    EVOLVE_CONFIG,
    ("out", {"type": RUN_DIR, "help": "Run directory to create."}),
    ("fitness", {"type": click.Path(), "help": "Faceness checkpoint or train-fitness run (default: shipped model)."}),
    ("ensemble", {"type": click.Path(),
                  "help": "Another faceness checkpoint to score with (repeatable); see --ensemble-rule."}),
    ("ensemble_rule", {"help": "Faceness of an ensemble: the minimum or the mean of its models' scores."}),
    ("size", {"help": "Expected image side; must match the fitness model (default: the model's)."}),
    ("mu", {"help": "Population size."}),
    ("q", {"help": "Elites kept unchanged each generation (below --mu)."}),
    ("selection", {"help": "Parent selection."}),
    ("truncation", {"help": "Truncation selection draws parents from this many best (default: q, at least 2)."}),
    ("tournsize", {"help": "Tournament size."}),
    ("cxpb", {"help": "Crossover probability per pair."}),
    ("sigma", {"help": "Crossover cut ~ N(L/2, (sigma*L)^2)."}),
    ("indpb", {"help": "Per-gene reset probability of mutation."}),
    ("generations", {"help": "Stop at this many generations in total (typing any stopping rule drops the others' "
                             "defaults)."}),
    ("time_limit", {"type": Duration(), "help": "Stop after this much evolution in total (e.g. 10m)."}),
    ("target_fitness", {"help": "Stop once the best faceness reaches this."}),
    ("checkpoint_every", {"help": "Checkpoint every K generations."}),
    ("snapshot_every", {"help": "Save the best image every K generations."}),
    ("detector_every", {"help": "Log whether dlib's CNN face detector (a judge only, never in the fitness) finds a "
                                "face in the best image every K generations (0 = off)."}),
    ("top_k", {"help": "Individuals in the hall of fame and final grid."}),
    ("genome_size", {"help": "Evolve G x G genomes, upsampled (bilinear) to the model's size to be scored and "
                             "shown."}),
    ("tv_weight", {"help": "Fitness = faceness - this * total variation (smoothness)."}),
    ("blur_sigma", {"help": "Score a Gaussian-blurred copy (sigma in pixels)."}),
    ("faceness_cap", {"help": "Satisfice: faceness above this counts as this, so selection stops pushing an image "
                              "that passes towards a super-stimulus, and the realism prior decides between faces "
                              "that pass (1 = no cap; default: 0.98)."}),
    ("prior", {"help": "Realism prior: face-space subtracts --prior-weight x the distance from face space (the "
                       "principal components of real faces, see train-prior) from the faceness; none: faceness only "
                       "(default: face-space for the pixel genome, none for the latent one, whose decoder keeps it "
                       "realistic)."}),
    ("prior_model", {"type": click.Path(), "help": "A train-prior run or checkpoint (default: the shipped one)."}),
    ("prior_weight", {"help": "Weight of the realism prior."}),
    ("prior_projection", {"help": "Face-space prior: measure the distance to the image's projection clipped to "
                                  "[0, 1], the nearest face-space image that can be shown (clipped), or to the plain "
                                  "projection (linear), which also charges a face for its saturated pixels."}),
    ("typicality_weight", {"help": "Face-space prior: also subtract this x how far the image's face-space "
                                   "coordinates combine less typically than the median real face's (nats of the "
                                   "prior's mixture, see train-prior --mixture)."}),
    ("target", {"type": click.Path(exists=True, dir_okay=False),
                "help": "Evolve towards this face: the fitness also subtracts --target-weight x the distance from it "
                        "(kept in RUN/target.png)."}),
    ("target_space", {"help": "Where likeness to --target is measured: face-space (eigenface coordinates) or "
                              "faceness (the faceness net's feature maps)."}),
    ("target_weight", {"help": "Weight of the distance from --target."}),
    ("mutation", {"help": "Pixel genome: reset (per-gene resets, --indpb); blob (Gaussian blobs of colour painted "
                          "into each child, then the resets); face-space (the resets, then a step towards the "
                          "prior's face space and a random move along it)."}),
    ("face_step", {"help": "Face-space mutation: size of the random move, in real faces' std per component."}),
    ("face_pull", {"help": "Face-space mutation: share of the way to face space a child moves each generation."}),
    ("face_moves", {"help": "Face-space mutation: pcn (each move also shrinks the coordinates towards the mean face, "
                            "so that they keep real faces' spread: preconditioned Crank-Nicolson; needs --face-step "
                            "<= 1) or walk (the coordinates take a random walk)."}),
    ("blobs", {"help": "Blob mutation: blobs painted into each child."}),
    ("blob_min_radius", {"help": "Blob mutation: smallest blob radius in pixels (radii are log-uniform)."}),
    ("blob_max_radius", {"help": "Blob mutation: largest blob radius in pixels."}),
    ("init_from", {"type": RUN_DIR,
                   "help": "Start from this run's final population, resized to --genome-size (coarse-to-fine)."}),
    ("genome", {"help": "pixel: evolve the image; latent: evolve the input code of --decoder."}),
    ("decoder", {"help": "Latent genome: a train-gan/train-vae checkpoint or run, or gan/vae (the shipped ones) "
                         "(default: gan)."}),
    ("latent_sigma", {"help": "Latent mutation: std of a mutated gene's change."}),
    ("latent_indpb", {"help": "Latent mutation: per-gene probability."}),
    ("crossover", {"help": "Latent crossover: one point on the vector, or spherical interpolation."}),
    ("foreign", {"help": "Latent: fresh N(0, I) individuals per generation."}),
    ("latent_norm", {"help": "Latent: sphere rescales each mutated code to norm sqrt(k), where the decoder's "
                             "training codes lie; free lets mutation drift it."}),
    ("niche_radius", {"help": "Niching by clearing: individuals closer than this share of the distance between two "
                              "random codes (latent) or two random real faces' face-space coordinates (pixel) share a "
                              "niche, of which only the best keeps its rank, so the elites and the grid are distinct "
                              "faces; a pixel run's grid also loses the resets' stray dots (0 = off; default: 0.5 "
                              "latent, 0.3 pixel)."}),
    ("niche_capacity", {"help": "Niching: individuals per niche that keep their rank."}),
    ("device", DEVICE_HELP),
    ("precision", {"help": "Fitness models' precision. fp32: on a CPU the faceness net as one oneDNN graph; bf16: "
                           "autocast, packed oneDNN convolutions, the head in fp32; fp32-compiled: torch.compile "
                           "(slow to start); auto: bf16 where the CPU has AMX bf16 tiles and it ranks children of "
                           "this run's mutation (latent runs: copies of a genome with 0.1% resets) as fp32 does, "
                           "else fp32."}),
    ("kernels", KERNELS_HELP),
    ("seed", SEED_HELP),
    ("engine", {"help": "fast: the one-buffer numba engine; tensor: the same GA as torch tensor ops on --device "
                        "(on a GPU the whole generation runs there; --mutation reset or face-space); auto: tensor on "
                        "a GPU where it runs, else fast; reference: the plain DEAP loop the fast engine is tested "
                        "against (slower, see README)."}),
    ("islands", {"help": "Evolve this many populations (islands) at once on Ray, each with every option above; "
                         "needs the distributed extra."}),
    ("migration_every", {"help": "Islands: every K generations the --migrants best of each island replace the worst "
                                 "of the next (a ring)."}),
    ("migrants", {"help": "Islands: individuals each island sends to the next at a migration."}),
    ("ray_address", {"help": "Islands: join this Ray cluster (e.g. 10.0.0.1:6379) instead of starting a local "
                             "Ray instance."}))
@RESUME
def evolve_command(resume_dir, **_):
    """Evolve images from uniform noise towards faces with the DEAP pixel GA, or (--genome latent) the latent codes
    of a GAN or VAE decoder."""
    from evoface.evolve_config import EvolveConfig

    config, resume = command_config(EvolveConfig, resume_dir)
    if config.islands > 1:
        from evoface.islands import evolve_islands as run_evolve
    else:
        from evoface.evolve import evolve as run_evolve
    summary = run_evolve(config, resume=resume)
    note = f"; {summary['precision_note']}" if summary.get("precision_note") else ""
    note += "; the tensor engine (the GA on --device)" if summary.get("engine") == "tensor" else ""
    chosen = f"kernels {summary['kernels']}" + (f", precision {summary['precision']}" if "precision" in summary else "")
    click.echo(f"{summary['reason']} at generation {summary['generation']}: best faceness "
               f"{summary['best_fitness']:.4f}; grid {summary['grid']}, timelapse {summary['gif']}; {chosen}{note}")


def evolve_specs(*names: str) -> list:
    """evolve's option specs (help included) for its fields ``names``: another command with the same fields."""
    specs = [spec for _, spec in evolve_command.callback.__config_options__]
    return [spec for spec in specs if (spec if isinstance(spec, str) else spec[0]) in names]


@evoface.command("illuminate", cls=ConfigCommand)
@config_options(
    "evoface.illuminate_config:IlluminateConfig",
    ("out", {"type": RUN_DIR, "help": "Run directory to create."}),
    ("genome", {"help": "latent: the codes of --decoder; pixel: the 64x64x3 uint8 image."}),
    *evolve_specs("decoder", "fitness", "ensemble", "ensemble_rule", "size", "prior", "prior_model", "prior_weight",
                  "target", "target_space", "target_weight"),
    ("faceness_cap", {"help": "Satisfice: faceness above this counts as this, so the map fills with distinct faces "
                              "rather than super-stimuli (1 = no cap; default: 0.98)."}),
    ("measures", {"help": "The map's axes: " + MEASURE_HELP + "."}),
    ("ranges", {"help": "LOW:HIGH per measure, comma-separated (default: real faces' 1st-99th percentiles; stored "
                        "in RUN/config.json)."}),
    ("cells", {"help": "Cells per measure, e.g. 10x10 (at most 10,000 in all)."}),
    ("emitters", {"help": "cma-me: CMA-ME, latent genome only; ga: MAP-Elites with the GA's normal-point crossover "
                          "and its mutation (default: cma-me for the latent genome, ga for the pixel one; see "
                          "README)."}),
    ("emitter_count", {"help": "Emitters run side by side."}),
    ("batch", {"help": "Genomes each emitter asks for per iteration (scored in one batch)."}),
    ("iterations", {"help": "Stop at this many ask/tell rounds in total (typing any stopping rule drops the "
                            "others' defaults)."}),
    ("evaluations", {"help": "Stop at this many genomes scored in total."}),
    ("time_limit", {"type": Duration(), "help": "Stop after this much time in total (e.g. 5m)."}),
    ("checkpoint_every", {"help": "Checkpoint every K iterations."}),
    ("snapshot_every", {"help": "Redraw map.png (which the studio's runs page shows) every K iterations."}),
    *evolve_specs("sigma", "indpb", "face_step", "face_pull"),
    ("latent_sigma", {"help": "Latent: CMA-ME's first step size; the GA emitter's mutation std."}),
    *evolve_specs("latent_indpb", "device", "precision", "kernels", "seed"))
@RESUME
def illuminate_command(resume_dir, **_):
    """Quality-diversity map of faces (MAP-Elites / CMA-ME with pyribs): the best face in each cell of a grid over
    measures such as lightness or skin tone."""
    from evoface.illuminate import IlluminateConfig, illuminate

    summary = illuminate(*command_config(IlluminateConfig, resume_dir))
    best = "none yet" if summary["best"] is None else f"{summary['best']:.4f}"
    click.echo(f"{summary['reason']} at {summary['evaluations']} evaluations: coverage {summary['coverage']:.0%}, "
               f"QD-score {summary['qd_score']:.2f}, best {best}; map {summary['map']}")


def generative_options(target: str, *own: str | tuple):
    """Options shared by train-gan and train-vae, then the command's own fields."""
    return config_options(
        target,
        ("data", {"metavar": "DIR", "help": "Folder of training faces (repeatable)."}),
        ("out", {"type": RUN_DIR, "help": "Run directory to create."}),
        "size", "epochs", "batch_size",
        ("time_limit", {"type": Duration(),
                        "help": "Stop after this much training time in total, across resumes (e.g. 30m)."}),
        ("holdout", {"help": "Share of images kept out of training, saved to RUN/holdout for FID."}),
        ("max_images", {"help": "Use at most this many images."}),
        "flip", "crop_scale", "rotate_degrees", "perspective",
        ("fid_every", {"help": "FID against the held-out images (needs --holdout) every N epochs; best.pt is then "
                               "the lowest FID."}),
        "fid_samples",
        ("inception_weights", {"type": click.Path(dir_okay=False), "help": "FID Inception weights file."}),
        ("download", {"is_flag": True, "help": "Allow downloading the FID Inception weights."}),
        ("device", DEVICE_HELP), ("seed", SEED_HELP), *own)


def run_generative(trainer_type, config_type, resume_dir) -> None:
    config, resume = command_config(config_type, resume_dir)
    summary = trainer_type(config, resume=resume).train()
    click.echo(f"trained to epoch {summary['epoch']}; samples in {summary['run']}/samples")


@evoface.command("train-gan", cls=ConfigCommand)
@generative_options(
    "neural.gan_training:GanTrainConfig",
    ("nz", {"help": "Latent size."}), ("ngf", {"help": "Generator feature maps."}),
    ("ndf", {"help": "Discriminator feature maps."}), "lr_g", "lr_d", "beta1", "loss",
    ("label_smoothing", {"help": "One-sided: real targets become 1 - this."}),
    ("label_flip", {"help": "Probability of swapping real and fake targets for D (noisy labels)."}),
    ("instance_noise", {"help": "Std of Gaussian noise on D's inputs, annealed linearly to 0."}),
    "d_dropout",
    ("g_ema", {"help": "Sample from a moving average of G's weights with this decay (e.g. 0.995); may be set on "
                       "--resume."}))
@RESUME
def train_gan_command(resume_dir, **_):
    """Train the DCGAN baseline on a folder of faces."""
    from neural.gan_training import DcganTrainer, GanTrainConfig

    run_generative(DcganTrainer, GanTrainConfig, resume_dir)


@evoface.command("train-vae", cls=ConfigCommand)
@generative_options(
    "neural.vae_training:VaeTrainConfig",
    ("latent", {"help": "Latent size."}), ("width", {"help": "First encoder block's channels."}), "lr",
    ("beta", {"help": "Weight of the KL term."}),
    ("kl_warmup", {"help": "Epochs over which beta rises linearly from 0."}))
@RESUME
def train_vae_command(resume_dir, **_):
    """Train the convolutional VAE baseline on a folder of faces."""
    from neural.vae_training import VaeTrainConfig, VaeTrainer

    run_generative(VaeTrainer, VaeTrainConfig, resume_dir)


@evoface.command("train-prior", cls=ConfigCommand)
@config_options(
    "neural.face_space_training:PriorTrainConfig",
    ("faces", {"metavar": "DIR", "help": "Face image folder (repeatable)."}),
    ("negatives", {"metavar": "DIR", "help": "Non-face folder (repeatable), only measured for the report."}),
    ("out", {"type": RUN_DIR, "help": "Run directory to create."}),
    ("size", {"help": "Image side in pixels."}),
    ("components", {"help": "Principal components kept."}),
    ("mixture", {"help": "Gaussians of the mixture fitted to real faces' coordinates, which evolve's "
                         "--typicality-weight reads (0 = none)."}),
    ("holdout", {"help": "Share of faces kept out of the fit, to measure it on."}),
    ("max_images", {"help": "Use at most this many images from each source."}),
    ("seed", SEED_HELP))
def train_prior_command(**_):
    """Fit the face-space realism prior (principal components of face crops) that evolve's default fitness uses."""
    from evoface.core.rundir import best_checkpoint
    from neural.face_space_training import PriorTrainConfig, train_prior

    config = command_config(PriorTrainConfig)[0]
    metrics = train_prior(config)
    held, noise = metrics["held_out_faces"].get("median"), metrics["uniform_noise"]["median"]
    click.echo(f"distance from face space, median: held-out faces {held if held is None else round(held, 4)}, "
               f"uniform noise {noise:.4f}; prior in {best_checkpoint(config.out)}")


@evoface.command("sample", cls=ConfigCommand)
@config_options(
    "evoface.sampling:SampleConfig",
    ("source", {"flags": ("--model",), "type": click.Path(),
                "help": "A GAN or VAE checkpoint, gan or vae (the shipped ones), or an evolve or "
                                   "illuminate run directory (an illuminate run gives its elites, best first)."}),
    ("n", {"flags": ("-n",), "help": "Number of images."}),
    ("out", {"type": click.Path(), "help": "An image path (.png, .jpg, ...) for a grid, or a folder for N images."}),
    ("device", DEVICE_HELP), ("kernels", KERNELS_HELP), ("seed", SEED_HELP))
def sample_command(**_):
    """Write a grid image, or a folder of N images (for FID), from a trained generator or an evolve run."""
    from evoface.sampling import SampleConfig, sample

    click.echo(sample(command_config(SampleConfig)[0]))


@evoface.command("compare", cls=ConfigCommand)
@config_options(
    "evoface.compare:CompareConfig",
    ("ga", {"metavar": "RUN", "help": "Evolve run directory, or illuminate run (its map's elites) (repeatable)."}),
    ("vae", {"type": click.Path(), "help": "VAE checkpoint."}),
    ("gan", {"type": click.Path(), "help": "GAN checkpoint."}),
    ("real", {"type": click.Path(), "help": "Folder of real faces (at least -n images)."}),
    ("out", {"type": RUN_DIR, "help": "Report folder."}),
    ("n", {"flags": ("-n",), "help": "Samples per method for FID/KID."}),
    ("ga_images", {"help": "best: the best image of each run; top: the top images of each run's final population."}),
    ("size", {"help": "Side of the real images in pixels."}),
    ("columns", {"help": "Images per figure row."}),
    ("fitness", {"type": click.Path(), "help": "Faceness model for the faceness column (default: shipped)."}),
    ("inception_weights", {"type": click.Path(dir_okay=False), "help": "FID Inception weights file."}),
    ("download", {"is_flag": True, "help": "Allow downloading the FID Inception weights."}),
    ("meqfi_sheet", {"is_flag": True, "help": "Also write a blank MEQFI rating sheet for the shown images."}),
    ("meqfi_scores", {"type": click.Path(dir_okay=False),
                      "help": "Score a filled-in MEQFI sheet (alone, or alongside a comparison)."}),
    ("device", DEVICE_HELP), ("kernels", KERNELS_HELP), ("seed", SEED_HELP))
def compare_command(**_):
    """GA / VAE / GAN / real faces side by side: a figure, FID, KID, faceness, face-detector rate, cost."""
    from evoface.compare import CompareConfig, compare_report

    for line in compare_report(command_config(CompareConfig)[0]):
        click.echo(line)


@evoface.command("refine-rounds", cls=ConfigCommand)
@config_options(
    "evoface.refine_rounds:RefineRoundsConfig",
    ("faces", {"metavar": "DIR", "help": "Face folder (repeatable)."}),
    ("negatives", {"metavar": "DIR", "help": "Non-face folder (repeatable)."}),
    ("out", {"type": RUN_DIR, "help": "Folder for all rounds (re-run resumes)."}),
    "rounds",
    ("fitness", {"type": click.Path(), "help": "The first round's model (default: shipped)."}),
    ("generations", {"help": "GA generations a round."}),
    ("epochs", {"help": "Fine-tuning epochs a round."}),
    ("max_images", {"help": "Use at most this many images from each source."}),
    ("genome_size", {"help": "Evolve G x G genomes (see evolve --genome-size)."}),
    "tv_weight", ("device", DEVICE_HELP), ("kernels", KERNELS_HELP), ("seed", SEED_HELP))
def refine_rounds_command(**_):
    """Alternate evolve runs and refinement of the faceness model with their images as non-faces."""
    from evoface.refine_rounds import RefineRoundsConfig, refine_rounds

    config = command_config(RefineRoundsConfig)[0]
    rows = refine_rounds(config)
    if len(rows) < config.rounds:
        click.echo(f"{plural(len(rows), 'round')} of {config.rounds} done: run the same command again to resume")
    else:
        click.echo(f"{plural(len(rows), 'round')} done; the last model is {rows[-1]['model']} refined into "
                   f"{config.out}/round{len(rows) - 1}/fit")


@evoface.command("studio", cls=ConfigCommand)
@config_options(
    "evoface.studio.session:StudioConfig",
    ("out", {"type": click.Path(file_okay=False), "help": "Run directory to create for this session."}),
    ("genome", {"help": "latent: a decoder's latent vector; pixel: the evolve chromosome."}),
    ("decoder", {"help": "Latent genome's GAN/VAE checkpoint, or gan / vae (shipped).  [default: gan]"}),
    ("fitness", {"type": click.Path(), "help": "Faceness checkpoint for the blend and the scores shown (default: "
                                               "shipped model)."}),
    ("grid", {"help": "Faces per generation."}),
    ("fresh", {"help": "New random faces in every generation."}),
    ("strength", {"help": "The page's first mutation strength."}),
    ("blend", {"help": "The page's first blend with the CNN faceness (0: your choice alone)."}),
    ("undo_depth", {"help": "Generations that undo can go back."}),
    ("host", {"help": "Address to listen on; anything but this machine lets others reach the studio."}),
    ("port", {"help": "Port to listen on (0: any free port)."}),
    ("runs", {"type": click.Path(file_okay=False),
              "help": "Folder whose runs the runs page lists, live (default: the one holding the session)."}),
    ("kernels", KERNELS_HELP),
    ("seed", {"help": "Seed of the first grid and the operators."}))
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False),
              help="Reopen this session where it was (with --host, --port or --runs if need be).")
def studio_command(resume_dir, **_):
    """Evolve faces by eye in the browser: a local web page shows a grid, you pick, the GA breeds."""
    from evoface.studio.server import open_and_serve
    from evoface.studio.session import LOCAL_HOST, StudioConfig

    # a resumed session listens on this machine only unless --host is typed again
    local = {"host": LOCAL_HOST} if resume_dir and "host" not in typed_options() else {}
    open_and_serve(*command_config(StudioConfig, resume_dir, **local))


def will_compute(args: list[str]) -> bool:
    """Whether a command line names a command that will run, rather than asking for help."""
    return bool(args) and not {"--help", "-h"} & set(args)


def main(argv: list[str] | None = None) -> None:
    """Entry point: InputError and usage errors print one line and exit with code 2."""
    if "torch" not in sys.modules and will_compute(sys.argv[1:] if argv is None else argv):
        claim_at_start()  # a fresh process: the thread policy must be set before torch loads OpenMP
    try:
        with sigterm_as_ctrl_c():
            result = evoface.main(args=argv, prog_name="evoface", standalone_mode=False)
        sys.exit(result if isinstance(result, int) else 0)
    except (InputError, click.ClickException) as exc:
        message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        click.echo(f"error: {message}", err=True)
        sys.exit(2)
    except OSError as exc:  # an environment problem no command caught itself: still one line, no traceback
        click.echo(f"error: {exc.filename or 'I/O'}: {exc.strerror or exc} (checkpoints are written atomically: the "
                   f"last one is intact)", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except (KeyboardInterrupt, Interrupted):
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
