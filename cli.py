"""The ``evoface`` command line: each command parses and validates its options, then calls one library function."""

from __future__ import annotations

import re
import sys

import click

from evoface.core.errors import InputError

DEVICE = click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
SEED = click.option("--seed", default=0, show_default=True, type=int, help="Seed for every random draw.")


class Duration(click.ParamType):
    """A duration such as 90, 90s, 10m, 1.5h (plain numbers are seconds)."""

    name = "duration"
    UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", str(value))
        if not match or float(match.group(1)) <= 0:
            self.fail(f"{value!r} is not a positive duration like 90s, 10m or 1.5h", param, ctx)
        return float(match.group(1)) * self.UNITS[match.group(2)]


def size_option(default: int = 64):
    return click.option("--size", default=default, show_default=True, type=click.IntRange(32, 128),
                        help="Image side in pixels (32..128).")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="evoface")
def evoface():
    """Generate faces with a pixel genetic algorithm, a DCGAN and a VAE, and compare them."""


@evoface.command("train-fitness")
@click.option("--faces", multiple=True, metavar="DIR", help="Face image folder (repeatable), or torchvision:celeba.")
@click.option("--negatives", multiple=True, metavar="DIR",
              help="Folder of non-face images (repeatable), or torchvision:cifar10.")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory to create.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), help="Continue the run in this directory.")
@size_option()
@click.option("--epochs", default=30, show_default=True, type=click.IntRange(1))
@click.option("--batch-size", default=128, show_default=True, type=click.IntRange(1))
@click.option("--lr", default=1e-3, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--val-fraction", default=0.1, show_default=True, type=click.FloatRange(0, 0.9, min_open=True))
@click.option("--patience", default=5, show_default=True, type=click.IntRange(1),
              help="Stop after this many epochs without a better validation loss.")
@click.option("--max-images", type=click.IntRange(1), help="Use at most this many images from each source.")
@click.option("--time-limit", type=Duration(), help="Stop after this much training time in total (e.g. 20m).")
@click.option("--width", default=16, show_default=True, type=click.IntRange(4, 128),
              help="Channels of the first block.")
@click.option("--flip/--no-flip", default=True, show_default=True, help="Random horizontal flips of faces.")
@click.option("--crop-scale", default=0.85, show_default=True, type=click.FloatRange(0.3, 1.0),
              help="Smallest area share of a random resized crop (1 = off).")
@click.option("--rotate", "rotate_degrees", default=8.0, show_default=True, type=click.FloatRange(0, 45),
              help="Largest random rotation in degrees (0 = off).")
@click.option("--perspective", default=0.06, show_default=True, type=click.FloatRange(0, 0.5),
              help="Strength of random perspective (0 = off).")
@click.option("--init", type=click.Path(), help="Start from this faceness checkpoint instead of random weights.")
@click.option("--refine", multiple=True, metavar="RUN",
              help="Evolve run whose final images are added as non-faces (repeatable); fine-tunes the model it used.")
@click.option("--download", is_flag=True, help="Allow torchvision:NAME sources to download their data.")
@click.option("--torchvision-root", default="data", show_default=True, help="Where torchvision:NAME data lives.")
@DEVICE
@SEED
def train_fitness_command(resume_dir, refine, **options):
    """Train the CNN that scores how much an image is a face (0 = not a face, 1 = a clean face)."""
    from evoface.core.rundir import RunDir
    from neural.fitness_training import FitnessTrainConfig, train_fitness

    if resume_dir:
        config = RunDir(resume_dir, create=False).read_config(FitnessTrainConfig)
        best = train_fitness(config, resume=True)
    else:
        if not options["out"]:
            raise InputError("--out is required (or --resume RUN)")
        if not options["faces"] or not options["negatives"]:
            raise InputError("give at least one --faces and one --negatives source")
        options["faces"], options["negatives"] = list(options["faces"]), list(options["negatives"])
        if refine:
            from evoface.refinement import refinement_init, refinement_negatives

            options["extra_negatives"] = refinement_negatives(refine)
            options["init"] = options["init"] or refinement_init(refine)
        best = train_fitness(FitnessTrainConfig(**options))
    if best.get("epoch"):
        click.echo(f"best epoch {best['epoch']}: val_loss {best['val_loss']:.4f}, spearman {best['val_spearman']:.3f}, "
                   f"auc {best['val_auc']:.3f}")


@evoface.command("evolve")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory to create.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False),
              help="Continue this run; stopping rules given now replace the stored ones.")
