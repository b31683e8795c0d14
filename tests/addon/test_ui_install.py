"""Install the built zip as an extension into a clean user folder and drive every operator (real bpy).

bpy is one Blender per process, so the whole session runs once in a fresh interpreter
(ui_install_child.py) with BLENDER_USER_RESOURCES in a temporary folder; each test below checks one
part of what it observed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tools"))
import build_addon  # noqa: E402

MODULE = "bl_ext.user_default.pinscope"
GUARD = """import os, sys
hidden = {{os.path.realpath(p) for p in {hidden!r}}}
sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.getcwd()) not in hidden]
"""


@pytest.fixture(scope="module")
def facts(tmp_path_factory):
    work = tmp_path_factory.mktemp("install")
    zip_path = build_addon.build(work / "dist")
    # The Blender env's .pth puts the repository on sys.path; a sitecustomize takes it off again (in the
    # child and in the renders it starts), so only the installed zip's own code can be imported.
    guard = work / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD.format(hidden=[str(REPO), str(REPO / "shared")]))
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(work / "user"), PYTHONPATH=str(guard))
    result = subprocess.run(
        [sys.executable, str(HERE / "ui_install_child.py"), str(zip_path), str(work), str(work / "facts.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    observed = json.loads((work / "facts.json").read_text()) if (work / "facts.json").exists() else {}
    observed["_returncode"], observed["_stderr"] = result.returncode, result.stderr[-3000:]
    observed["_work"] = str(work)
    return observed


def _ok(facts):
    assert facts["_returncode"] == 0, facts["_stderr"]


def test_zip_installs_as_an_extension_with_its_vendored_contract(facts):
    assert facts.get("install_result") == ["FINISHED"], facts["_stderr"]
    assert facts["repo_importable"] == {"blender_addon": False, "pinscope_schema": False}  # the guard works
    assert facts["enabled"]
    assert facts["package_file"].startswith(facts["_work"])  # the installed copy, not the repo
    assert facts["schema_module"] == f"{MODULE}._vendor.pinscope_schema"


def test_save_and_load_spec_round_trip_and_reject_bad_files(facts):
    assert facts["load_spec"] == ["FINISHED"] and facts["save_spec"] == ["FINISHED"]
    assert facts["spec_round_trip_equal"]
    assert facts["bad_spec_error"].endswith("spec.grid.rows: must be an integer 1..64, got 0")
    assert facts["rows_after_bad_load"] == 9  # a rejected file leaves the panel as it was


def test_build_grid_makes_every_pin_with_its_shape(facts):
    assert facts["build_grid"] == ["FINISHED"] and facts["build_grid_undoable"]
    assert facts["pin_count"] == facts["expected_pin_count"] == 27
    assert facts["pin_shapes"] == facts["expected_shapes"]
    assert facts["cameras"] == ["PinScope Camera centre", "PinScope Camera left", "PinScope Camera right"]
    assert facts["pin_count_after_rebuild"] == 27
    assert facts["scene_shown"] == "PinScope"


def test_preview_defect_moves_exactly_the_chosen_pin_and_reset_restores_it(facts):
    assert facts["preview_defect"] == ["FINISHED"]
    assert facts["preview_mode"] != "ok"
    assert facts["pins_moved"] == [facts["preview_pin_index"]]
    assert facts["preview_qeu_code"] in facts["preview_label"]
    assert facts["reset_defect"] == ["FINISHED"]
    assert facts["pins_moved_after_reset"] == [] and facts["label_after_reset"] == ""


def test_render_preview_fills_the_sample_and_twin_images(facts):
    assert facts["render_preview"] == ["FINISHED"], facts["_stderr"]
    assert facts["preview_images"] == {"PinScope Preview": [64, 32], "PinScope Twin": [64, 32]}
    assert facts["preview_differs_from_twin"]


def test_render_dataset_writes_a_valid_dataset(facts):
    assert facts.get("render_dataset") == ["FINISHED"], facts["_stderr"]
    assert facts["dataset_problems"] == []
    counts = facts["dataset_counts"]  # split -> label -> samples
    assert sum(counts["train"].values()) == 4 and sum(counts["test"].values()) == 2
    assert facts["dataset_spec_hash_matches"]
    assert facts["workers_used"] == 2  # from the preferences: the CLI sharded, rendered and merged


@pytest.mark.skipif(shutil.which("blender") is None, reason="no blender binary on PATH (CI installs one)")
def test_render_dataset_through_the_blender_binary_named_in_preferences(facts):
    assert facts.get("binary_render_dataset") == ["FINISHED"], facts["_stderr"]
    assert facts["binary_dataset_problems"] == []
    assert facts["progress"] == pytest.approx(1.0) and "(done)" in facts["progress_text"]
    assert not facts["running_after"]
    assert not facts["cancel_poll_idle"] and not facts["open_output_poll_before"] and facts["open_output_poll_after"]


def test_disable_leaves_nothing_registered(facts):
    _ok(facts)
    assert not facts["enabled_after_disable"]
    assert facts["leftover_types"] == []
    assert facts["leftover_ops"] == []
    assert facts["leftover_scene_props"] == []
    assert facts["statusbar_draw_while_enabled"] and facts["leftover_statusbar_draw"] == []
    assert facts["leftover_handlers"] == [] and facts["leftover_timers"] == []
    assert not facts["leftover_job"]
    assert facts["groups_registered_while_enabled"] >= 10 and facts["generated_groups_registered"] == []
    assert facts["reenabled"]


def test_the_same_zip_installs_as_a_legacy_add_on(facts):
    _ok(facts)
    assert facts["legacy_install"] == ["FINISHED"] and facts["legacy_enabled"]
    assert facts["legacy_schema_module"] == "pinscope._vendor.pinscope_schema"
    assert facts["legacy_build_grid"] == ["FINISHED"] and facts["legacy_pin_count"] == 27
    assert facts["legacy_leftover_types"] == []
