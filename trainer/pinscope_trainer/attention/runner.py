"""`attention`: maps for every chosen checkpoint, scores against the masks, pictures, report.

Work per checkpoint is saved under OUT/cache/ as soon as it is done (keyed by the checkpoint's files
and the map settings), so an interrupted run resumes where it stopped and a rerun only redraws.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from pinscope_schema import atomic_file

from ..checkpoints import checkpoint_root, list_checkpoints
from ..errors import UsageError
from ..options import Options, check_output_folder, option
from . import maps
from .capture import capture, find_vit
from .scores import SCORE_KEYS, pin_position, pointing_chance, regions_from_boxes, sample_scores

METHODS = ("cls", "rollout", "gradient")


def methods_list(text: str) -> tuple:
    chosen = tuple(m.strip() for m in text.split(",") if m.strip())
    if not chosen or any(m not in METHODS for m in chosen):
        raise ValueError(f"must be a comma-separated subset of {','.join(METHODS)}, got {text!r}")
    return chosen


@dataclass(frozen=True)
class AttentionOptions(Options):
    """`attention`: which checkpoints, which maps, which samples, where the report goes."""

    run: Path = option(help="run folder (RUN/checkpoints/epoch-NNNN, best, last)", required=True)
    ckpts: str = option(
        "",
        "epochs like 300,400,500, 'best', 'last' or 'all' (default: up to 5 numbered checkpoints spread over the run)",
    )
    out: Path | None = option(None, "report folder (default reports/<run name>/attention)")
    methods: tuple = option(METHODS, f"subset of {','.join(METHODS)}", parse=methods_list)
    samples: int = option(12, "samples in the pictures (plus the worst cases)", at_least=0)
    data: Path | None = option(None, "dataset folder (default: the one named in RUN/run_config.json)")
    split: str = option("test", "split to draw and score", choices=("test", "validation", "train"))
    fusion: str = option("mean", "rollout head fusion", choices=maps.HEAD_FUSIONS)
    discard: float = option(0.0, "rollout: share of weakest links dropped per layer", at_least=0, below=1)
    tolerance: float = option(0.0, "pointing game: pixels the defect box is grown by", at_least=0)
    limit: int = option(0, "score only the first N samples of the split (0 = all)", at_least=0)
    batch_size: int = option(8, "samples per forward/backward pass", at_least=1)
    seed: int = option(0, "seed of the fixed sample set in the pictures", at_least=0)

    def check(self) -> None:
        if not str(self.run).strip():
            raise UsageError("--run", "must name a run folder, got ''")
        check_output_folder("--out", self.out)

    def map_settings(self) -> dict:
        return {
            "fusion": self.fusion,
            "discard": self.discard,
            "methods": list(self.methods),
            "limit": self.limit,
            "split": self.split,
            "seed": self.seed,
            "version": 2,
        }


def say(message: str) -> None:
    print(f"attention: {message}", file=sys.stderr, flush=True)


# --- checkpoints and data ----------------------------------------------------------------------
def named_epoch(path: Path) -> int | None:
    """The epoch a best/ or last/ checkpoint was saved at (from its preprocess.json), if it says."""
    try:
        epoch = json.loads((path / "preprocess.json").read_text()).get("epoch")
    except (OSError, ValueError, AttributeError):
        return None
    return epoch if isinstance(epoch, int) else None


def resolve_checkpoints(run: Path, wanted: str) -> list[tuple[str, int | None, Path]]:
    """[(name, epoch or None, folder)] for --ckpts: '' (up to 5 spread over the run), 'all', or a list
    of epochs and/or 'best' / 'last'."""
    if not run.is_dir():
        raise UsageError("--run", f"{run} is not a folder (train one with `make train`)")
    numbered = list_checkpoints(run)
    root = checkpoint_root(run)
    named = {n: root / n for n in ("best", "last") if (root / n / "model.safetensors").is_file()}
    if not numbered and not named:
        raise UsageError("--run", f"{run} has no checkpoints (expected {root}/epoch-NNNN/model.safetensors)")
    available = ", ".join([str(e) for e, _ in numbered] + list(named)) or "none"
    if wanted in ("", None):
        if not numbered:
            return [(n, named_epoch(p), p) for n, p in named.items()]
        picks = sorted({round(i * (len(numbered) - 1) / 4) for i in range(5)})
        return [(f"epoch-{numbered[i][0]:04d}", numbered[i][0], numbered[i][1]) for i in picks]
    if wanted == "all":
        return [(f"epoch-{e:04d}", e, p) for e, p in numbered] or [(n, named_epoch(p), p) for n, p in named.items()]
    chosen, by_epoch = [], dict(numbered)
    for item in (s.strip() for s in str(wanted).split(",") if s.strip()):
        if item in named:
            chosen.append((item, named_epoch(named[item]), named[item]))
        elif item.isdigit() and int(item) in by_epoch:
            chosen.append((f"epoch-{int(item):04d}", int(item), by_epoch[int(item)]))
        else:
            raise UsageError("--ckpts", f"{item!r} is not a checkpoint of {run} (available: {available}; or 'all')")
    if not chosen:
        raise UsageError("--ckpts", f"names no checkpoint (available: {available}; or 'all')")
    unique = {name: (name, epoch, path) for name, epoch, path in chosen}  # '3,3' draws one column
    return sorted(unique.values(), key=lambda c: (c[1] is None, c[1] or 0))


def dataset_folder(settings: AttentionOptions, run_config: dict) -> Path:
    if settings.data:
        if not (Path(settings.data) / "dataset.json").is_file():
            raise UsageError("--data", f"{settings.data} is not a PinScope dataset (no dataset.json)")
        return Path(settings.data)
    for key in ("data", "dataset", "data_dir", "dataset_dir"):
        value = run_config.get(key)
        if isinstance(value, dict):  # the trainer writes {"path": ..., "spec_hash": ...}
            value = value.get("path")
        if isinstance(value, str) and value:
            for candidate in (Path(value), settings.run / value, settings.run.parent / value):
                if (candidate / "dataset.json").is_file():
                    return candidate
            raise UsageError("--data", f"the run's dataset {value!r} is not found; pass --data DATASET")
    raise UsageError("--data", f"{settings.run}/run_config.json names no dataset; pass --data DATASET")


def check_labels(name: str, info: dict, row_labels) -> None:
    """Refuse a checkpoint whose classes do not cover the dataset's (another dataset's label set)."""
    known = set(info.get("labels") or [])
    seen = set(row_labels)
    unknown = sorted(seen - known)
    if unknown:
        raise UsageError(
            "--ckpts",
            f"{name} was trained on labels {sorted(known)}, but this dataset has "
            f"{', '.join(unknown[:5])} (a checkpoint of another dataset's label set?)",
        )


def fingerprint(path: Path, settings: AttentionOptions, data_dir: Path) -> str:
    """Identity of one checkpoint's maps: its files, the map settings and the split's rows (a
    re-rendered dataset must not reuse old maps)."""
    parts = [json.dumps(settings.map_settings(), sort_keys=True), str(Path(data_dir).resolve())]
    files = [path / n for n in ("model.safetensors", "preprocess.json", "config.json")]
    for file in [*files, Path(data_dir) / "dataset.json", Path(data_dir) / settings.split / "metadata.jsonl"]:
        if file.is_file():
            st = file.stat()
            parts.append(f"{file.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


# --- maps ----------------------------------------------------------------------------------------
def maps_for_batch(cap, methods, fusion: str, discard: float) -> dict:
    """{method: (B, P)} plus 'cls_heads': (B, heads, P) from one capture (rollout/gradient only if asked)."""
    result = {}
    per_head, mean = maps.cls_attention(cap.attentions[-1], cap.prefix)
    result["cls_heads"], result["cls"] = per_head, mean  # cls always: the per-head panel shows the mean too
    if "rollout" in methods:
        result["rollout"] = maps.rollout(cap.attentions, fusion, discard, cap.prefix)
    if "gradient" in methods:
        result["gradient"] = maps.gradient_relevance(cap.attentions, cap.gradients, cap.prefix)
    return result


def compute_checkpoint(model, inputs, methods, settings: AttentionOptions, label: str) -> dict:
    """Maps, predictions and the patch geometry of one checkpoint over all inputs, in batches."""
    try:
        find_vit(model)
    except ValueError:
        raise UsageError(
            "--ckpts",
            f"{label} is not a vision transformer ({type(model).__name__}); attention maps need a ViT checkpoint",
        ) from None
    chunks: dict[str, list] = {}
    total = len(inputs)
    geometry = None
    every = max(settings.batch_size, total // 10)  # about ten progress lines per checkpoint
    for start in range(0, total, settings.batch_size):
        cap = capture(model, inputs[start : start + settings.batch_size], gradients="gradient" in methods)
        geometry = (cap.grid_hw, cap.patch_hw, cap.prefix)
        for key, value in maps_for_batch(cap, methods, settings.fusion, settings.discard).items():
            chunks.setdefault(key, []).append(value.astype(np.float32))
        chunks.setdefault("logits", []).append(cap.logits.astype(np.float32))
        done = min(start + settings.batch_size, total)
        if done == total or done // every != start // every:
            say(f"{label}: {done}/{total} samples")
    out = {k: np.concatenate(v) for k, v in chunks.items()}
    out["grid_hw"], out["patch_hw"] = np.array(geometry[0]), np.array(geometry[1])
    out["input_hw"] = np.array(inputs.shape[-2:])
    return out


def load_cached(path: Path, key: str) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            return {k: data[k] for k in data.files if k != "key"}
    except (OSError, KeyError, ValueError):
        return None


def save_cached(path: Path, key: str, arrays: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "wb") as f:
        np.savez_compressed(f, key=np.array(key), **arrays)


# --- ground truth and scores ---------------------------------------------------------------------
def read_render(split_dir: Path, rel: str):
    import cv2

    image = cv2.imread(str(split_dir / rel), cv2.IMREAD_COLOR)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_regions(split_dir: Path, row, render_hw) -> tuple[np.ndarray | None, str]:
    """The instance image at render size and where it came from: 'mask', 'boxes' or 'none'."""
    import cv2

    if row.mask_file:
        mask = cv2.imread(str(split_dir / row.mask_file), cv2.IMREAD_UNCHANGED)
        if mask is not None:
            mask = mask[..., 0] if mask.ndim == 3 else mask
            if mask.shape != tuple(render_hw):
                mask = cv2.resize(mask, (render_hw[1], render_hw[0]), interpolation=cv2.INTER_NEAREST)
            return mask.astype(np.int32), "mask"
    if row.pin_boxes:
        return regions_from_boxes(row.pin_boxes, render_hw), "boxes"
    return None, "none"


def warp_of(result: dict, i: int):
    """Sample i's warp onto its reference where the model saw the image there (result['warps']), else None."""
    warps = result.get("warps")
    return None if warps is None else warps[i]


