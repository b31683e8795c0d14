"""Twin sharing (dataset.twin_share = K) and region rendering inside whole dataset runs.

K consecutive samples share one shot (view, camera/light jitter, colour, Cycles seed) and one twin
file, rendered once. With render.region every defective image is its region render over that twin;
compared with the same spec rendered in full it must reach >= 40 dB, with identical rows otherwise.
"""

from __future__ import annotations

import json

import numpy as np
from pinscope_schema import GenerationSpec, read_rows, validate_dataset
from scale_helpers import cli, dataset_content, write_spec

from blender_addon.core.defects import every_mode_classes
from blender_addon.core.png import read_png
from blender_addon.core.sampling import plan_sample
from blender_addon.dataset.executors import Inline
from blender_addon.dataset.pipeline import render
from blender_addon.scene.region import PSNR_TARGET_DB, psnr


def shared_spec(share=4, region=False, engine="CYCLES", train=10) -> dict:
    return {
        "defects": {"classes": every_mode_classes()},
        "render": {"engine": engine, "width": 64, "height": 32, "samples": 4, "region": region},
        "dataset": {"train": train, "validation": 2, "test": 0, "reference": 1, "twin_share": share},
    }


def test_a_group_shares_its_shot_and_groups_differ():
    spec = GenerationSpec.from_dict(shared_spec(share=4))
    plans = [plan_sample(spec, "train", i) for i in range(8)]
    for group in (plans[:4], plans[4:]):
        assert len({(p.view, json.dumps(p.jitter, sort_keys=True), p.seed) for p in group}) == 1
    assert plans[0].jitter != plans[4].jitter
    assert len({(p.label, p.pin) for p in plans}) > 1  # defects still differ within a group
    single = GenerationSpec.from_dict(shared_spec(share=1))
    assert plan_sample(single, "train", 1).jitter != plan_sample(single, "train", 0).jitter


def test_shared_twins_are_rendered_once_and_resume_mid_group(tmp_path):
    spec = GenerationSpec.from_dict(shared_spec(share=4, engine="WORKBENCH"))
    whole = tmp_path / "whole"
    summary = render(spec, whole, Inline(), quiet=True)
    rows = read_rows(whole / "train" / "metadata.jsonl")
    assert {r.index: r.twin_file for r in rows} == {i: f"twins/{i - i % 4:06d}.png" for i in range(10)}
    assert sorted(p.name for p in (whole / "train" / "twins").iterdir()) == ["000000.png", "000004.png", "000008.png"]
    defective = sum(r.mode != "ok" for r in rows) + sum(
        r.mode != "ok" for r in read_rows(whole / "validation" / "metadata.jsonl")
    )
    # One render per defective image, one per group twin (3 train + 1 validation), one reference render;
    # OK images are copies of their group's twin.
    assert summary.stats["render_calls"] == defective + 4 + 1
    assert validate_dataset(whole) == []

    # Stop inside a group (after 2 samples, then after 5), resume: the finished twin is reused, and the
    # result equals the uninterrupted run.
    parts = tmp_path / "parts"
    render(spec, parts, Inline(), quiet=True, limit=2)
    twin0 = (parts / "train" / "twins" / "000000.png").stat().st_mtime_ns
    render(spec, parts, Inline(), quiet=True, limit=3)
    assert (parts / "train" / "twins" / "000000.png").stat().st_mtime_ns == twin0
    render(spec, parts, Inline(), quiet=True)
    assert dataset_content(parts) == dataset_content(whole)


def test_region_rendering_in_a_dataset_matches_full_renders(tmp_path):
    full, region = tmp_path / "full", tmp_path / "region"
    for share in (1, 4):
        render(GenerationSpec.from_dict(shared_spec(share=share)), full / str(share), Inline(), quiet=True)
        render(
            GenerationSpec.from_dict(shared_spec(share=share, region=True)), region / str(share), Inline(), quiet=True
        )
        assert validate_dataset(region / str(share)) == []
        for split in ("train", "validation"):
            a_rows = read_rows(full / str(share) / split / "metadata.jsonl")
            b_rows = read_rows(region / str(share) / split / "metadata.jsonl")
            for a, b in zip(a_rows, b_rows, strict=True):
                a_dict, b_dict = a.to_dict(), b.to_dict()
                a_hash, b_hash = a_dict.pop("sha256"), b_dict.pop("sha256")
                assert a_dict == b_dict  # same labels, jitter, boxes
                assert a_hash["mask"] == b_hash["mask"]
                twin_a = read_png(full / str(share) / split / a.twin_file)
                assert np.array_equal(twin_a, read_png(region / str(share) / split / b.twin_file))
                image_a = read_png(full / str(share) / split / a.file_name)
                image_b = read_png(region / str(share) / split / b.file_name)
                if a.mode == "ok":
                    assert np.array_equal(image_a, image_b)
                else:
                    assert psnr(image_a, image_b) >= PSNR_TARGET_DB, (share, split, a.index, a.mode)


def test_twin_sharing_through_workers_and_shards_equals_one_process(tmp_path):
    spec_path = write_spec(tmp_path / "shared.json", shared_spec(share=4, engine="WORKBENCH"))
    cli("render", "--spec", spec_path, "--out", tmp_path / "one", "--quiet")
    cli("render", "--spec", spec_path, "--out", tmp_path / "two", "--quiet", "--workers", "2")
    assert dataset_content(tmp_path / "two") == dataset_content(tmp_path / "one")