@click.option("--fitness", type=click.Path(), help="Faceness checkpoint or train-fitness run (default: shipped model).")
@click.option("--ensemble", multiple=True, type=click.Path(),
              help="Another faceness checkpoint to score with (repeatable); see --ensemble-rule.")
@click.option("--ensemble-rule", type=click.Choice(["min", "mean"]),
              help="Faceness of an ensemble: the minimum or the mean of its models' scores.  [default: min]")
@click.option("--size", type=int, help="Expected image side; must match the fitness model (default: the model's).")
@click.option("--mu", type=int, help="Population size.  [default: 100]")
@click.option("--q", type=int, help="Elites kept unchanged each generation.  [default: 20]")
@click.option("--selection", type=click.Choice(["truncation", "tournament"]),
              help="Parent selection.  [default: truncation]")
@click.option("--truncation", type=int, help="Truncation selection draws parents from this many best (default: q).")
@click.option("--tournsize", type=int, help="Tournament size.  [default: 3]")
@click.option("--cxpb", type=float, help="Crossover probability per pair.  [default: 1.0]")
@click.option("--sigma", type=float, help="Crossover cut ~ N(L/2, (sigma*L)^2).  [default: 0.5]")
@click.option("--indpb", type=float, help="Per-gene reset probability of mutation.  [default: 0.001]")
@click.option("--generations", type=click.IntRange(1),
              help="Stop at this many generations in total (1000 when no stopping rule is given).")
@click.option("--time-limit", type=Duration(), help="Stop after this much evolution in total (e.g. 10m).")
@click.option("--target-fitness", type=float, help="Stop once the best faceness reaches this.")
@click.option("--checkpoint-every", type=int, help="Checkpoint every K generations.  [default: 500]")
@click.option("--snapshot-every", type=int, help="Save the best image every K generations.  [default: 100]")
@click.option("--detector-every", type=int,
              help="Log whether OpenCV's face detector finds a face in the best image every K generations (0 = off).")
@click.option("--top-k", type=click.IntRange(1), help="Individuals in the hall of fame and final grid.  [default: 16]")
@click.option("--genome-size", type=int,
              help="Evolve G x G genomes, upsampled (bilinear) to the model's size to be scored and shown.")
@click.option("--tv-weight", type=float, help="Fitness = faceness - this * total variation (smoothness).  [default: 0]")
@click.option("--blur-sigma", type=float, help="Score a Gaussian-blurred copy (sigma in pixels).  [default: 0]")
@click.option("--init-from", type=click.Path(file_okay=False),
              help="Start from this run's final population, resized to --genome-size (coarse-to-fine).")
@click.option("--device", help="auto, cpu or cuda.  [default: auto]")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]),
              help="Fitness models' precision; auto: bf16 where the CPU has it and it keeps the ranking.  "
                   "[default: auto]")
@click.option("--seed", type=int, help="Seed for every random draw.  [default: 0]")
def evolve_command(resume_dir, **options):
    """Evolve images from uniform noise towards faces with the DEAP pixel GA."""
    from evoface.evolve import EvolveConfig, evolve, resume_config

    options["ensemble"] = list(options["ensemble"]) or None  # not given: keep the default (or the stored one)
    if resume_dir:
        if options.pop("out"):
            raise InputError("--out cannot be combined with --resume")
        config, resume = resume_config(resume_dir, **options), True
    else:
        if not options["out"]:
            raise InputError("--out is required (or --resume RUN)")
        if not any(options[k] is not None for k in ("generations", "time_limit", "target_fitness")):
            options["generations"] = 1000
        config, resume = EvolveConfig(**{k: v for k, v in options.items() if v is not None}), False
    summary = evolve(config, resume=resume)
    click.echo(f"{summary['reason']} at generation {summary['generation']}: best faceness "
               f"{summary['best_fitness']:.4f}; grid {summary['grid']}, timelapse {summary['gif']}")


