"""The ``evoface`` command line: each command parses and validates its options, then calls one library function."""

from __future__ import annotations

import re
import sys

import click

from evoface.errors import InputError

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
@click.option("--faces", multiple=True, metavar="DIR", help="Folder of face images (repeatable), or torchvision:celeba.")
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
@click.option("--time-limit", type=Duration(), help="Stop after this much training time (e.g. 20m).")
@click.option("--width", default=16, show_default=True, type=click.IntRange(4, 128), help="Channels of the first block.")
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
    from neural.fitness_training import FitnessTrainConfig, train_fitness
    from evoface.rundir import RunDir

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
@click.option("--generations", type=click.IntRange(1), help="Stop at this many generations in total.")
@click.option("--time-limit", type=Duration(), help="Stop after this long (e.g. 10m).")
@click.option("--target-fitness", type=float, help="Stop once the best faceness reaches this.")
@click.option("--checkpoint-every", type=int, help="Checkpoint every K generations.  [default: 500]")
@click.option("--snapshot-every", type=int, help="Save the best image every K generations.  [default: 100]")
@click.option("--detector-every", type=int,
              help="Log whether OpenCV's face detector finds a face in the best image every K generations (0 = off).")
@click.option("--top-k", type=click.IntRange(1), help="Individuals in the hall of fame and final grid.  [default: 16]")
@click.option("--device", help="auto, cpu or cuda.  [default: auto]")
@click.option("--seed", type=int, help="Seed for every random draw.  [default: 0]")
def evolve_command(resume_dir, **options):
    """Evolve images from uniform noise towards faces with the DEAP pixel GA."""
    from evoface.evolve import EvolveConfig, evolve, resume_config

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
