"""What a face-space prior allows at best: KID x1000 of real faces projected into face space (the closest image a
point of face space can be to each), and of random points of face space (each coordinate drawn with real faces'
spread), in sets of as many images as ``ga_quality.py`` judges, against the same 1,000 real CelebA faces. A pixel GA
whose images sit in face space cannot beat its prior's projections; its random draws, and those of them that pass
evolve's faceness cap, are what no search at all gives; where the prior carries a mixture over its coordinates
(``train-prior --mixture``), the same for the mixture's random draws. With ``--runs``, also where evolved images lie
along the components: the mean |coordinate|, in real faces' standard deviations, on the first four components and on
the last sixteen (real faces: about 1 on each), the share of their projections' values past black or white (what the
plain distance from face space charges and ``--prior-projection clipped`` does not), the median NLL of their
coordinates under the prior's mixture where it has one, and the KID of the runs' best images
as they are and projected into face space (without what lies off it).

Run: python bench/prior_ceiling.py [--priors shipped runs/prior256 ...] [--runs 'runs/ga-quality/default-s*' ...]
     [--set-size 10] [--sets 4] [--bar 0.98] [--draws 20000] [--fitness CKPT]
Each prior is ``shipped`` or a ``train-prior`` run or checkpoint. The projected faces are CelebA and UTKFace crops
outside the 1,000 real faces.
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from evoface.sampling import evolve_run_images  # noqa: E402
from evoface.scoring import BatchScorer  # noqa: E402
from fitness_data.folder import load_folder  # noqa: E402
from neural.face_space import load_face_space  # noqa: E402
from neural.faceness_store import load_faceness  # noqa: E402
from neural.fid import inception_features, inception_model, kernel_inception_distance  # noqa: E402


def as_chw(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)


def projected(images: np.ndarray, face_space) -> np.ndarray:
    """(n, S, S, 3) uint8: each image's nearest point of face space."""
    with torch.inference_mode():
        flat = face_space.project(as_chw(images)).clamp(0, 1).mul(255).round().byte()
    return flat.reshape(images.shape).numpy()


