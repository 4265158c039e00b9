"""An independent face detector (OpenCV's frontal-face Haar cascade): never trained or tuned on evoface data."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def _cascade():
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    if cascade.empty():
        raise RuntimeError("OpenCV's haarcascade_frontalface_default.xml could not be loaded")
    return cascade


def detect_faces(images: np.ndarray, upscale_to: int = 128, min_neighbors: int = 3) -> np.ndarray:
    """Whether a face is found in each (N, H, W, 3) uint8 RGB image; returns an (N,) bool array.

    Images are upscaled to ``upscale_to`` pixels (the cascade's 24x24 window needs room) and searched for a face
    at least a third of the image wide, as a centred face crop would be.
    """
    import cv2

    cascade = _cascade()
    found = np.zeros(len(images), dtype=bool)
    min_side = upscale_to // 3
    for i, image in enumerate(images):
        gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
        gray = cv2.resize(gray, (upscale_to, upscale_to), interpolation=cv2.INTER_LINEAR)
        faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=min_neighbors,
                                         minSize=(min_side, min_side))
        found[i] = len(faces) > 0
    return found
