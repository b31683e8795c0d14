"""`export --onnx`: a checkpoint as model.onnx (dynamic batch axis), checked against torch with onnxruntime.

    python -m pinscope_trainer.cli export --checkpoint runs/default/checkpoints/best --onnx
    python -m pinscope_trainer.cli predict --checkpoint runs/default/checkpoints/best --backend onnx IMAGES...

The graph takes `pixel_values` (N, C, H, W) float32, normalised as preprocess.json says, and returns
`logits` (N, classes) and, for a ViT, `cls_attention` (N, heads, patches): the last layer's CLS row
that predict reads the defective pin from (inference.logits_and_cls_attention). It is written under a
temporary name and moved into place only after onnxruntime reproduces torch's fp32 logits on the
checkpoint's test split within --tolerance (default 1e-4), so a model.onnx that exists has passed.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from pinscope_schema import temp_path_for

from .checkpoints import load_checkpoint
from .data import PinDataset, load_split
from .errors import UsageError
from .inference import OnnxPredictor, logits_and_cls_attention
from .models import forward_logits, is_vit
from .options import Options, check_output_folder, option

EXIT_PARITY_FAILED = 1


@dataclass(frozen=True)
class ExportOptions(Options):
    """`export`: which checkpoint, which format, how the export is checked."""

    checkpoint: str = option(help="checkpoint folder, e.g. runs/default/checkpoints/best", required=True)
    onnx: bool = option(False, "write model.onnx (the one format so far)")
    out: str | None = option(None, "the .onnx file (default: CHECKPOINT/model.onnx, where predict looks)")
    data: str | None = option(None, "dataset whose split checks the export (default: the checkpoint's)")
    split: str = option("test", "split that checks the export", choices=("test", "validation", "train"))
    limit: int = option(0, "check on the first N images only (0 = all)", at_least=0)
    tolerance: float = option(1e-4, "largest |logit difference| onnxruntime may show against torch fp32", above=0)
    opset: int = option(18, "ONNX opset", at_least=18)

    def check(self) -> None:
        if not self.onnx:
            raise UsageError("--onnx", "choose the format to export: --onnx")
        if not str(self.checkpoint).strip():
            raise UsageError("--checkpoint", "must name a checkpoint folder, got ''")
        if self.out is not None:
            if not str(self.out).endswith(".onnx"):
                raise UsageError("--out", f"must be a .onnx file, got {self.out!r}")
            check_output_folder("--out", Path(self.out).parent)


def onnx_graph(model):
    """What the exported graph computes, as a module torch.export can trace (torch is imported late)."""
    import torch

    class Graph(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.vit = is_vit(inner)

        def forward(self, pixel_values):
            if self.vit:
                return logits_and_cls_attention(self.inner, pixel_values)
            return forward_logits(self.inner, pixel_values)

    return Graph(model).eval()


def export(opts: ExportOptions) -> int:
    folder = Path(opts.checkpoint)
    model, info = load_checkpoint(folder)
    model.float()
    out = Path(opts.out) if opts.out else folder / "model.onnx"
    inputs, source = check_inputs(opts, info)
    tmp = temp_path_for(out)
    try:
        write_onnx(onnx_graph(model), inputs[:2], tmp, opts.opset, is_vit(model))
        worst = parity(model, tmp, inputs)
        verdict = "ok" if worst <= opts.tolerance else "FAILED"
        print(
            f"export: {out}: max |logit difference| onnxruntime vs torch fp32 {worst:.2e} over {len(inputs)} "
            f"{source} (limit {opts.tolerance:g}): {verdict}",
            flush=True,
        )
        if worst > opts.tolerance:
            return EXIT_PARITY_FAILED
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return 0


def check_inputs(opts: ExportOptions, info: dict):
    """(normalised inputs that check the export, what they are): the split of --data or of the
    checkpoint's own dataset, else random inputs of the right shape (said so)."""
    import torch

    dataset = opts.data or info.get("dataset")
    if dataset and (Path(dataset) / "dataset.json").is_file():
        if not PinDataset(dataset).rows(opts.split, required=False):
            raise UsageError("--split", f"{dataset} has no {opts.split} images to check the export on")
        data = load_split(dataset, opts.split, info)
        n = opts.limit or len(data.inputs)
        return data.inputs[:n], f"{opts.split} images of {dataset}"
    if opts.data:
        raise UsageError("--data", f"{opts.data} is not a PinScope dataset (no dataset.json)")
    generator = torch.Generator().manual_seed(0)
    shape = (opts.limit or 64, info["channels"], *info["image_size"])
    return torch.randn(shape, generator=generator), "random inputs (the checkpoint's dataset is not here)"


def write_onnx(graph, example, path: Path, opset: int, vit: bool) -> None:
    import torch

    names = ["logits", "cls_attention"] if vit else ["logits"]
    batch = torch.export.Dim("batch", min=1)
    chatter = io.StringIO()  # the exporter prints its progress; a failure raises anyway
    with contextlib.redirect_stdout(chatter), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            (example.float(),),
            str(path),
            input_names=["pixel_values"],
            output_names=names,
            dynamic_shapes=({0: batch},),
            opset_version=opset,
            dynamo=True,
            external_data=False,
        )


def parity(model, path: Path, inputs, batch_size: int = 32) -> float:
    """Largest |logit difference| between torch (fp32) and onnxruntime over `inputs`."""
    import torch

    session = OnnxPredictor(path)
    worst = 0.0
    with torch.inference_mode():
        for start in range(0, len(inputs), batch_size):
            x = inputs[start : start + batch_size].float()
            expected = forward_logits(model, x).float().numpy()
            got, _ = session(x)
            worst = max(worst, float(abs(got - expected).max()))
    return worst
