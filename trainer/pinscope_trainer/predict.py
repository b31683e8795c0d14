"""`predict`: a checkpoint on new images -> predictions.csv + .jsonl, overlay PNGs and index.html.

    python -m pinscope_trainer.cli predict --checkpoint runs/default/checkpoints/best IMAGES... [--out DIR]
    make predict IMAGES="data/default/test"

IMAGES are files, folders (their PNG/JPEG files; a PinScope split folder gives its rows' images) and
globs. Each image is decoded like a training render (8-bit RGB), resized to the model's input size
(one warning line per image size whose aspect ratio differs from the model's), turned into the model's
input with the checkpoint's own unit reference for its camera (or `--reference DIR` of another line),
and classified in batches. The defective pin is read from the peak of the last layer's CLS attention.

Exit status: 0 every image predicted; 1 some images could not be read (each gets a row with its error,
the others are predicted); 2 bad input that stops the run before anything is written (one line
`error: <field>: <problem>`: a missing or corrupt checkpoint, a folder without images, a bad reference,
a single image that cannot be read, ...). An interrupted run resumes: predictions.jsonl keeps every
finished batch, and the same command predicts only the images it lacks.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pinscope_schema import write_json_atomic

from . import predict_outputs
from .checkpoints import load_checkpoint, read_info
from .data import Preprocess, label_of
from .errors import UsageError
from .features.line_scale import MIN_PER_VIEW, far_line_warning, scales
from .features.nearest import NearestBank
from .hardware import auto_threads, background_thread
from .images import BadImage, expand, read_image
from .inference import OnnxPredictor, TorchPredictor
from .multilabel import is_multilabel
from .options import Options, check_output_folder, option
from .parts import PART_SOURCES, fused_records, part_keys
from .portable import ANY_VIEW, PortableReference, from_folder
from .predict_batches import Job, load_batch, predict_batch
from .rows import RowIndex

BACKENDS = ("torch", "onnx")
ONNX_FILE = "model.onnx"
EXIT_SOME_FAILED = 1


@dataclass(frozen=True)
class PredictOptions(Options):
    """`predict`: which images, which checkpoint, where the predictions go."""

    images: tuple = option(help="image files, folders or globs (PNG/JPEG)", positional=True, metavar="IMAGES")
    checkpoint: str = option(help="checkpoint folder, e.g. runs/default/checkpoints/best", required=True)
    out: str = option("predictions", "folder for predictions.csv/.jsonl, overlays/ and index.html")
    reference: str | None = option(
        None,
        "defect-free images of the line to compare with instead of the checkpoint's own: a PinScope "
        "dataset or its reference/ folder, one subfolder per camera, or plain images",
    )
    view: str | None = option(None, "camera of every image (default: from its dataset row, or the only one)")
    backend: str = option("torch", "torch (the checkpoint) or onnx (its model.onnx: export --onnx)", choices=BACKENDS)
    batch_size: int = option(32, "images per forward pass", at_least=1)
    overlays: bool = option(True, "no overlay PNGs (faster)", flag="--no-overlays")
    threads: int | None = option(
        None, "CPU threads for the model (default: the free cores but one, which decodes and draws)", at_least=1
    )
    bf16: bool | None = option(
        None, "bfloat16 autocast, torch only (default: as the model was trained)", negative="--fp32"
    )
    parts: str = option(
        "auto",
        "one decision per part as well (parts.csv): auto (a dataset image's row names its part: dataset.every_view), "
        "folder (the images of one folder are one part, one image a camera) or none",
        choices=PART_SOURCES,
    )
    quiet: bool = option(False, "no progress bar")

    def check(self) -> None:
        if not self.images:
            raise UsageError("IMAGES", "name at least one image file, folder or glob")
        if not str(self.checkpoint).strip():
            raise UsageError("--checkpoint", "must name a checkpoint folder, got ''")
        check_output_folder("--out", self.out)


def predict(opts: PredictOptions) -> int:
    job = prepare(opts)
    out = Path(opts.out)
    (out / "overlays").mkdir(parents=True, exist_ok=True)
    done = predict_outputs.resume(out, job.key, job.files)
    run = {"key": job.key, "checkpoint": str(opts.checkpoint), "images": len(job.files)}
    if job.reference is not None:  # 1 on the model's own line (features/line_scale.py)
        run["line_factor"] = round(job.reference.line_factor, 4)
        run["line_distance"] = job.reference.line_distance
    write_json_atomic(out / "predict.json", run)
    todo = [i for i, f in enumerate(job.files) if str(f) not in done]
    records = dict(done)
    start = time.perf_counter()
    run_batches(job, todo, opts, records, fresh=not done)
    seconds = time.perf_counter() - start
    # throughput as training reports it: images over the time spent on them, start-up left out
    run.update(predicted=len(todo), seconds=round(seconds, 3), images_per_s=round(len(todo) / max(seconds, 1e-9), 1))
    write_json_atomic(out / "predict.json", run)
    ordered = [records[str(f)] for f in job.files]
    parts = fused_records(ordered, part_keys(job.files, [f.row for f in job.found], opts.parts), job.info["labels"])
    predict_outputs.finish(out, ordered, job.info, str(opts.checkpoint), parts)
    print(predict_outputs.summary_line(ordered, out, parts), flush=True)
    return EXIT_SOME_FAILED if any(r["error"] for r in ordered) else 0


def run_batches(job: Job, todo: list, opts: PredictOptions, records: dict, fresh: bool) -> None:
    """Predict the images `todo` (indices into job.files) into `records`, journalling each batch.

    A pipeline over the cores: a reader thread decodes the next batch and builds its model input
    (resize, registration, difference) and an overlay thread draws, encodes and writes the pictures of
    the last one while the model runs this one (OpenCV, numpy and torch release the GIL). A batch is
    journalled once its overlays exist."""
    out = Path(opts.out)
    batches = [todo[first : first + opts.batch_size] for first in range(0, len(todo), opts.batch_size)]
    # Both helpers run at a lower priority: where they would take the model's core, the scheduler lets
    # the model go first (the same run, 512 images, overlays on: 127 -> 163 img/s, level with no overlays).
    reader = ThreadPoolExecutor(max_workers=1, initializer=background_thread)
    pool = ThreadPoolExecutor(max_workers=1, initializer=background_thread) if opts.overlays else None
    done = len(job.files) - len(todo)
    with predict_outputs.Journal(out, fresh=fresh) as journal, progress(opts, len(job.files), done) as bar:
        pending, loaded = [], reader.submit(load_batch, job, batches[0], bar) if batches else None
        for number in range(len(batches)):
            batch = loaded.result()
            if number + 1 < len(batches):
                loaded = reader.submit(load_batch, job, batches[number + 1], bar)
            pending.append(predict_batch(job, batch, out, pool))
            if len(pending) > 1:
                settle(pending.pop(0), records, journal, bar)
        for batch in pending:
            settle(batch, records, journal, bar)
    reader.shutdown()
    if pool is not None:
        pool.shutdown()


def settle(batch: list[dict], records: dict, journal, bar) -> None:
    """Wait for a batch's overlays, then journal its records."""
    for record in batch:
        if isinstance(record.get("overlay"), Future):
            record["overlay"] = record["overlay"].result()
        records[record["file"]] = record
        journal.add(record)
    bar.update(len(batch))


