"""Checkpoint folders: model.safetensors + config.json + preprocess.json + trainer_state.pt.

    RUNDIR/checkpoints/epoch-0005/   kept because --save-epochs / --save-every asked for it
    RUNDIR/checkpoints/best/         best validation accuracy so far (ties: lower validation loss)
    RUNDIR/checkpoints/last/         the latest epoch (what --resume continues from)

No pickle anywhere: weights are safetensors, trainer_state.pt holds only tensors, numbers, strings,
lists and dicts (torch.load(weights_only=True)). A folder is written under a temporary name and renamed
into place, so a kill never leaves a half-written checkpoint behind a valid name.

API for the attention tools:
    list_checkpoints(run_dir) -> [(epoch, path)]      numbered checkpoints, oldest first
    load_checkpoint(path) -> (model, info)            model in eval mode; info = preprocess.json + epoch
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from .models import model_config_dict, model_from_config

EPOCH_DIR = re.compile(r"^epoch-(\d{4,})$")


def checkpoint_root(run_dir) -> Path:
    return Path(run_dir) / "checkpoints"


def epoch_dir_name(epoch: int) -> str:
    return f"epoch-{epoch:04d}"


def save_checkpoint(path, model, info: dict, trainer_state: dict | None = None) -> Path:
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    (tmp / "config.json").write_text(json.dumps(model_config_dict(model), indent=2, default=str) + "\n")
    (tmp / "preprocess.json").write_text(json.dumps(info, indent=2) + "\n")
    if trainer_state is not None:
        torch.save(trainer_state, tmp / "trainer_state.pt")
    old = path.with_name(f".{path.name}.old{os.getpid()}")
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    if old.exists():
        shutil.rmtree(old)
    return path


def copy_checkpoint(src, dst) -> Path:
    src, dst = Path(src), Path(dst)
    tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(src, tmp)
    old = dst.with_name(f".{dst.name}.old{os.getpid()}")
    if dst.exists():
        os.replace(dst, old)
    os.replace(tmp, dst)
    if old.exists():
        shutil.rmtree(old)
    return dst


def list_checkpoints(run_dir) -> list[tuple[int, Path]]:
    root = checkpoint_root(run_dir)
    found = []
    if root.is_dir():
        for child in root.iterdir():
            m = EPOCH_DIR.match(child.name)
            if m and (child / "model.safetensors").is_file():
                found.append((int(m.group(1)), child))
    return sorted(found)


def read_info(path) -> dict:
    return json.loads((Path(path) / "preprocess.json").read_text())


def load_checkpoint(path, device: str = "cpu"):
    """(model in eval mode, info dict: labels, label_field, input_mode, reference, image_size, normalisation,
    soart3, arch, epoch, ...)."""
    from safetensors.torch import load_file

    path = Path(path)
    config = json.loads((path / "config.json").read_text())
    info = read_info(path)
    model = model_from_config(config)
    if not hasattr(model, "config"):
        model.pinscope_config = config
    model.load_state_dict(load_file(str(path / "model.safetensors"), device=device))
    model.to(device).eval()
    return model, info


def load_trainer_state(path) -> dict:
    import torch

    return torch.load(Path(path) / "trainer_state.pt", weights_only=True, map_location="cpu")
