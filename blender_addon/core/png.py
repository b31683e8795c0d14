"""Minimal PNG files (zlib + struct): exact 8/16-bit masks without any colour management in the way.

`write_png` takes rows of integers (or a numpy array); `read_png` needs numpy and is used by tests and
benchmarks to read Blender's renders back.
"""

from __future__ import annotations

import struct
import zlib

_MODES = {"L": (0, 1), "RGB": (2, 3), "RGBA": (6, 4)}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(pixels, bit_depth: int = 8) -> bytes:
    """Grayscale PNG of a 2-D grid of integers (list of rows or numpy array), 8 or 16 bit."""
    if bit_depth not in (8, 16):
        raise ValueError("bit_depth must be 8 or 16")
    limit = (1 << bit_depth) - 1
    try:
        import numpy as np
    except ImportError:
        np = None
    if np is not None:
        arr = np.asarray(pixels)
        height, width = arr.shape
        if arr.size and (arr.min() < 0 or arr.max() > limit):
            raise ValueError(f"pixel values must be 0..{limit}")
        body = arr.astype(">u2" if bit_depth == 16 else np.uint8)
        raw = np.zeros((height, 1 + body.nbytes // max(height, 1)), np.uint8)
        raw[:, 1:] = body.view(np.uint8).reshape(height, -1)
        data = raw.tobytes()
    else:
        rows = [list(r) for r in pixels]
        height, width = len(rows), len(rows[0]) if rows else 0
        fmt = f">{width}H" if bit_depth == 16 else f"{width}B"
        parts = []
        for row in rows:
            if row and (min(row) < 0 or max(row) > limit):
                raise ValueError(f"pixel values must be 0..{limit}")
            parts.append(b"\x00" + struct.pack(fmt, *row))
        data = b"".join(parts)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(data, 6)) + _chunk(b"IEND", b"")
    )


def write_png(path, pixels, bit_depth: int = 8) -> None:
    with open(path, "wb") as f:
        f.write(encode_png(pixels, bit_depth))


PNG_END = _chunk(b"IEND", b"")  # every complete PNG ends with these 12 bytes


def png_complete(path) -> bool:
    """True when `path` ends with PNG's IEND chunk. Blender reports a render as written even when the disk
    filled up mid-write; a file cut short anywhere lacks this ending."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            if f.tell() < len(PNG_END):
                return False
            f.seek(-len(PNG_END), 2)
            return f.read() == PNG_END
    except OSError:
        return False


TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")


def strip_text_chunks(path) -> bool:
    """Drop a PNG's text chunks in place; True when there were any.

    Why: Cycles stamps its render time into every PNG it writes ("cycles.ViewLayer.render_time"), even
    with every `use_stamp_*` off, so two renders of the same sample had equal pixels but different
    bytes and hashes. Without the text chunks the same spec and seed give byte-identical files.
    """
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    kept, pos, dropped = [data[:8]], 8, False
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        end = pos + 12 + length
        if data[pos + 4 : pos + 8] in TEXT_CHUNKS:
            dropped = True
        else:
            kept.append(data[pos:end])
        pos = end
    if dropped:
        with open(path, "wb") as f:
            f.write(b"".join(kept))
    return dropped


def read_png(path):
    """Decode a non-interlaced 8/16-bit gray, RGB or RGBA PNG into a numpy array (H, W) or (H, W, C)."""
    import numpy as np

    with open(path, "rb") as f:
        blob = f.read()
    if blob[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    pos, idat, header = 8, [], None
    while pos < len(blob):
        (length,) = struct.unpack(">I", blob[pos : pos + 4])
        kind, data = blob[pos + 4 : pos + 8], blob[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            idat.append(data)
        elif kind == b"IEND":
            break
    width, height, depth, color_type, _, _, interlace = header
    channels = {0: 1, 2: 3, 6: 4, 4: 2}.get(color_type)
    if channels is None or depth not in (8, 16) or interlace:
        raise ValueError(f"{path}: unsupported PNG (colour type {color_type}, depth {depth}, interlace {interlace})")
    bpp = channels * depth // 8
    stride = width * bpp
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 1:  # Sub: running sum per byte position within a pixel
            cur = np.cumsum(line.reshape(-1, bpp), axis=0).reshape(-1) & 0xFF
        elif kind == 2:
            cur = (line + prev) & 0xFF
        else:
            cur = _unfilter_slow(kind, line.tolist(), prev.tolist(), bpp)
            cur = np.asarray(cur, np.int32)
        out[y] = cur
        prev = cur
    if depth == 16:
        pixels = out.view(">u2").astype(np.uint16).reshape(height, width, channels)
    else:
        pixels = out.reshape(height, width, channels)
    return pixels[:, :, 0] if channels == 1 else pixels


def _unfilter_slow(kind, line, prev, bpp):
    cur = [0] * len(line)
    for i, x in enumerate(line):
        a = cur[i - bpp] if i >= bpp else 0
        b = prev[i]
        if kind == 3:
            cur[i] = (x + ((a + b) >> 1)) & 0xFF
        else:  # Paeth
            c = prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[i] = (x + pred) & 0xFF
    return cur