def progress(opts: PredictOptions, total: int, done: int):
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc="predict", unit="img", disable=True if opts.quiet else None)


# --- checks before anything is written -------------------------------------------------------------
def prepare(opts: PredictOptions) -> Job:
    files = expand(opts.images)
    folder = Path(opts.checkpoint)
    info = checkpoint_info(folder)
    pre = Preprocess.from_info(info)
    reference = checkpoint_reference(folder, opts, pre)
    index = RowIndex()
    found = [index.find(f) for f in files]
    truths = [label_of(f.row, pre.label_field, f.ok_labels) if f.row else "" for f in found]
    views = [opts.view or (f.row.view if f.row else None) for f in found]
    check_views(reference, views, files, pre, opts.view)
    first = first_image(files)
    if reference is not None and reference.native_hw and first is not None and first.shape[:2] != reference.native_hw:
        raise UsageError(
            "--reference",
            f"{opts.reference} holds {reference.native_hw[1]}x{reference.native_hw[0]} px images, {files[0]} is "
            f"{first.shape[1]}x{first.shape[0]}: a reference must show the same camera at the same size",
        )
    warn_unscaled(opts, pre, reference)
    torch_threads(opts.threads)
    predictor = load_predictor(folder, opts, info)
    key = run_key(folder, opts, info, reference)
    patch = int(json.loads((folder / "config.json").read_text()).get("patch_size", 0) or 0)
    job = Job(files, info, pre, predictor, reference, views, found, truths, patch, key)
    if pre.input_mode != "rgb" and pre.reference == "nearest":
        job.nearest = NearestBank(*reference.bank(), pre.nearest, pre.align.startswith("register"))
    return job


def warn_unscaled(opts: PredictOptions, pre: Preprocess, reference) -> None:
    """One warning line (after every check) when a --reference line cannot be line-scaled."""
    few = sorted(v for v, images in reference.banks.items() if len(images) < MIN_PER_VIEW) if opts.reference else []
    if scales(pre) and few:
        print(
            f"warning: --reference: one image only for camera {', '.join(few)}: no OK spread to measure, "
            "so this line's differences are not line-scaled (give it a few OK images per camera)",
            file=sys.stderr,
        )
    far = far_line_warning("--reference", reference.line_distance if opts.reference else None)
    if far:
        print(far, file=sys.stderr)


