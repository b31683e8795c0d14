"""Compose the README's preset and lighting pictures from tools/render_doc_renders.py's renders (trainer env).

    .venvs/trainer/bin/python tools/make_part_images.py --renders build/doc-renders --out docs/img

Writes docs/img/presets.png (every connector preset, captioned with its fitted camera) and
docs/img/lighting.png (the box header under each lighting preset). Nothing is drawn by hand: the images
are PinScope renders, the boxes the rows' defect boxes, the captions the specs' own numbers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from make_readme_images import MAX_WIDTH, label

WIDTH = 640  # every tile is scaled to this width so the strip is even (and the repository stays small)


def tile(folder: Path, entry: dict, lines: list[str]) -> np.ndarray:
    image = cv2.imread(str(folder / entry["file"]), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"error: cannot read {folder / entry['file']}")
    factor = WIDTH / image.shape[1]
    x0, y0, x1, y1 = (int(round(v * factor)) for v in entry["defect_box"])
    image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), (0, 0, 255), 2)
    for text in reversed(lines):
        image = label(image, text)
    return image


def strip(folder: Path, entries: list, lines_of) -> np.ndarray:
    out = np.vstack([tile(folder, e, lines_of(e)) for e in entries])
    if out.shape[1] > MAX_WIDTH:
        out = cv2.resize(
            out, None, fx=MAX_WIDTH / out.shape[1], fy=MAX_WIDTH / out.shape[1], interpolation=cv2.INTER_AREA
        )
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--renders", default="build/doc-renders")
    p.add_argument("--out", default="docs/img")
    args = p.parse_args(argv)
    renders, out = Path(args.renders), Path(args.out)
    captions = json.loads((renders / "captions.json").read_text())
    presets = strip(renders / "presets", captions["presets"], lambda e: [e["caption"], e["optics"][0], e["optics"][1]])
    lighting = strip(renders / "lighting", captions["lighting"], lambda e: [f"{e['caption']}  ({e['defect']} boxed)"])
    png = [cv2.IMWRITE_PNG_COMPRESSION, 9]
    cv2.imwrite(str(out / "presets.png"), presets, png)
    cv2.imwrite(str(out / "lighting.png"), lighting, png)
    print(f"wrote {out / 'presets.png'} and {out / 'lighting.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
