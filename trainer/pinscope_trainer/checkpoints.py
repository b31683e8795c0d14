"""Checkpoint folders: model.safetensors + config.json + preprocess.json + trainer_state.pt.

    RUNDIR/checkpoints/epoch-0005/   kept because --save-epochs / --save-every asked for it
    RUNDIR/checkpoints/best/         lowest validation loss so far (ties: higher accuracy; or --best-by accuracy)
    RUNDIR/checkpoints/last/         the latest epoch (what --resume continues from)

No pickle anywhere: weights are safetensors, trainer_state.pt holds only tensors, numbers, strings,
lists and dicts (torch.load(weights_only=True)). A folder is written under a temporary name and renamed
into place (pinscope_schema.atomic_dir), so a kill never leaves a half-written checkpoint behind a
valid name. Every checkpoint is portable: config.json (HF ViTConfig with id2label/label2id) +
model.safetensors load with `ViTForImageClassification.from_pretrained(folder)`, and preprocess.json
+ reference.safetensors (portable.py) hold all that `predict` needs to build the model's input.

API for the attention tools:
    list_checkpoints(run_dir) -> [(epoch, path)]      numbered checkpoints, oldest first
    load_checkpoint(path) -> (model, info)            model in eval mode; info = preprocess.json + epoch
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from pinscope_schema import atomic_dir

from .errors import UsageError
from .models import model_config_dict, model_from_config

EPOCH_DIR = re.compile(r"^epoch-(\d{4,})$")


def checkpoint_root(run_dir) -> Path:
    return Path(run_dir) / "checkpoints"


def epoch_dir_name(epoch: int) -> str:
    return f"epoch-{epoch:04d}"


def save_checkpoint(path, model, info: dict, trainer_state: dict | None = None, reference=None) -> Path:
    """Write a checkpoint folder whole (pinscope_schema.atomic_dir): weights, config, preprocess.json,
    the portable reference (portable.PortableReference) and, for resuming, trainer_state.pt."""
    import torch
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_dir(path) as tmp:
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(model_config_dict(model), indent=2, default=str) + "\n")
        (tmp / "preprocess.json").write_text(json.dumps(info, indent=2) + "\n")
        if reference is not None:
            reference.save(tmp)
        if trainer_state is not None:
            torch.save(trainer_state, tmp / "trainer_state.pt")
    return Path(path)


def copy_checkpoint(src, dst) -> Path:
    with atomic_dir(dst) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
    return Path(dst)


def list_checkpoints(run_dir) -> list[tuple[int, Path]]:
    root = checkpoint_root(run_dir)
    found = []
    if root.is_dir():
        for child in root.iterdir():
            m = EPOCH_DIR.match(child.name)
            if m and (child / "model.safetensors").is_file():
                found.append((int(m.group(1)), child))
    return sorted(found)


def read_info(path, field: str = "--checkpoint") -> dict:
    """preprocess.json of a checkpoint; a missing or damaged one is UsageError(field, ...)."""
    file = Path(path) / "preprocess.json"
    try:
        info = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise UsageError(field, f"cannot read {file} ({err})") from None
    if not isinstance(info, dict):
        raise UsageError(field, f"{file} is not a JSON object")
    return info


def load_checkpoint(path, device: str = "cpu", field: str = "--checkpoint"):
    """(model in eval mode, info dict: labels, label_field, input_mode, reference, image_size, normalisation,
    soart3, arch, epoch, ...). A missing, truncated or foreign checkpoint is UsageError(field, ...)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    info = read_info(path, field)
    try:
        config = json.loads((path / "config.json").read_text())
        model = model_from_config(config)
        if not hasattr(model, "config"):
            model.pinscope_config = config
        model.load_state_dict(load_file(str(path / "model.safetensors"), device=device))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as err:
        raise UsageError(field, f"cannot load the checkpoint in {path} ({first_line(err)})") from None
    model.to(device).eval()
    return model, info


def check_weights(path, field: str) -> None:
    """Refuse a truncated or foreign model.safetensors from its header alone (no tensor is read):
    for commands that load the weights only after they have started writing."""
    from safetensors import SafetensorError, safe_open

    file = Path(path) / "model.safetensors"
    try:
        with safe_open(str(file), framework="np") as weights:
            weights.keys()
    except (OSError, SafetensorError) as err:
        raise UsageError(field, f"cannot load the checkpoint in {path} ({first_line(err)})") from None


def first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def load_trainer_state(path) -> dict:
    import torch

    return torch.load(Path(path) / "trainer_state.pt", weights_only=True, map_location="cpu")


def load_resume_point(path, device, field: str = "--resume") -> tuple[dict, dict]:
    """(weights, trainer state) of checkpoints/last for --resume; a truncated or foreign file is
    UsageError(field, ...) -- read whole before the run writes anything."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    try:
        weights = load_file(str(path / "model.safetensors"), device=str(device))
        state = load_trainer_state(path)
        missing = {"epoch", "optimizer", "scheduler", "history", "best"} - set(state)
    except (OSError, ValueError, RuntimeError, EOFError, SafetensorError) as err:
        raise UsageError(field, f"cannot read {path} to continue from ({first_line(err)})") from None
    if missing:
        raise UsageError(field, f"{path}/trainer_state.pt lacks {', '.join(sorted(missing))}")
    return weights, state


def read_run_config(run_dir: Path, field: str) -> dict:
    """RUN/run_config.json; a missing or damaged one is UsageError(field, ...)."""
    file = Path(run_dir) / "run_config.json"
    if not file.is_file():
        raise UsageError(field, f"{run_dir} is not a run folder (no run_config.json)")
    try:
        config = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise UsageError(field, f"{file} is not valid JSON ({err})") from None
    if not isinstance(config, dict) or not isinstance(config.get("dataset"), dict) or "args" not in config:
        raise UsageError(field, f"{file} is not a run config (needs 'args' and 'dataset')")
    return config
