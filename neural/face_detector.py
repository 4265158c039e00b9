"""Independent face detectors, to judge generated images: never trained or tuned on evoface data, and never part of a
fitness or of selection.

- ``cnn``: dlib's MMOD convolutional face detector (``mmod_human_face_detector.dat``, shipped in the PyPI package
  face_recognition_models; trained by dlib's author on his own labelled set, not on CelebA or UTKFace). On 200
  CelebA and 200 UTKFace crops at 64 px it finds a face in 100% of both, and in 0% of 200 CIFAR-10 images and of 100
  uniform-noise images (measured with this module's settings).
- ``hog``: dlib's HOG + linear SVM frontal face detector (built into dlib): 97% / 94% / 0% / 0% on the same images.
- ``haar``: OpenCV's frontal-face Haar cascade. It also fires on some noise textures: a weak judge, kept for
  comparison with earlier figures.

Each takes (N, H, W, 3) uint8 RGB images, upscales them (the detectors need room) and returns an (N,) bool array.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

DETECTORS = ("cnn", "hog", "haar")
UPSCALE = 160  # side the images are resized to before detection


def _upscaled(image: np.ndarray, side: int) -> np.ndarray:
    import cv2

    return cv2.resize(np.ascontiguousarray(image), (side, side), interpolation=cv2.INTER_LINEAR)


@lru_cache(maxsize=1)
def _haar():
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    if cascade.empty():
        raise RuntimeError("OpenCV's haarcascade_frontalface_default.xml could not be loaded")
    return cascade


@lru_cache(maxsize=1)
def _dlib_cnn():
    import dlib

    # find_spec locates the data package without importing it (its __init__ needs the retired pkg_resources)
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the face_recognition_models package (dlib's CNN face detector weights) is not installed")
    weights = Path(spec.submodule_search_locations[0]) / "models" / "mmod_human_face_detector.dat"
    return dlib.cnn_face_detection_model_v1(str(weights))


@lru_cache(maxsize=1)
def _dlib_hog():
    import dlib

    return dlib.get_frontal_face_detector()


def _haar_found(image: np.ndarray, side: int) -> bool:
    import cv2

    gray = cv2.cvtColor(_upscaled(image, side), cv2.COLOR_RGB2GRAY)
    min_side = side // 3  # a face at least a third of the image wide, as a centred face crop would be
    return len(_haar().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3, minSize=(min_side, min_side))) > 0


def detect_faces(images: np.ndarray, detector: str = "haar", upscale_to: int | None = None) -> np.ndarray:
    """Whether ``detector`` (one of ``DETECTORS``) finds a face in each (N, H, W, 3) uint8 RGB image: (N,) bool."""
    if detector not in DETECTORS:
        raise ValueError(f"unknown face detector {detector!r}: use one of {', '.join(DETECTORS)}")
    if detector == "haar":
        side = upscale_to or 128
        return np.array([_haar_found(image, side) for image in images], dtype=bool)
    side = upscale_to or UPSCALE
    model = _dlib_cnn() if detector == "cnn" else _dlib_hog()
    return np.array([len(model(_upscaled(image, side), 0)) > 0 for image in images], dtype=bool)


def detector_rates(images: np.ndarray, detectors: tuple[str, ...] = DETECTORS) -> dict[str, float]:
    """Share of images in which each detector finds a face (NaN for no images)."""
    if len(images) == 0:
        return {name: float("nan") for name in detectors}
    return {name: float(detect_faces(images, name).mean()) for name in detectors}