def generative_options(command):
    """Options shared by train-gan and train-vae."""
    options = [
        click.option("--data", multiple=True, metavar="DIR", help="Folder of training faces (repeatable)."),
        click.option("--out", type=click.Path(file_okay=False), help="Run directory to create."),
        click.option("--resume", "resume_dir", type=click.Path(file_okay=False), help="Continue this run."),
        click.option("--size", default=64, show_default=True, type=click.Choice(["32", "64", "128"])),
        click.option("--epochs", default=25, show_default=True, type=click.IntRange(1)),
        click.option("--batch-size", default=128, show_default=True, type=click.IntRange(1)),
        click.option("--time-limit", type=Duration(),
                     help="Stop after this much training time in total, across resumes (e.g. 30m)."),
        click.option("--holdout", default=0.0, show_default=True, type=click.FloatRange(0, 0.5),
                     help="Share of images kept out of training, saved to RUN/holdout for FID."),
        click.option("--max-images", type=click.IntRange(1), help="Use at most this many images."),
        click.option("--flip/--no-flip", default=True, show_default=True),
        click.option("--crop-scale", default=1.0, show_default=True, type=click.FloatRange(0.3, 1.0)),
        click.option("--rotate", "rotate_degrees", default=0.0, show_default=True, type=click.FloatRange(0, 45)),
        click.option("--perspective", default=0.0, show_default=True, type=click.FloatRange(0, 0.5)),
        click.option("--fid-every", default=0, show_default=True, type=click.IntRange(0),
                     help="FID against the held-out images every N epochs; best.pt is then the lowest FID."),
        click.option("--fid-samples", default=500, show_default=True, type=click.IntRange(2)),
        click.option("--inception-weights", type=click.Path(dir_okay=False), help="FID Inception weights file."),
        click.option("--download", is_flag=True, help="Allow downloading the FID Inception weights."),
        DEVICE, SEED,
    ]
    for option in reversed(options):
        command = option(command)
    return command


def given_on_command_line(name: str) -> bool:
    """Whether the user typed this option (as opposed to click filling in its default)."""
    from click.core import ParameterSource

    return click.get_current_context().get_parameter_source(name) == ParameterSource.COMMANDLINE


def run_generative(trainer_type, config_type, resume_dir, options) -> None:
    from evoface.core.rundir import RunDir

    if resume_dir:
        config = RunDir(resume_dir, create=False).read_config(config_type)
        for key in config_type.resume_overrides:
            if given_on_command_line(key):
                setattr(config, key, options[key])
        summary = trainer_type(config, resume=True).train()
    else:
        if not options["out"] or not options["data"]:
            raise InputError("--data and --out are required (or --resume RUN)")
        options["data"], options["size"] = list(options["data"]), int(options["size"])
        summary = trainer_type(config_type(**options), resume=False).train()
    click.echo(f"trained to epoch {summary['epoch']}; samples in {summary['run']}/samples")


@evoface.command("train-gan")
@generative_options
@click.option("--nz", default=100, show_default=True, type=click.IntRange(1), help="Latent size.")
@click.option("--ngf", default=64, show_default=True, type=click.IntRange(1), help="Generator feature maps.")
@click.option("--ndf", default=64, show_default=True, type=click.IntRange(1), help="Discriminator feature maps.")
@click.option("--lr-g", default=2e-4, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--lr-d", default=2e-4, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--beta1", default=0.5, show_default=True, type=click.FloatRange(0, 1, max_open=True))
@click.option("--loss", default="bce", show_default=True, type=click.Choice(["bce", "lsgan", "hinge"]))
@click.option("--label-smoothing", default=0.0, show_default=True, type=click.FloatRange(0, 0.5),
              help="One-sided: real targets become 1 - this.")
@click.option("--label-flip", default=0.0, show_default=True, type=click.FloatRange(0, 0.5),
              help="Probability of swapping real and fake targets for D (noisy labels).")