def gaussian_draws(face_space, count: int, seed: int = 0, mixture: bool = False) -> np.ndarray:
    """(count, S, S, 3) uint8: random points of face space, each coordinate ~ N(0, real faces' std^2), or with
    ``mixture`` the coordinates drawn from the face space's mixture."""
    generator = torch.Generator().manual_seed(seed)
    normal = torch.randn(count, face_space.config.components, generator=generator)
    if mixture:  # a Gaussian by weight, then its mean + chol^-T z (its precision is chol chol^T, chol upper)
        gaussians = face_space.mixture
        which = torch.multinomial(gaussians.log_weights.exp(), count, replacement=True, generator=generator)
        chol_t = gaussians.precision_chol[which].transpose(1, 2)
        normal = gaussians.means[which] + torch.linalg.solve_triangular(chol_t, normal[:, :, None], upper=False)[..., 0]
    coordinates = normal * face_space.std
    flat = (face_space.mean + coordinates @ face_space.components.T).clamp(0, 1).mul(255).round().byte()
    size = face_space.config.size
    return flat.reshape(count, size, size, 3).numpy()


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    data = root.parent / "shared" / "data"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--priors", nargs="+", default=["shipped"])
    parser.add_argument("--runs", nargs="*", default=[], help="globs of evolve run folders, one row per glob")
    parser.add_argument("--real", default=str(data / "celeba"))
    parser.add_argument("--others", nargs="+", default=[str(data / "celeba"), str(data / "utkface")])
    parser.add_argument("--weights", default=str(root.parent / "shared" / "weights" / "pt_inception-fid-features.pth"))
    parser.add_argument("--set-size", type=int, default=10)
    parser.add_argument("--sets", type=int, default=4)
    parser.add_argument("--bar", type=float, default=0.98, help="faceness a random draw must reach (evolve's cap)")
    parser.add_argument("--draws", type=int, default=20_000, help="random draws scored for --bar")
    parser.add_argument("--fitness", default=None, help="faceness checkpoint (default: the shipped one)")
    args = parser.parse_args()
    print(machine())
    inception = inception_model(args.weights)
    real_images = load_folder(args.real, 64, limit=1000, seed=11, quiet=True).images  # ga_quality.py's
    real = inception_features(inception, real_images)
    seen = {image.tobytes() for image in real_images}
    count = args.set_size * args.sets
    sources = {}
    for folder in args.others:
        images = load_folder(folder, 64, limit=count + len(real_images), seed=5, quiet=True).images
        sources[Path(folder).name] = np.stack([image for image in images if image.tobytes() not in seen][:count])

    def kid(images: np.ndarray) -> str:
        features = inception_features(inception, images)
        values = [1000 * kernel_inception_distance(features[i:i + args.set_size], real, subsets=100,
                                                   subset_size=args.set_size)[0]
                  for i in range(0, len(images) - args.set_size + 1, args.set_size)]
        return f"{np.mean(values):5.0f} ± {np.std(values):3.0f}"

    print(f"KID x1000 against {len(real_images)} real faces, sets of {args.set_size} (mean ± std over "
          f"{args.sets} sets)")
    print(f"{'images':50} " + " ".join(f"{name:>11}" for name in sources))
    print(f"{'as they are':50} " + " ".join(f"{kid(images):>11}" for images in sources.values()))
    spaces = {name: load_face_space(None if name == "shipped" else name) for name in args.priors}
    scorer = BatchScorer(load_faceness(args.fitness), torch.device("cpu"), precision="fp32")
    for name, face_space in spaces.items():
        label = f"projected into {name} ({face_space.config.components} components)"
        print(f"{label:50} " + " ".join(f"{kid(projected(images, face_space)):>11}" for images in sources.values()))
        print(f"{'  its random draws (Gaussian coordinates)':50} {kid(gaussian_draws(face_space, count)):>11}")
        for mixture in (False, True) if face_space.mixture is not None else (False,):
            if mixture:
                draws = gaussian_draws(face_space, count, mixture=True)
                print(f"{'  the random draws of its mixture':50} {kid(draws):>11}")
            draws = gaussian_draws(face_space, args.draws, seed=1, mixture=mixture)
            faceness = scorer(draws.reshape(len(draws), -1))
            passing = draws[faceness >= args.bar][:count]
            label = (f"  those{' of the mixture' if mixture else ''} with faceness >= {args.bar:g} "
                     f"({(faceness >= args.bar).mean():.1%} of {len(draws):,})")
            print(f"{label:50} {kid(passing) if len(passing) >= args.set_size else 'too few':>11}")
    if args.runs:
        face_space = next(iter(spaces.values()))
        print(f"\nmean |coordinate| in {args.priors[0]}'s face space, in real faces' stds: first 4 / last 16 "
              "components; share of the projection's values outside [0, 1]")

        def spread(images: np.ndarray) -> str:
            with torch.inference_mode():
                signed = face_space.coefficients(as_chw(images))
                coordinates = signed.abs().numpy()
                projection = face_space.project(as_chw(images))
                mixture = face_space.mixture
                nll = f"; the mixture's NLL, median {mixture.nll(signed).median():.1f}" if mixture is not None else ""
            outside = ((projection < 0) | (projection > 1)).float().mean().item()
            return f"{coordinates[:, :4].mean():.2f} / {coordinates[:, -16:].mean():.2f}; {outside:.1%} outside{nll}"

        print(f"{'real faces (' + args.real + ')':60} {spread(real_images)}")
        print(f"{'random draws of face space':60} {spread(gaussian_draws(face_space, len(real_images)))}")
        for pattern in args.runs:
            runs = sorted(glob.glob(pattern))
            halls = [evolve_run_images(run, 16) for run in runs]
            best = np.stack([hall[0] for hall in halls])
            kids = [1000 * kernel_inception_distance(inception_features(inception, images), real, subsets=100,
                                                     subset_size=len(images))[0]
                    for images in (best, projected(best, face_space))]
            print(f"{pattern + f' ({len(runs)} runs, 16 each)':60} {spread(np.concatenate(halls))}; KID x1000 of "
                  f"the best images {kids[0]:.0f}, projected into face space {kids[1]:.0f}")


if __name__ == "__main__":
    main()
