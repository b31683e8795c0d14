"""anomalib reads PinScope's MVTec AD export and trains a model on it, offline (`make check-anomalib`).

Runs in the optional anomalib environment (.venvs/anomalib). Exports DATA in the MVTec AD layout
(if OUT does not hold that export yet), loads it with anomalib's own `MVTecAD` datamodule, trains
PaDiM or PatchCore on a ResNet-18 that starts from random weights (`pre_trained=False`: nothing is
downloaded) and tests it; prints anomalib's image and pixel AUROC and writes them to OUT-anomalib.json.
Then sets up anomalib's `Folder` datamodule on the same export and its `Tabular` one on the anomalib-csv
export (OUT-csv) and records how many images each loads.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # timm must never reach for weights


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/default", help="a rendered PinScope dataset")
    p.add_argument("--out", default="exports/default-mvtec", help="folder of the MVTec AD export")
    p.add_argument("--model", choices=("padim", "patchcore"), default="padim")
    p.add_argument("--image-size", default="96x288", help="HxW anomalib resizes to")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def export(fmt: str, data: str, out: str) -> None:
    from pinscope_schema.exports import ExportOptions, run_export

    summary = run_export(ExportOptions(fmt, data, out, quiet=True))
    print(f"export {fmt}: {summary['samples']} samples in {out} ({summary['complete']} complete)", flush=True)


def other_loaders(mvtec: Path, csv_out: Path) -> dict:
    """anomalib's Folder datamodule on the MVTec export and its Tabular one on the CSV export (set up, counted).

    The CSV's path columns are read as objects: with `root`, anomalib 2.7 writes Path objects into
    mask_path, which a pandas >= 3 string column refuses."""
    import pandas as pd
    from anomalib.data import Folder, Tabular

    defects = sorted(p.name for p in (mvtec / "test").iterdir() if p.name != "good")
    folder = Folder(name="pinscope", root=mvtec, normal_dir="train/good", normal_test_dir="test/good",
                    abnormal_dir=[f"test/{d}" for d in defects], mask_dir=[f"ground_truth/{d}" for d in defects],
                    num_workers=0)  # fmt: skip
    samples = pd.read_csv(csv_out / "samples.csv", dtype={"image_path": object, "mask_path": object})
    tabular = Tabular(name="pinscope", samples=samples, root=csv_out, num_workers=0)
    counts = {}
    for name, module in (("folder", folder), ("tabular", tabular)):
        module.setup()
        counts[name] = {"train": len(module.train_data), "val": len(module.val_data), "test": len(module.test_data)}
    return counts


def build_model(name: str, size: tuple[int, int]):
    from anomalib.models import Padim, Patchcore

    cls = Padim if name == "padim" else Patchcore
    pre = cls.configure_pre_processor(image_size=size)
    if name == "padim":
        return Padim(backbone="resnet18", pre_trained=False, pre_processor=pre, visualizer=False)
    return Patchcore(
        backbone="resnet18", pre_trained=False, coreset_sampling_ratio=0.1, pre_processor=pre, visualizer=False
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    export("mvtec", args.data, args.out)
    csv_out = Path(f"{args.out}-csv")
    export("anomalib-csv", args.data, str(csv_out))
    # anomalib, lightning and torch live in the anomalib env only; imported after the export has run
    import torch
    from anomalib.data import MVTecAD
    from anomalib.engine import Engine
    from lightning.pytorch import seed_everything
    from pinscope_schema import write_json_atomic

    seed_everything(args.seed, workers=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    out = Path(args.out).resolve()
    size = tuple(int(v) for v in args.image_size.lower().split("x"))
    datamodule = MVTecAD(root=out.parent, category=out.name, train_batch_size=32, eval_batch_size=32, num_workers=0)
    model = build_model(args.model, size)
    work = out.parent / f".{out.name}-anomalib"
    engine = Engine(default_root_dir=work, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    start = time.perf_counter()
    engine.fit(model=model, datamodule=datamodule)
    results = engine.test(model=model, datamodule=datamodule, verbose=False)[0]
    seconds = time.perf_counter() - start
    loaders = other_loaders(out, csv_out.resolve())
    scores = {k: round(float(v), 4) for k, v in results.items()}
    report = {"model": args.model, "backbone": "resnet18, random weights", "image_size": list(size), **scores,
              "train_images": len(datamodule.train_data), "test_images": len(datamodule.test_data),
              "seconds": round(seconds, 1), "other_datamodules": loaders,
              "anomalib": __import__("anomalib").__version__}  # fmt: skip
    write_json_atomic(out.parent / f"{out.name}-anomalib.json", report)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
