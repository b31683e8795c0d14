"""Grey PNGs with the standard library: read PinScope's instance masks, write binary masks.

Instance masks are 8- or 16-bit greyscale PNGs (pixel = pin index + 1). The renderer writes them
unfiltered (filter type 0), which decodes at zlib speed; other writers (OpenCV, PIL) choose a filter per
line, which is undone here in plain Python -- slower, but exact. The decoded image is kept as bytes in
row-major order because `bytes.translate`, slicing and `re` then do the per-pixel work in C.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class GreyImage:
    """A decoded greyscale image: `pixels` holds height * width * depth bytes, row-major, big-endian."""

    width: int
    height: int
    depth: int  # bytes per pixel: 1 (8-bit) or 2 (16-bit)
    pixels: bytes

    def values(self) -> list[int]:
        """Every pixel as an int, row-major (for small images and tests)."""
        if self.depth == 1:
            return list(self.pixels)
        return list(struct.unpack(f">{self.width * self.height}H", self.pixels))


def _chunks(blob: bytes, name: str):
    if blob[:8] != SIGNATURE:
        raise ValueError(f"{name}: not a PNG file")
    pos = 8
    while pos + 8 <= len(blob):
        (length,) = struct.unpack(">I", blob[pos : pos + 4])
        kind = blob[pos + 4 : pos + 8]
        yield kind, blob[pos + 8 : pos + 8 + length]
        if kind == b"IEND":
            return
        pos += 12 + length
    raise ValueError(f"{name}: truncated PNG (no IEND chunk)")


def decode_grey(blob: bytes, name: str = "PNG") -> GreyImage:
    """Decode a non-interlaced 8- or 16-bit greyscale PNG; ValueError names what is not supported."""
    header, idat = None, []
    for kind, data in _chunks(blob, name):
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            idat.append(data)
    if header is None:
        raise ValueError(f"{name}: PNG without an IHDR chunk")
    width, height, bits, colour, _compression, _filter, interlace = header
    if colour != 0 or bits not in (8, 16) or interlace:
        raise ValueError(
            f"{name}: masks must be 8- or 16-bit greyscale, non-interlaced PNGs "
            f"(got colour type {colour}, {bits} bits, interlace {interlace})"
        )
    depth = bits // 8
    stride = width * depth
    raw = zlib.decompress(b"".join(idat))
    if len(raw) != height * (stride + 1):
        raise ValueError(f"{name}: image data has {len(raw)} bytes, expected {height * (stride + 1)}")
    filters = raw[:: stride + 1]
    if not filters.strip(b"\x00"):  # every line unfiltered: drop the filter bytes in C
        lines = [raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)] for y in range(height)]
        return GreyImage(width, height, depth, b"".join(lines))
    return GreyImage(width, height, depth, _unfilter(raw, height, stride, depth))


def _unfilter(raw: bytes, height: int, stride: int, bpp: int) -> bytes:
    out = bytearray(height * stride)
    prev = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if kind == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:  # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        elif kind != 0:
            raise ValueError(f"unknown PNG filter type {kind} on line {y}")
        out[y * stride : (y + 1) * stride] = line
        prev = line
    return bytes(out)


def read_grey(path) -> GreyImage:
    with open(path, "rb") as f:
        return decode_grey(f.read(), str(path))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_grey8(width: int, height: int, pixels: bytes) -> bytes:
    """An 8-bit greyscale PNG of `pixels` (height * width bytes, row-major), unfiltered."""
    if len(pixels) != width * height:
        raise ValueError(f"need {width * height} pixel bytes, got {len(pixels)}")
    lines = b"".join(b"\x00" + pixels[y * width : (y + 1) * width] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(lines, 6)) + _chunk(b"IEND", b"")