def first_image(files: list):
    """The first image, decoded (for the size checks); in a run of one image, an unreadable image is bad
    input (exit 2), in a longer run it becomes an error row (None here)."""
    try:
        return read_image(files[0])
    except BadImage as err:
        if len(files) == 1:
            raise UsageError(str(files[0]), str(err)) from None
        return None


def checkpoint_info(folder: Path) -> dict:
    if not (folder / "preprocess.json").is_file() or not (folder / "config.json").is_file():
        raise UsageError("--checkpoint", f"{folder} is not a checkpoint folder (need config.json + preprocess.json)")
    try:
        info = read_info(folder)
        json.loads((folder / "config.json").read_text())
        Preprocess.from_info(info)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UsageError("--checkpoint", f"{folder} has an unreadable preprocess.json/config.json ({err})") from None
    if not info.get("labels") or (info.get("normalisation") or {}).get("mean") is None:
        raise UsageError("--checkpoint", f"{folder}/preprocess.json lacks the labels or the normalisation")
    if is_multilabel(info.get("label_field", "label")):
        raise UsageError("--checkpoint", f"{folder} is a --label pins (multi-label) model: score it with evaluate")
    return info


def checkpoint_reference(folder: Path, opts: PredictOptions, pre: Preprocess) -> PortableReference | None:
    """The checkpoint's portable reference, with --reference images in place of its own if given."""
    own = PortableReference.load(folder)
    if opts.reference:
        views, banks, size = from_folder(opts.reference, pre.image_size, pre.align.startswith("register"))
        base = own or PortableReference()
        return base.with_views(views, banks, str(opts.reference), size, pre)
    if pre.input_mode == "rgb":
        return own
    if pre.reference == "twin":
        raise UsageError(
            "--reference",
            f"{folder} compares each render with its defect-free twin; pass --reference DIR with "
            "defect-free images of the same camera",
        )
    if own is None or not own.views:
        raise UsageError(
            "--reference",
            f"{folder} carries no reference.safetensors (made before checkpoints carried their unit "
            "reference); pass --reference DATASET/reference",
        )
    if pre.reference == "nearest" and set(own.banks) != set(own.views):
        raise UsageError(
            "--reference",
            f"{folder}/reference.safetensors lacks the reference renders of a --reference nearest model "
            f"(has {', '.join(sorted(own.banks)) or 'none'} of {', '.join(sorted(own.views))}); "
            "pass --reference DATASET",
        )
    return own


def check_views(reference, views: list, files: list, pre: Preprocess, chosen: str | None) -> None:
    if pre.input_mode == "rgb" or reference is None:
        return
    known = sorted(reference.views)
    if chosen is not None and ANY_VIEW not in reference.views and chosen not in reference.views:
        raise UsageError("--view", f"must be one of {', '.join(known)} (the reference's cameras), got {chosen!r}")
    for path, view in zip(files, views, strict=True):
        if reference.view_for(view) is None:
            raise UsageError(
                "--view",
                f"{path} needs a camera: the reference has {', '.join(known)}; pass --view NAME "
                "(images of a PinScope split folder take it from their rows)",
            )


def torch_threads(threads: int | None) -> None:
    import torch

    # One free core is left to the reader and overlay threads: on 2 cores, 1 model thread beside them
    # predicted 145-154 img/s, 2 model threads competing with them 118-151 (same run, interleaved).
    torch.set_num_threads(threads or max(1, auto_threads() - 1))


def load_predictor(folder: Path, opts: PredictOptions, info: dict):
    if opts.backend == "onnx":
        path = folder / ONNX_FILE
        if not path.is_file():
            raise UsageError("--backend", f"{path} does not exist; make it with `export --checkpoint {folder} --onnx`")
        try:
            return OnnxPredictor(path, opts.threads)
        except Exception as err:  # onnxruntime raises its own exception types for a broken file
            raise UsageError("--checkpoint", f"cannot load {path} ({type(err).__name__})") from None
    model, _ = load_checkpoint(folder)
    bf16 = bool(info.get("bf16")) if opts.bf16 is None else opts.bf16
    return TorchPredictor(model, bf16=bf16)


def run_key(folder: Path, opts: PredictOptions, info: dict, reference) -> str:
    """What the predictions depend on: a resumed run reuses rows only when this is unchanged."""
    parts = [json.dumps(info, sort_keys=True), opts.backend, str(opts.bf16), str(opts.reference), str(opts.view)]
    for name in ("model.safetensors", ONNX_FILE, "reference.safetensors"):
        path = folder / name
        if path.is_file():
            st = path.stat()
            parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    parts.append(str(opts.overlays))
    parts.append("records with log_probs")  # journals of earlier versions lack them: predicted again
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
