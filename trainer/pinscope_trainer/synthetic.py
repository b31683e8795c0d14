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
    noise: float = 6.0,
    lines: int = 1,
):
    """Write a complete synthetic dataset to `root` (resuming one that is partly there); returns its path.
    `noise`: the pixel noise (std in 8-bit levels), e.g. a noisier line than the one a model trained on.
    `lines`: production lines (samples and references in turn); line k is (1 + k) x as noisy and
    (1 + 0.2 k) x as bright as line 0, so each line's unit space differs."""
    from pinscope_schema import DatasetWriter

    spec = synthetic_spec(name, seed, width, height, {"train": train, "validation": validation, "test": test},
                          reference, twin, lines)  # fmt: skip
    writer = DatasetWriter(root, spec, blender_version="synthetic")
    boxes = _layout(spec, height, width)
    for split, size in (("train", train), ("validation", validation), ("test", test)):
        done = writer.done_indices(split)
        for index in (i for i in range(size) if i not in done):
            writer.add_sample(write_sample(spec, boxes, writer.split_dir(split), split, index, twin, noise))
    done = writer.done_indices("reference")
    for index in (i for i in range(reference) if i not in done):
        writer.add_reference(write_reference(spec, boxes, writer.root / "reference", index, noise))
    writer.flush()
    return Path(root)


def synthetic_spec(
    name: str, seed: int, width: int, height: int, counts: dict, reference: int, twin: bool, lines: int = 1
):
    from pinscope_schema import GenerationSpec

    return GenerationSpec.from_dict(
        {
            "name": name,
            "seed": seed,
            "camera": {"rig": "centre"},
            "render": {"engine": "WORKBENCH", "width": width, "height": height, "samples": 1},
            "dataset": {**counts, "reference": reference, "twin": twin, "mask": True, "lines": lines},
        }
    )


def write_png(path: Path, array: np.ndarray) -> None:
    """An RGB (or single-channel) uint8 array as a PNG, written atomically like every PinScope file."""
    import cv2
    from pinscope_schema import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if array.ndim == 3 else array)
    atomic_write(path, data.tobytes())


def write_sample(spec, boxes, folder: Path, split: str, index: int, twin: bool, noise: float = 6.0):
    """Draw one sample (with its mask and twin), write its files, return its row (files first, then the row)."""
    from pinscope_schema import SampleRow, file_digest, rng_for

    height, width = spec.render.height, spec.render.width
    rng = rng_for(spec.seed, split, index)
    cls = spec.defects.classes[index % len(spec.defects.classes)]
    pin_index = -1 if cls.mode == "ok" else rng.randrange(spec.grid.pin_count)
    line = index % spec.dataset.lines
    gain, noise = (0.85 + 0.3 * rng.random()) * (1 + 0.2 * line), noise * (1 + line)
    image, mask = draw(
        spec, boxes, pin_index, cls.mode, gain, np.random.default_rng(rng.getrandbits(32)), height, width, noise
    )
    twin_img, _ = draw(spec, boxes, -1, "ok", gain, np.random.default_rng(rng.getrandbits(32)), height, width, noise)
    stem = f"{index:06d}.png"
    files = {"image": f"images/{stem}", "mask": f"masks/{stem}", **({"twin": f"twins/{stem}"} if twin else {})}
    for role, array in (("image", image), ("mask", mask), ("twin", twin_img)):
        if role in files:
            write_png(folder / files[role], array)
    cols = spec.grid.cols
    pin = None if pin_index < 0 else [pin_index % cols, pin_index // cols]
    amount = int(round(cls.high * (10 if cls.mode == "retract" else 1)))
    return SampleRow(
        file_name=files["image"],
        label=cls.name,
        pin=pin,
        pin_index=pin_index,
        qeu_code="OK" if pin is None else f"{pin[0] + 1}{pin[1] + 1}{cls.qeu_mode()}{amount:02d}",
        mode=cls.mode,
        shape="" if pin is None else spec.grid.shape_at(*pin),
        view="centre",
        split=split,
        index=index,
        seed=rng.getrandbits(62),
        jitter={"gain": gain},
        line=line,
        twin_file=files.get("twin", ""),
        mask_file=files["mask"],
        pin_boxes=boxes,
        defect_box=None if pin is None else boxes[pin_index],
        sha256={role: file_digest(folder / rel) for role, rel in files.items()},
    )


def write_reference(spec, boxes, folder: Path, index: int, noise: float = 6.0):
    """One defect-free reference render and its row."""
    from pinscope_schema import ReferenceRow, file_digest, rng_for

    rng = rng_for(spec.seed, "reference", index)
    line = index % spec.dataset.lines
    gain, noise = (0.85 + 0.3 * rng.random()) * (1 + 0.2 * line), noise * (1 + line)
    height, width = spec.render.height, spec.render.width
    image, _ = draw(spec, boxes, -1, "ok", gain, np.random.default_rng(rng.getrandbits(32)), height, width, noise)
    rel = f"images/{index:06d}.png"
    write_png(folder / rel, image)
    return ReferenceRow(
        file_name=rel,
        view="centre",
        index=index,
        seed=rng.getrandbits(62),
        jitter={"gain": gain},
        line=line,
        pin_boxes=boxes,
        sha256={"image": file_digest(folder / rel)},
    )
