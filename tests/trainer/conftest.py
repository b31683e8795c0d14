"""Trainer tier: synthetic datasets written through the contract's DatasetWriter, tiny models, few steps."""

from __future__ import annotations

import os
import shutil

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory):
    """48 train / 16 validation / 16 test renders of 32x96 px, 4 references (shared, read-only)."""
    from pinscope_trainer.synthetic import make_dataset

    return make_dataset(tmp_path_factory.mktemp("data") / "ds", train=48, validation=16, test=16, reference=4)


@pytest.fixture
def dataset_copy(synthetic_dataset, tmp_path):
    """A private copy to damage."""
    target = tmp_path / "ds"
    shutil.copytree(synthetic_dataset, target)
    return target


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


def micro_args(data, out, cache, *extra):
    """CLI args for a micro ViT run of a few steps."""
    return [
        "train",
        "--data",
        str(data),
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
        "--preset",
        "micro",
        "--patch",
        "8",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--threads",
        "1",
        "--quiet",
        *extra,
    ]


@pytest.fixture(scope="session")
def tiny_args():
    return micro_args
