"""Small synthetic PinScope datasets written through the contract's DatasetWriter (tests, bench).

A render is a dark housing with a cols x rows grid of bright rectangles (the array's long axis is
horizontal, as the seed's cameras see it); the defective pin is dimmed (retract), shifted vertically
(tilt_x) or horizontally (tilt_y). Lighting varies per sample (brightness gain) and pixels get noise,
so `unit` references differ from samples while `twin`s match them exactly apart from the defect.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _layout(spec, height: int, width: int):
    g = spec.grid
    cell_w, cell_h = width / g.rows, height / g.cols
    boxes = []
    for r in range(g.rows):
        for c in range(g.cols):
            x0 = int(r * cell_w + cell_w * 0.25)
            y0 = int(c * cell_h + cell_h * 0.25)
            boxes.append([x0, y0, max(x0 + 1, int(x0 + cell_w * 0.5)), max(y0 + 1, int(y0 + cell_h * 0.5))])
    return boxes


def draw(
    spec, boxes, defect_index: int, mode: str, gain: float, noise_rng, height: int, width: int, noise: float = 6.0
):
    """RGB uint8 render and its instance mask."""
    image = np.full((height, width, 3), 20.0, dtype=np.float32)
    mask = np.zeros((height, width), dtype=np.uint8)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        bright = np.array([140.0, 210.0, 210.0])
        dx = dy = 0
        if i == defect_index:
            if mode == "retract":
                bright = bright * 0.55
            elif mode == "tilt_x":
                dy = max(1, (y1 - y0) // 2)
            elif mode == "tilt_y":
                dx = max(1, (x1 - x0) // 2)
        image[y0 + dy : y1 + dy, x0 + dx : x1 + dx] = bright
        mask[y0 + dy : y1 + dy, x0 + dx : x1 + dx] = i + 1
    image = image * gain + noise_rng.normal(0.0, noise, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), mask


def make_dataset(
    root,
    train: int = 24,
    validation: int = 8,
    test: int = 8,
    reference: int = 4,
    height: int = 32,
    width: int = 96,
    seed: int = 0,
    twin: bool = True,
    name: str = "synthetic",
):
    """Write a complete synthetic dataset to `root` and return its path."""
    import cv2
    from pinscope_schema import DatasetWriter, GenerationSpec, ReferenceRow, SampleRow, rng_for

    spec = GenerationSpec.from_dict(
        {
            "name": name,
            "seed": seed,
            "camera": {"rig": "centre"},
            "render": {"engine": "WORKBENCH", "width": width, "height": height, "samples": 1},
            "dataset": {
                "train": train,
                "validation": validation,
                "test": test,
                "reference": reference,
                "twin": twin,
                "mask": True,
            },
        }
    )
    writer = DatasetWriter(root, spec, blender_version="synthetic")
    boxes = _layout(spec, height, width)
    classes = spec.defects.classes
    cols = spec.grid.cols

    def write_png(path: Path, array):
        path.parent.mkdir(parents=True, exist_ok=True)
        if array.ndim == 3:
            array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(path), array)

    from pinscope_schema import file_digest

    for split, size in (("train", train), ("validation", validation), ("test", test)):
        done = writer.done_indices(split)
        for index in range(size):
            if index in done:
                continue
            rng = rng_for(seed, split, index)
            cls = classes[index % len(classes)]
            pin_index = -1 if cls.mode == "ok" else rng.randrange(spec.grid.pin_count)
            gain = 0.85 + 0.3 * rng.random()
            noise_rng = np.random.default_rng(rng.getrandbits(32))
            image, mask = draw(spec, boxes, pin_index, cls.mode, gain, noise_rng, height, width)
            twin_img, _ = draw(spec, boxes, -1, "ok", gain, np.random.default_rng(rng.getrandbits(32)), height, width)
            stem = f"{index:06d}.png"
            folder = writer.split_dir(split)
            write_png(folder / "images" / stem, image)
            write_png(folder / "masks" / stem, mask)
            if twin:
                write_png(folder / "twins" / stem, twin_img)
            pin = None if pin_index < 0 else [pin_index % cols, pin_index // cols]
            hashes = {"image": file_digest(folder / "images" / stem), "mask": file_digest(folder / "masks" / stem)}
            if twin:
                hashes["twin"] = file_digest(folder / "twins" / stem)
            mode_letter = cls.qeu_mode()
            amount = int(round(cls.high * (10 if cls.mode == "retract" else 1)))
            code = "OK" if pin is None else f"{pin[0] + 1}{pin[1] + 1}{mode_letter}{amount:02d}"
            writer.add_sample(
                SampleRow(
                    file_name=f"images/{stem}",
                    label=cls.name,
                    pin=pin,
                    pin_index=pin_index,
                    qeu_code=code,
                    mode=cls.mode,
                    shape="" if pin is None else spec.grid.shape_at(*pin),
                    view="centre",
                    split=split,
                    index=index,
                    seed=rng.getrandbits(62),
                    jitter={"gain": gain},
                    twin_file=f"twins/{stem}" if twin else "",
                    mask_file=f"masks/{stem}",
                    pin_boxes=boxes,
                    defect_box=None if pin is None else boxes[pin_index],
                    sha256=hashes,
                )
            )
    for index in range(reference):
        if index in writer.done_indices("reference"):
            continue
        rng = rng_for(seed, "reference", index)
        gain = 0.85 + 0.3 * rng.random()
        image, _ = draw(spec, boxes, -1, "ok", gain, np.random.default_rng(rng.getrandbits(32)), height, width)
        rel = f"images/{index:06d}.png"
        write_png(writer.root / "reference" / rel, image)
        writer.add_reference(
            ReferenceRow(
                file_name=rel,
                view="centre",
                index=index,
                seed=rng.getrandbits(62),
                jitter={"gain": gain},
                pin_boxes=boxes,
                sha256={"image": file_digest(writer.root / "reference" / rel)},
            )
        )
    writer.flush()
    return Path(root)
