"""One batch of `predict`: decode, check and build the model input (the reader thread), then run the
model and describe each image (class, confidence, top-3, OK/NG, the pin its attention peak is on).
`predict.run_batches` drives them over the `Job` that `predict.prepare` checked."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import predict_outputs
from .attention.scores import pin_at_peak
from .data import Preprocess
from .features.inputs import compute_inputs, image_on_reference, normalise
from .features.line_scale import scaled_difference
from .features.nearest import NearestBank
from .images import BadImage, read_image, resized
from .portable import PortableReference


@dataclass
class Job:
    """Everything predict checked before writing: files, model, reference, the view of each file."""

    files: list
    info: dict
    pre: Preprocess
    predictor: object
    reference: PortableReference | None
    views: list
    found: list  # what the file's dataset knows about it (rows.Found)
    truths: list  # the file's true class ('' when unknown)
    patch: int
    key: str
    warned: set = field(default_factory=set)
    nearest: NearestBank | None = None  # reference=nearest: the line's reference renders to choose from


@dataclass
class LoadedBatch:
    """A batch read and turned into the model's input: `records` holds the error rows so far."""

    indices: list  # into job.files, in input order
    records: dict  # index -> error record of an image that could not be read
    good: list  # (index, native (h, w)) of the readable images
    images: list  # their pictures at the model's input size (uint8)
    inputs: object = None  # the normalised model input (torch tensor) of `good`


def load_batch(job: Job, batch: list, bar) -> LoadedBatch:
    """Decode, check, resize and build the model input of the images `batch` (indices into job.files)."""
    import torch

    loaded, refs = LoadedBatch(batch, {}, [], []), []
    for i in batch:
        try:
            image = read_image(job.files[i])
            check_reference_size(job.reference, image)
        except BadImage as err:
            loaded.records[i] = predict_outputs.error_record(job.files[i], str(err), job.truths[i])
            continue
        warn_aspect(job, job.files[i], image.shape[:2], bar)
        loaded.good.append((i, image.shape[:2]))
        loaded.images.append(resized(image, job.pre.image_size))
        if job.pre.input_mode != "rgb" and job.nearest is None:
            refs.append(job.reference.view_for(job.views[i]))
    if loaded.good:
        refs_array = np.stack(refs) if refs else None
        if job.nearest is not None:
            views = [job.reference.view_key(job.views[i]) for i, _ in loaded.good]
            refs_array = job.nearest.references(np.stack(loaded.images), views)
        x = compute_inputs(np.stack(loaded.images), refs_array, job.pre.input_mode, job.pre.soart3, align=job.pre.align)
        if job.reference is not None:
            scaled_difference(x, job.pre.input_mode, job.reference.line_factor)
        loaded.inputs = torch.from_numpy(normalise(x, job.pre.mean, job.pre.std))
    return loaded


def predict_batch(job: Job, loaded: LoadedBatch, out: Path, pool) -> list[dict]:
    """Records of a loaded batch: predicted ones, and error rows. With a `pool`, a record's overlay is a
    Future of its file name (settle() waits for it before journalling, so a journal line never names a
    missing overlay)."""
    records = dict(loaded.records)
    if loaded.good:
        logits, attention = job.predictor(loaded.inputs)
        for k, (i, native_hw) in enumerate(loaded.good):
            maps = None if attention is None else attention[k].mean(axis=0)
            records[i] = describe(job, i, logits[k], maps, native_hw)
            if pool is not None:  # a Future until settle() waits for it
                records[i]["overlay"] = pool.submit(
                    predict_outputs.save_overlay, out, job, i, loaded.images[k], dict(records[i]), maps
                )
    return [records[i] for i in loaded.indices]


def check_reference_size(reference, image) -> None:
    native = reference.native_hw if reference is not None else None
    if native and image.shape[:2] != native:
        raise BadImage(
            f"is {image.shape[1]}x{image.shape[0]} px, the --reference images {native[1]}x{native[0]}: "
            "a reference must show the same camera at the same size"
        )


def warn_aspect(job: Job, path: Path, native_hw, bar) -> None:
    h, w = job.pre.image_size
    if tuple(native_hw) in job.warned or abs(native_hw[1] / native_hw[0] - w / h) < 0.01:
        return
    job.warned.add(tuple(native_hw))
    bar.write(
        f"warning: {path} is {native_hw[1]}x{native_hw[0]} px (aspect {native_hw[1] / native_hw[0]:.2f}), the model "
        f"sees {w}x{h} (aspect {w / h:.2f}): resized, so pins look stretched (said once per image size)",
        file=sys.stderr,
    )


def describe(job: Job, i: int, logits: np.ndarray, patch_map, native_hw) -> dict:
    """One prediction: class, confidence, top-3, OK/NG, and the pin the attention peak is on."""
    labels = job.info["labels"]
    probs = np.exp(logits - logits.max())
    probs = probs / probs.sum()
    order = np.argsort(-probs)
    name = labels[int(order[0])]
    ok_names = set(job.info.get("ok_labels") or {"ok", "OK"})
    record = predict_outputs.base_record(job.files[i], job.truths[i], job.views[i], native_hw)
    record.update(
        {
            "class": name,
            "confidence": round(float(probs[order[0]]), 4),
            "top3": [[labels[int(j)], round(float(probs[j]), 4)] for j in order[:3]],
            "okng": "ok" if name in ok_names else "ng",
            # every class's, for one decision over a part's cameras (parts.py)
            "log_probs": [round(float(v), 5) for v in np.log(np.maximum(probs, 1e-30))],
        }
    )
    record["correct"] = (name == job.truths[i]) if job.truths[i] else None
    if patch_map is not None and record["okng"] == "ng":
        record.update(pin_of(job, i, patch_map, native_hw))
    return record


def pin_of(job: Job, i: int, patch_map, native_hw) -> dict:
    """The defective pin address ('col,row', as the rows' `pin`) from the attention peak, with its mass."""
    h, w = job.pre.image_size
    found = job.found[i]
    # a register-image model saw the image warped onto its reference: the reference's pins, not the row's
    on_reference = image_on_reference(job.pre.input_mode, job.pre.align)
    if found.row is not None and found.row.pin_boxes and not on_reference:  # a dataset image: its own boxes
        sx, sy = w / native_hw[1], h / native_hw[0]
        boxes = np.asarray(found.row.pin_boxes, dtype=np.float64) * [sx, sy, sx, sy]
        cols = found.grid_cols
    else:  # another image, or one seen on its reference: the checkpoint's pins of its camera
        boxes = job.reference.pins_for(job.views[i]) if job.reference else None
        cols = job.reference.grid_cols if job.reference else 0
    if boxes is None or not cols or not job.patch:
        return {}
    pin, mass, peak = pin_at_peak(patch_map, (h // job.patch, w // job.patch), job.patch, boxes)
    back = np.array([native_hw[1] / w, native_hw[0] / h] * 2)  # model-input pixels -> the image's own
    return {
        "pin": f"{pin % cols},{pin // cols}",
        "pin_score": round(mass, 4),
        "peak": [round(float(v), 1) for v in np.array(peak) * back[:2]],
        "pin_box": [round(float(v), 1) for v in np.asarray(boxes[pin]) * back],
    }
