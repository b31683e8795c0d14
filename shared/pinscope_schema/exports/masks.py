"""Per-pin regions of an instance mask: runs, COCO RLE, tight boxes, binary masks (standard library only).

The mask value of a pixel is pin index + 1 (0: housing or background). Runs of equal pixels are found
with one regular expression over the bytes, so the cost is per run, not per pixel: a 288 x 96 mask of
27 pins has a few hundred runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .png import GreyImage

_RUN = {1: re.compile(rb"(.)\1*", re.S), 2: re.compile(rb"(..)\1*", re.S)}


def column_major(img: GreyImage) -> bytes:
    """The pixels column by column (COCO's RLE order: down the first column, then the next)."""
    w, d = img.width, img.depth
    if d == 1:
        return b"".join(img.pixels[x::w] for x in range(w))
    out = bytearray(len(img.pixels))
    h = img.height
    for x in range(w):
        column = out[x * h * 2 : (x + 1) * h * 2]
        column[0::2] = img.pixels[2 * x :: 2 * w]
        column[1::2] = img.pixels[2 * x + 1 :: 2 * w]
        out[x * h * 2 : (x + 1) * h * 2] = column
    return bytes(out)


def value_runs(data: bytes, depth: int) -> dict[int, list[tuple[int, int]]]:
    """{pixel value: [(start, length), ...]} in pixels, for every value but 0, in order."""
    runs: dict[int, list[tuple[int, int]]] = {}
    for match in _RUN[depth].finditer(data):
        value = int.from_bytes(match.group(1), "big")
        if value:
            start, end = match.span()
            runs.setdefault(value, []).append((start // depth, (end - start) // depth))
    return runs


@dataclass(frozen=True)
class Region:
    """One pin's pixels in column-major runs, with what COCO wants of them."""

    runs: tuple  # ((start, length), ...) in column-major pixel order
    width: int
    height: int

    @property
    def area(self) -> int:
        return sum(length for _, length in self.runs)

    def counts(self) -> list[int]:
        """Uncompressed COCO RLE counts: zeros, ones, zeros, ... summing to width * height."""
        counts, pos = [], 0
        for start, length in self.runs:
            counts += [start - pos, length]
            pos = start + length
        if pos < self.width * self.height:
            counts.append(self.width * self.height - pos)
        return counts

    def bbox(self) -> list[int]:
        """Tight box [x, y, w, h] of the pixels (what pycocotools' toBbox gives for this mask)."""
        h = self.height
        xs, ys = [], []
        for start, length in self.runs:
            last = start + length - 1
            xs += [start // h, last // h]
            if start // h == last // h:
                ys += [start % h, last % h]
            else:  # the run wraps into the next column: it touches the top and the bottom row
                ys += [0, h - 1]
        return [min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1]


def pin_regions(img: GreyImage) -> dict[int, Region]:
    """{pin index: Region} for every pin with at least one pixel."""
    runs = value_runs(column_major(img), img.depth)
    return {value - 1: Region(tuple(r), img.width, img.height) for value, r in runs.items()}


def rle_string(counts: list[int]) -> str:
    """COCO's compressed RLE (pycocotools' rleToString): LEB128-like, 5 bits a character, offset 48,
    counts after the second stored as the difference to the count two before."""
    out = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift, as the C code's on a signed long
            more = x != -1 if c & 0x10 else x != 0
            out.append(chr((c | 0x20 if more else c) + 48))
    return "".join(out)


def binary_mask(img: GreyImage, value: int) -> bytes:
    """8-bit row-major pixels: 255 where the mask equals `value`, 0 elsewhere."""
    if img.depth == 1:
        return img.pixels.translate(bytes(255 if i == value else 0 for i in range(256)))
    out = bytearray(img.width * img.height)
    for start, length in value_runs(img.pixels, 2).get(value, []):
        out[start : start + length] = b"\xff" * length
    return bytes(out)


def fill_box(width: int, height: int, box) -> bytes:
    """8-bit row-major pixels: 255 inside the pixel box [x0, y0, x1, y1) (clipped to the image)."""
    x0, y0 = max(0, box[0]), max(0, box[1])
    x1, y1 = min(width, box[2]), min(height, box[3])
    out = bytearray(width * height)
    if x1 > x0:
        for y in range(y0, y1):
            out[y * width + x0 : y * width + x1] = b"\xff" * (x1 - x0)
    return bytes(out)
