"""Real faces' 1st-99th percentile of each built-in measure of ``evoface illuminate``, written to
evoface/qd/real_faces.json (the ranges its archive spans by default).

    python bench/qd_ranges.py ../shared/data/celeba ../shared/data/utkface
"""

from __future__ import annotations

import argparse
import json
from datetime import date

import numpy as np
import torch

from evoface.qd.measures import REAL_FACES, hue, luminance
from fitness_data.folder import load_folder
from neural.face_space import DEFAULT_PRIOR, load_face_space

PERCENTILES = (1, 99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="folders of aligned face crops")
    args = parser.parse_args()
    face_space = load_face_space()
    images = np.concatenate([load_folder(folder, face_space.config.size, quiet=True).images for folder in args.folders])
    with torch.no_grad():
        coefficients = face_space.coefficients(torch.from_numpy(images).permute(0, 3, 1, 2)).double().numpy()
    values = {"luminance": luminance(images), "hue": hue(images),
              **{f"face-space:{i}": coefficients[:, i] for i in range(coefficients.shape[1])}}
    ranges = {name: [round(float(v), 4) for v in np.percentile(column, PERCENTILES)] for name, column in values.items()}
    REAL_FACES.write_text(json.dumps({
        "about": f"real faces' {PERCENTILES[0]}st-{PERCENTILES[1]}th percentiles of each measure (bench/qd_ranges.py)",
        "faces": [str(folder) for folder in args.folders], "images": len(images),
        "face_space": DEFAULT_PRIOR.name, "date": date.today().isoformat(), "ranges": ranges}, indent=1) + "\n")
    print(f"{len(images)} faces -> {REAL_FACES}")
    for name in ("luminance", "hue", "face-space:0", "face-space:1"):
        print(name, ranges[name])


if __name__ == "__main__":
    main()
