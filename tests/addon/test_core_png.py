"""Pure core: the minimal PNG writer/reader round-trips masks exactly, with and without numpy."""

import zlib

import numpy as np
import pytest

from blender_addon.core import png


@pytest.mark.parametrize("depth,top", [(8, 255), (16, 4096)])
def test_grayscale_round_trip(tmp_path, depth, top):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, top + 1, size=(7, 13))
    path = tmp_path / "m.png"
    png.write_png(path, pixels, depth)
    back = png.read_png(path)
    assert back.shape == (7, 13) and np.array_equal(back, pixels)
    # The list-of-rows path (used where numpy is missing) writes the same bytes.
    assert png.encode_png(pixels.tolist(), depth) == path.read_bytes()


def test_values_out_of_range_are_refused():
    with pytest.raises(ValueError):
        png.encode_png([[0, 256]], 8)
    with pytest.raises(ValueError):
        png.encode_png([[0, 1]], 12)


def _png_with_filters(rows, filters):
    """An RGB PNG whose scanlines use the given filter types (what Blender's writer does)."""
    h, w, _ = rows.shape
    raw = bytearray()
    prev = np.zeros(w * 3, np.int32)
    for y in range(h):
        cur = rows[y].reshape(-1).astype(np.int32)
        f = filters[y % len(filters)]
        out = np.zeros_like(cur)
        for i in range(cur.size):
            a = cur[i - 3] if i >= 3 else 0
            b = prev[i]
            c = prev[i - 3] if i >= 3 else 0
            pred = (
                [0, a, b, (a + b) // 2][f]
                if f < 4
                else (
                    a
                    if abs(b - c) <= abs(a - c) and abs(b - c) <= abs(a + b - 2 * c)
                    else (b if abs(a - c) <= abs(a + b - 2 * c) else c)
                )
            )
            out[i] = (cur[i] - pred) & 0xFF
        raw += bytes([f]) + bytes(out.astype(np.uint8))
        prev = cur
    import struct

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(bytes(raw)))
        + chunk(b"IEND", b"")
    )


def test_reader_undoes_every_filter(tmp_path):
    rng = np.random.default_rng(1)
    rows = rng.integers(0, 256, size=(10, 6, 3)).astype(np.uint8)
    path = tmp_path / "rgb.png"
    path.write_bytes(_png_with_filters(rows, [0, 1, 2, 3, 4]))
    assert np.array_equal(png.read_png(path), rows)


def test_strip_text_chunks_keeps_the_pixels(tmp_path):
    path = tmp_path / "t.png"
    png.write_png(path, np.arange(48, dtype=np.uint8).reshape(6, 8))
    data = path.read_bytes()
    stamp = png._chunk(b"tEXt", b"cycles.ViewLayer.render_time\x0000:00.54")
    path.write_bytes(data[:33] + stamp + data[33:])  # after IHDR (8 + 25 bytes), where Blender puts it
    before = png.read_png(path)
    assert png.strip_text_chunks(path) is True
    assert path.read_bytes() == data and np.array_equal(png.read_png(path), before)
    assert png.strip_text_chunks(path) is False  # nothing left to drop: the file is not rewritten