@click.option("--instance-noise", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Std of Gaussian noise on D's inputs, annealed linearly to 0.")
@click.option("--d-dropout", default=0.0, show_default=True, type=click.FloatRange(0, 0.9))
@click.option("--g-ema", default=0.0, show_default=True, type=click.FloatRange(0, 1, max_open=True),
              help="Sample from a moving average of G's weights with this decay (e.g. 0.995); may be set on --resume.")
def train_gan_command(resume_dir, **options):
    """Train the DCGAN baseline on a folder of faces."""
    from neural.gan_training import DcganTrainer, GanTrainConfig

    run_generative(DcganTrainer, GanTrainConfig, resume_dir, options)


@evoface.command("train-vae")
@generative_options
@click.option("--latent", default=150, show_default=True, type=click.IntRange(1), help="Latent size.")
@click.option("--width", default=32, show_default=True, type=click.IntRange(4), help="First encoder block's channels.")
@click.option("--lr", default=1e-3, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--beta", default=1.0, show_default=True, type=click.FloatRange(0), help="Weight of the KL term.")
@click.option("--kl-warmup", default=0, show_default=True, type=click.IntRange(0),
              help="Epochs over which beta rises linearly from 0.")
def train_vae_command(resume_dir, **options):
    """Train the convolutional VAE baseline on a folder of faces."""
    from neural.vae_training import VaeTrainConfig, VaeTrainer

    run_generative(VaeTrainer, VaeTrainConfig, resume_dir, options)


@evoface.command("sample")
@click.option("--model", "source", required=True, type=click.Path(),
              help="A GAN or VAE checkpoint, or an evolve run directory.")
@click.option("-n", "n", default=64, show_default=True, type=int, help="Number of images.")
@click.option("--out", required=True, type=click.Path(), help="A .png path for a grid, or a folder for N images.")
@DEVICE
@SEED
def sample_command(source, n, out, device, seed):
    """Write a grid PNG, or a folder of N images (for FID), from a trained generator or an evolve run."""
    from evoface.sample_output import write_samples
    from neural.devices import resolve_device
    from evoface.sampling import sample_images

    images = sample_images(source, n, seed=seed, device=resolve_device(device))
    click.echo(write_samples(images, out, requested=n))


@evoface.command("compare")
@click.option("--ga", multiple=True, metavar="RUN", help="Evolve run directory (repeatable).")
@click.option("--vae", type=click.Path(), help="VAE checkpoint.")
@click.option("--gan", type=click.Path(), help="GAN checkpoint.")
@click.option("--real", type=click.Path(), help="Folder of real faces (at least -n images).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Report folder.")
@click.option("-n", "n", default=1000, show_default=True, type=int, help="Samples per method for FID/KID.")
@click.option("--ga-images", default="best", show_default=True, type=click.Choice(["best", "top"]),
              help="best: the best image of each run; top: the top images of each run's final population.")
@size_option()
@click.option("--columns", default=8, show_default=True, type=click.IntRange(1, 32), help="Images per figure row.")
@click.option("--fitness", type=click.Path(), help="Faceness model for the faceness column (default: shipped).")
@click.option("--inception-weights", type=click.Path(dir_okay=False), help="FID Inception weights file.")
@click.option("--download", is_flag=True, help="Allow downloading the FID Inception weights.")
@click.option("--meqfi-sheet", is_flag=True, help="Also write a blank MEQFI rating sheet for the shown images.")
@click.option("--meqfi-scores", type=click.Path(dir_okay=False),
              help="Score a filled-in MEQFI sheet (alone, or alongside a comparison).")
@DEVICE
@SEED
def compare_command(ga, meqfi_scores, **options):
    """GA / VAE / GAN / real faces side by side: a figure, FID, KID, faceness, face-detector rate, cost."""
    import json
    from pathlib import Path

    from evoface.compare import CompareConfig, compare
    from evoface.meqfi import score_sheet

    if meqfi_scores:
        scores = score_sheet(meqfi_scores)
        Path(options["out"]).mkdir(parents=True, exist_ok=True)
        (Path(options["out"]) / "meqfi.json").write_text(json.dumps(scores, indent=2) + "\n")
        for method, mean in scores["method_means"].items():
            click.echo(f"MEQFI {method}: {mean:.3f}")
        if not (ga or options["vae"] or options["gan"]):
            return
    if not options["real"]:
        raise InputError("--real DIR is required for a comparison")
    result = compare(CompareConfig(ga=list(ga), **options))
    click.echo(Path(result["table"]).read_text().split("\n\n")[1])
    click.echo(f"figure: {result['figure']}")


@evoface.command("refine-rounds")
@click.option("--faces", multiple=True, required=True, metavar="DIR", help="Face folder (repeatable).")
@click.option("--negatives", multiple=True, required=True, metavar="DIR", help="Non-face folder (repeatable).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for all rounds (re-run resumes).")
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(1))
@click.option("--fitness", type=click.Path(), help="The first round's model (default: shipped).")
@click.option("--generations", default=2000, show_default=True, type=click.IntRange(1), help="GA generations a round.")
@click.option("--epochs", default=3, show_default=True, type=click.IntRange(1), help="Fine-tuning epochs a round.")
@click.option("--max-images", type=click.IntRange(1), help="Use at most this many images from each source.")
@click.option("--genome-size", type=int, help="Evolve G x G genomes (see evolve --genome-size).")
@click.option("--tv-weight", default=0.0, show_default=True, type=click.FloatRange(0))
@DEVICE
@SEED
def refine_rounds_command(faces, negatives, **options):
    """Alternate evolve runs and refinement of the faceness model with their images as non-faces."""
    from evoface.refine_rounds import RefineRoundsConfig, refine_rounds

    rows = refine_rounds(RefineRoundsConfig(faces=list(faces), negatives=list(negatives), **options))
    click.echo(f"{len(rows)} round(s) done; the last model is {rows[-1]['model'] if rows else '-'} refined into "
               f"{options['out']}/round{len(rows) - 1}/fit")


@evoface.command("studio")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory to create for this session.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), help="Reopen this session where it was.")
@click.option("--genome", type=click.Choice(["latent", "pixel"]),
              help="latent: a decoder's latent vector; pixel: the evolve chromosome.  [default: latent]")