def score_samples(rows, split_dir: Path, results: dict, true_ids, settings: AttentionOptions) -> tuple[list, dict]:
    """One record per (checkpoint, method, sample) and how the regions were found {mask, boxes, none}."""
    records, sources = [], {"mask": 0, "boxes": 0, "none": 0}
    for i, row in enumerate(rows):
        render = read_render(split_dir, row.file_name)
        render_hw = render.shape[:2] if render is not None else None
        regions, source = read_regions(split_dir, row, render_hw) if render_hw else (None, "none")
        sources[source] += 1
        base = {
            "sample": i,
            "file_name": row.file_name,
            "index": row.index,
            "label": row.label,
            "pin": pin_position(row.pin),
            "view": row.view,
            "qeu_code": row.qeu_code,
        }
        for name, result in results.items():
            predicted = int(result["logits"][i].argmax())
            placement = maps.Placement.resize(render_hw, tuple(result["input_hw"])) if render_hw else None
            chance = None
            if render_hw and row.pin and row.defect_box is not None:
                grid_hw, patch = tuple(result["grid_hw"]), tuple(result["patch_hw"])
                ids = np.arange(1, grid_hw[0] * grid_hw[1] + 1, dtype=np.float64).reshape(grid_hw)
                ids = maps.patch_to_pixels(ids, patch, render_hw, placement, smooth=False)
                ids = np.rint(maps.onto_image(ids, warp_of(result, i), result["input_hw"], smooth=False))
                ids = ids.astype(np.int64)
                chance = pointing_chance(ids, grid_hw[0] * grid_hw[1], row.defect_box, settings.tolerance)
            for method in settings.methods:
                record = {
                    **base,
                    "checkpoint": name,
                    "method": method,
                    "predicted": predicted,
                    "correct": bool(predicted == int(true_ids[i])),
                }
                if render_hw:
                    grid = maps.to_grid(result[method][i], tuple(result["grid_hw"]))
                    patch = tuple(result["patch_hw"])
                    blocky = maps.patch_to_pixels(grid, patch, render_hw, placement, smooth=False)
                    blocky = maps.onto_image(blocky, warp_of(result, i), result["input_hw"], smooth=False)
                    record.update(
                        sample_scores(
                            blocky,
                            regions,
                            row.pin_index if row.pin else -1,
                            row.defect_box,
                            tolerance=settings.tolerance,
                        )
                    )
                    record["pointing_chance"] = chance
                else:
                    record.update(dict.fromkeys(SCORE_KEYS))
                records.append(record)
    return records, sources


def pick_samples(rows, n: int, seed: int) -> list[int]:
    """A fixed, seeded set covering every class x view first, then the rest round-robin."""
    from pinscope_schema import rng_for

    rng = rng_for(seed, "attention-samples")
    strata: dict[tuple, list] = {}
    for i, row in enumerate(rows):
        strata.setdefault((row.label, row.view), []).append(i)
    queues = [rng.sample(v, len(v)) for _, v in sorted(strata.items())]
    chosen = []
    while len(chosen) < min(n, len(rows)):
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(queue.pop())
    return chosen


def settings_dict(settings: AttentionOptions) -> dict:
    data = asdict(settings)
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in data.items()}
