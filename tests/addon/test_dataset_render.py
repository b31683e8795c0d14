"""Blender tier: rendering a dataset end to end (bpy module, in process): valid, reproducible, resumable."""

import os
import subprocess
from pathlib import Path

import pytest

from blender_addon.contract import schema
from blender_addon.dataset.executors import Inline
from blender_addon.dataset.pipeline import render
from blender_addon.scene.build import clear_scene

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def _leave_no_pinscope_scene():
    """Other test modules share this Blender process: remove what this module built."""
    yield
    clear_scene()


TINY = REPO / "specs" / "tiny.json"


def rows_of(root):
    return {
        part: (Path(root) / part / "metadata.jsonl").read_text().splitlines()
        for part in (*schema.SPLITS, schema.REFERENCE)
    }


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    spec = schema.load_spec(TINY)
    root = tmp_path_factory.mktemp("tiny") / "data"
    summary = render(spec, root, Inline(), quiet=True)
    return spec, root, summary


def test_dataset_is_valid_and_complete(rendered):
    spec, root, summary = rendered
    assert schema.validate_dataset(root) == []
    total = sum(spec.dataset.split_sizes().values()) + spec.dataset.reference
    assert summary.rendered == total and summary.remaining == 0 and not summary.stopped
    manifest = schema.read_manifest(root)
    assert manifest.generator.blender_version and manifest.spec_hash == spec.fingerprint()
    stats = manifest.stats
    assert stats["render"]["blender_version"] == manifest.generator.blender_version
    assert stats["render"]["engine"] == "WORKBENCH" and stats["last_run"]["samples"] == total
    assert stats["last_run"]["render_calls"] >= total and stats["last_run"]["render_s"] > 0
    for row in schema.read_rows(root / "train" / "metadata.jsonl"):
        assert len(row.pin_boxes) == 27 and row.twin_file and row.mask_file
        assert (row.defect_box is None) == (row.mode == "ok")
        assert set(row.sha256) == {"image", "twin", "mask"}


def test_same_spec_twice_gives_identical_rows_and_masks(rendered, tmp_path):
    spec, root, _ = rendered
    again = tmp_path / "again"
    render(spec, again, Inline(), quiet=True)
    assert rows_of(again) == rows_of(root)  # rows include the image/twin/mask hashes
    masks = sorted((root / "train" / "masks").iterdir())
    assert masks and all(schema.file_digest(m) == schema.file_digest(again / "train" / "masks" / m.name) for m in masks)


def test_interrupted_run_resumes_to_the_same_dataset(rendered, tmp_path):
    spec, root, _ = rendered
    part = tmp_path / "part"
    first = render(spec, part, Inline(), quiet=True, limit=4)
    assert first.rendered == 4 and first.remaining > 0
    calls = []
    stopped = render(spec, part, Inline(), quiet=True, should_stop=lambda: len(calls) >= 2, on_progress=calls.append)
    assert stopped.stopped and stopped.rendered == 2
    assert [(e["done"], e["already"]) for e in calls] == [(1, 4), (2, 4)] and calls[0]["split"] == "train"
    # A torn last line (killed mid-write) and a leftover temporary file are repaired on resume.
    with open(part / "train" / "metadata.jsonl", "a") as f:
        f.write('{"file_name": "images/0000')
    (part / "train" / "images" / ".000009.tmp1.png").write_bytes(b"half")
    rest = render(spec, part, Inline(), quiet=True)
    assert rest.remaining == 0 and rest.repaired
    assert rows_of(part) == rows_of(root)
    assert schema.validate_dataset(part) == []


def test_loads_with_hugging_face_datasets(rendered):
    _spec, root, _ = rendered
    python = REPO / ".venvs" / "trainer" / "bin" / "python"
    if not python.exists():
        pytest.skip("the trainer environment (with HF datasets) is not installed")
    code = (
        "import datasets,sys; d=datasets.load_dataset('imagefolder', data_dir=sys.argv[1]); "
        "print(d['train'].num_rows, d['train'][0]['image'].size, d['train'][0]['label'] if 'label' in "
        "d['train'].features else '')"
    )
    env = dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", HF_HOME=str(root.parent / "hf"))
    out = subprocess.run([str(python), "-c", code, str(root)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.split()[0]) == 6  # the train split's rows


def test_every_view_renders_each_part_from_every_camera(tmp_path):
    data = schema.load_spec(TINY).to_dict()
    data["dataset"] = {"train": 6, "validation": 0, "test": 0, "reference": 3, "every_view": True}
    spec = schema.GenerationSpec.from_dict(data)
    root = tmp_path / "data"
    render(spec, root, Inline(), quiet=True)
    assert schema.validate_dataset(root) == []
    rows = list(schema.read_rows(root / "train" / "metadata.jsonl"))
    parts = {}
    for row in rows:
        parts.setdefault(row.part, []).append(row)
    assert sorted(parts) == [0, 1]
    for images in parts.values():
        assert [r.view for r in images] == spec.camera.views
        assert len({(r.label, tuple(r.pin or ()), r.dz, r.tilt_x) for r in images}) == 1  # one defect
        assert len({r.sha256["image"] for r in images}) == 3 and len({r.twin_file for r in images}) == 3
        assert len({tuple(map(tuple, r.world_to_camera)) for r in images}) == 3  # three cameras