@click.option("--decoder", help="Latent genome's GAN/VAE checkpoint, or gan / vae (shipped).  [default: gan]")
@click.option("--fitness", type=click.Path(), help="Faceness checkpoint for the blend and the scores shown "
                                                   "(default: shipped model).")
@click.option("--grid", type=int, help="Faces per generation.  [default: 16]")
@click.option("--fresh", type=int, help="New random faces in every generation.  [default: 2]")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but this machine lets others reach the studio.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port to listen on (0: any free port).")
@click.option("--runs", type=click.Path(file_okay=False),
              help="Folder whose runs the runs page lists, live (default: the one holding the session).")
@click.option("--seed", type=int, help="Seed of the first grid and the operators.  [default: 0]")
def studio_command(resume_dir, host, port, runs, **options):
    """Evolve faces by eye in the browser: a local web page shows a grid, you pick, the GA breeds."""
    from evoface.studio.server import studio
    from evoface.studio.session import StudioConfig

    if resume_dir:
        given = [name for name, value in options.items() if value is not None]
        if given:
            raise InputError(f"--{given[0].replace('_', '-')} cannot be changed on --resume "
                             f"(only --host, --port and --runs)")
        studio(resume_dir=resume_dir, host=host, port=port, **({"runs": runs} if runs else {}))
    else:
        if not options["out"]:
            raise InputError("--out is required (or --resume RUN)")
        studio(StudioConfig(host=host, port=port, runs=runs, **{k: v for k, v in options.items() if v is not None}))


def main(argv: list[str] | None = None) -> None:
    """Entry point: InputError and usage errors print one line and exit with code 2."""
    try:
        result = evoface.main(args=argv, prog_name="evoface", standalone_mode=False)
        sys.exit(result if isinstance(result, int) else 0)
    except (InputError, click.ClickException) as exc:
        message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        click.echo(f"error: {message}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
