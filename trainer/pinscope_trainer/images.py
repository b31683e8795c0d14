"""Reading images the one strict way: 8-bit RGB PNG or JPEG, or a reason why not.

Training (cache.py), predict and the reference readers all decode through `read_image`, so a file
the trainer accepts is one predict accepts, and its pixels are the same. OpenCV's own log lines are
silenced: a corrupt file becomes one error line naming it, with nothing printed before it.
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
from pinscope_schema import MANIFEST

from .errors import UsageError
from .rows import split_images

MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG"}
SUFFIXES = (".png", ".jpg", ".jpeg")


class BadImage(ValueError):
    """An image that cannot be used; the message says why and what is allowed."""


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a PNG or JPEG file; raises BadImage saying what is wrong with it."""
    import cv2
    import cv2.utils.logging as cv_log

    cv_log.setLogLevel(cv_log.LOG_LEVEL_SILENT)  # libpng/libjpeg warnings would print before our error
    path = Path(path)
    if not path.is_file():
        raise BadImage("missing image file" if not path.exists() else "not a file")
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise BadImage("empty file (0 bytes); need a PNG or JPEG image")
    if not any(data[: len(m)].tobytes() == m for m in MAGIC):
        raise BadImage("not a PNG or JPEG image")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise BadImage("cannot decode image (corrupt or truncated PNG/JPEG)")
    if image.dtype != np.uint8:
        raise BadImage(f"is a {8 * image.dtype.itemsize}-bit image; need 8-bit RGB")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels != 3:
        kind = {1: "grey", 2: "grey + alpha", 4: "RGBA"}.get(channels, "")
        raise BadImage(f"has {channels} channel{'s' * (channels > 1)} ({kind}); need 3 (RGB)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def resized(image: np.ndarray, size) -> np.ndarray:
    """`image` at size (H, W): area interpolation (what the training cache uses), untouched if it fits."""
    import cv2

    h, w = size
    if image.shape[:2] == (h, w):
        return image
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


def decode(path: Path, size, field: str) -> np.ndarray:
    """read_image + resized, with bad input as UsageError(field, why)."""
    try:
        return resized(read_image(path), size)
    except BadImage as err:
        raise UsageError(field, str(err)) from None


def expand(arguments, field: str = "IMAGES") -> list[Path]:
    """Image files named by arguments: files, folders (their PNG/JPEG files, not recursive; a PinScope
    split folder gives its rows' images) and globs ('**' recurses). Order kept, duplicates dropped."""
    found: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            if (path / MANIFEST).is_file():
                raise UsageError(field, f"{path} is a PinScope dataset; name one of its splits, e.g. {path / 'test'}")
            listed = split_images(path) or sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
            if not listed:
                raise UsageError(field, f"{path} holds no PNG/JPEG images")
        elif path.exists():
            listed = [path]
        else:
            listed = [Path(p) for p in sorted(glob.glob(str(argument), recursive=True)) if Path(p).is_file()]
            if not listed:
                raise UsageError(field, f"{argument}: no such file, folder or matching images")
        found += listed
    seen: set[Path] = set()
    unique = []
    for path in found:  # the first spelling of each file wins
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return unique
