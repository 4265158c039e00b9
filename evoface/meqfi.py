"""MEQFI, the human score of generated faces from the DCGAN face study: a rating sheet and its scoring.

A rater marks each shown image 1-5 for each facial feature, or leaves it blank when it does not apply. With F
features in all, I of them ignored (blank), P_i = mark_i / 5 and alpha_i = 0 for ignored features, 1 otherwise:
    score = (1 / (F - I)) * sum_i alpha_i * P_i
so a score lies in [0.2, 1]; an image with every feature blank has no score.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from evoface.core.errors import InputError

FEATURES = ("nose", "eyes", "eyebrows", "mouth", "ears", "teeth", "skin_tone")
ID_COLUMNS = ("method", "image")


def write_sheet(shown: list[tuple[str, str]], path: Path) -> Path:
    """A blank rating sheet: one row per (method, image path) shown, a blank column per feature."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*ID_COLUMNS, *FEATURES])
        for method, image in shown:
            writer.writerow([method, image, *([""] * len(FEATURES))])
    return path


def image_score(marks: dict[str, int | None]) -> float | None:
    """MEQFI of one image from its marks (1-5, or None for a feature that does not apply)."""
    given = [m for m in (marks.get(f) for f in FEATURES) if m is not None]
    if not given:
        return None
    return sum(m / 5 for m in given) / len(given)  # 1/(F-I) * sum(alpha_i P_i): blanks have alpha_i = 0


def _mark(value: str, row: int, feature: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if value not in {"1", "2", "3", "4", "5"}:
        raise InputError(f"MEQFI sheet row {row}: {feature} must be 1-5 or blank, got {value!r}")
    return int(value)


def score_sheet(path: str | Path) -> dict[str, object]:
    """Each image's MEQFI and the mean per method, from a filled-in sheet."""
    path = Path(path)
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise InputError(f"cannot read MEQFI sheet {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error):
        raise InputError(f"{path} is not an MEQFI sheet (not a CSV text file)") from None
    if not rows or not set(ID_COLUMNS + FEATURES) <= set(rows[0]):
        raise InputError(f"{path} is not an MEQFI sheet (columns {', '.join(ID_COLUMNS + FEATURES)})")
    images, per_method = [], defaultdict(list)
    for number, row in enumerate(rows, start=2):
        score = image_score({f: _mark(row[f], number, f) for f in FEATURES})
        images.append({"method": row["method"], "image": row["image"], "meqfi": score})
        if score is not None:
            per_method[row["method"]].append(score)
    means = {method: sum(s) / len(s) for method, s in per_method.items()}
    return {"images": images, "method_means": means}
